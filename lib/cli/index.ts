#!/usr/bin/env node
// `age-transform`: the engine from the command line. A small dispatcher: each subcommand is a
// Command listed in commands() below and returns an exit code; errors are turned into one
// line on stderr and an exit code by one helper, so every subcommand behaves the same.
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as align from './align/cli-align';
import * as optimize from './cli/optimize';
import * as run from './cli/run';

/** Exit codes shared by every subcommand. */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** Something failed that is not the user's input (a crash, a missing model). */
  FAILURE: 1,
  /** Bad arguments or bad input file. */
  BAD_INPUT: 2,
  /** The input was fine but held no face. */
  NO_FACE: 3,
} as const;

/** Where a command writes (tests pass their own). */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** One subcommand. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage lines, shown by `age-transform help <name>` and on a usage error. */
  usage: string;
  /** Runs with the arguments after the command name; resolves to an exit code. */
  run(argv: string[], io: CliIO): Promise<number>;
}

/** A mistake in the command line: reported in one line with exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An error that carries its own exit code (e.g. bad input file: EXIT.BAD_INPUT). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * Parses a subcommand's arguments with node:util's parseArgs, turning its errors into
 * UsageError with parseArgs' own (already specific) message.
 * @throws {UsageError}
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    // parseArgs' unknown-option text runs on with advice about '--'; the name is what matters.
    const unknown = (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(message) : null;
    throw new UsageError(unknown ? `unknown option ${unknown[1]}` : message);
  }
}

/**
 * Reads an input file, turning the usual failures into one clear line with exit code 2.
 * @throws {CliError} EXIT.BAD_INPUT naming the file and why
 */
export async function readInputFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new CliError(`cannot read ${file}: ${why}`, EXIT.BAD_INPUT);
  }
}

/** Error codes of input problems: the user's file or value, not a failure of ours. */
const BAD_INPUT_CODES = new Set(['ENOTBUFFER', 'EEMPTY', 'EFORMAT', 'ETOOLARGE', 'ETOOSMALL', 'ECORRUPT', 'ENOENT', 'EISDIR', 'EACCES']);

/**
 * The one place errors become output: one line on stderr, no stack trace (set
 * AGE_TRANSFORM_DEBUG=1 to see it), and the exit code.
 */
export function reportError(err: unknown, io: CliIO, command?: Command): number {
  const error = err instanceof Error ? err : new Error(String(err));
  const line = error.message.split('\n')[0];
  if (process.env.AGE_TRANSFORM_DEBUG) io.stderr(`${error.stack ?? line}\n`);
  const prefix = `age-transform${command ? ` ${command.name}` : ''}`;
  if (error instanceof UsageError) {
    io.stderr(`${prefix}: ${line} (see: age-transform help${command ? ` ${command.name}` : ''})\n`);
    return EXIT.BAD_INPUT;
  }
  io.stderr(`${prefix}: ${line}\n`);
  if (error instanceof CliError) return error.exitCode;
  const code = (error as { code?: unknown }).code;
  if (error instanceof TypeError || error instanceof RangeError || (typeof code === 'string' && BAD_INPUT_CODES.has(code))) return EXIT.BAD_INPUT;
  return EXIT.FAILURE;
}

/**
 * Every subcommand, by name. Add new ones here. A function, not a constant: subcommand
 * modules import this module's helpers, so their exports are only complete once loading ends.
 */
export function commands(): Record<string, Command> {
  return Object.fromEntries([align.alignCommand, run.runCommand, optimize.optimizeCommand].map((c) => [c.name, c]));
}

function help(): string {
  const names = Object.values(commands());
  const width = Math.max(...names.map((c) => c.name.length));
  return [
    'usage: age-transform <command> [options]',
    '',
    'commands:',
    ...names.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  show a command's usage: age-transform help <command>`,
    '',
    'exit codes: 0 done, 1 failure, 2 bad arguments or input, 3 no face found',
    '',
  ].join('\n');
}

/**
 * Runs the command line.
 * @param argv arguments after the program name
 * @returns the exit code
 * @example process.exitCode = await main(['align', 'me.jpg', '--out', 'face.png']);
 */
export async function main(argv: string[], io: CliIO = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout(help());
    return name === undefined ? EXIT.BAD_INPUT : EXIT.OK;
  }
  if (name === 'help') {
    const command = rest[0] === undefined ? undefined : commands()[rest[0]];
    io.stdout(command ? `usage: ${command.usage}\n` : help());
    return EXIT.OK;
  }
  const command = commands()[name];
  if (!command) return reportError(new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands()).join(', ')})`), io);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`usage: ${command.usage}\n`);
    return EXIT.OK;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    return reportError(err, io, command);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(err, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
    },
  );
}
