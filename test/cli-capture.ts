// How the CLI tests run age-transform and collect its exit code, stdout and stderr: in this
// process (the dispatcher or one subcommand, with a CliIO that records), or as the installed
// bin in a child process.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../lib/cli';
import type { CliIO } from '../lib/cli/command';
import { ROOT } from './paths';

/** What one run of the CLI did. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The compiled bin, as package.json names it. */
export const BIN = join(ROOT, 'dist', 'lib', 'cli', 'index.js');

/** Runs `run` with a CliIO that records what it writes. */
export async function capture(run: (io: CliIO) => Promise<number>): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await run({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

/** `age-transform ARGV` in this process, through the dispatcher. */
export function cli(argv: string[]): Promise<CliRun> {
  return capture((io) => main(argv, io));
}

/**
 * `age-transform ARGV` as a child process of the compiled bin.
 * @param options env for the child; `asScript` runs the file itself (its #! line and mode)
 *   rather than through this node
 */
export function bin(argv: string[], options: { env?: NodeJS.ProcessEnv; asScript?: boolean; timeout?: number } = {}): Promise<CliRun> {
  const [file, args] = options.asScript ? [BIN, argv] : [process.execPath, [BIN, ...argv]];
  return new Promise((resolve) => {
    execFile(file, args, { timeout: options.timeout ?? 60_000, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}
