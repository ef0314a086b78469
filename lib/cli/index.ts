#!/usr/bin/env node
// `age-transform`: the engine from the command line. A small dispatcher: each subcommand is a
// Command in its own file, listed in COMMANDS below, and returns an exit code; errors become
// one line on stderr and an exit code in one place (command.ts), so every subcommand behaves
// the same.
import { alignCommand } from './align';
import { EXIT, PROCESS_IO, reportError, UsageError, type CliIO, type Command } from './command';
import { exportCommand } from './export';
import { optimizeCommand } from './optimize';
import { runCommand } from './run';

export { EXIT, type CliIO, type Command } from './command';

/** Every subcommand, in the order help lists them. Add new ones here. */
const COMMANDS: readonly Command[] = [alignCommand, runCommand, optimizeCommand, exportCommand];

/** Every subcommand, by name. */
export function commands(): Record<string, Command> {
  return Object.fromEntries(COMMANDS.map((c) => [c.name, c]));
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: age-transform <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
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
export async function main(argv: string[], io: CliIO = PROCESS_IO): Promise<number> {
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
      process.exitCode = reportError(err, PROCESS_IO);
    },
  );
}
