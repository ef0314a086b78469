// What every `age-transform` subcommand shares: the exit codes, the command shape, the two
// error classes and the one place an error becomes a line on stderr and an exit code.

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

/** The process's own stdout and stderr. */
export const PROCESS_IO: CliIO = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

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
