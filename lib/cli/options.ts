// Reading a subcommand's command line: parseArgs with one-line errors, the input file, and the
// option checks every subcommand shares, so one option is read and reported the same way
// everywhere: `--NAME must be EXPECTED (received "VALUE")`.
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PRECISION_CHOICES, type PrecisionChoice } from '../contracts/contracts';
import { MAX_THREADS, PROVIDER_CHOICES, RUNTIME_DEFAULTS, type ProviderChoice } from '../runtime/runtime';
import { CliError, EXIT, UsageError } from './command';

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
 * The one IMAGE a command reads.
 * @throws {UsageError} when there is none or more than one
 */
export function oneImage(positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new UsageError(`expected one IMAGE but received ${positionals.length}`);
  return positionals[0]!;
}

/** A required option's value. @throws {UsageError} `--NAME is required` */
export function required(name: string, value: string | undefined): string {
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
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

/** "a or b", "a, b or c". */
export function listOr(items: readonly unknown[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${String(items[items.length - 1])}`;
}

function refuse(name: string, expected: string, value: string): never {
  throw new UsageError(`--${name} must be ${expected} (received "${value}")`);
}

/**
 * A number option: undefined when absent.
 * @param expected what `check` accepts, for the message: "a number from 0 to 1"
 * @throws {UsageError} `--NAME must be EXPECTED (received "VALUE")`
 */
export function numberOption(name: string, value: string | undefined, check: (n: number) => boolean, expected: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !check(n)) refuse(name, expected, value);
  return n;
}

/** An integer option (the engine checks its range with its own exact message). */
export function integerOption(name: string, value: string | undefined): number | undefined {
  return numberOption(name, value, Number.isInteger, 'an integer');
}

/** A number option that takes one of a few values, e.g. an image side. */
export function numberChoiceOption(name: string, value: string | undefined, choices: readonly number[]): number | undefined {
  return numberOption(name, value, (n) => choices.includes(n), listOr([...choices].sort((a, b) => a - b)));
}

/** A word option that takes one of a few values. */
export function choiceOption<T extends string>(name: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) refuse(name, listOr(choices), value);
  return value as T;
}

/** `--provider`: the runtime's execution provider, its default when absent. */
export function providerOption(value: string | undefined): ProviderChoice {
  return choiceOption('provider', value, PROVIDER_CHOICES) ?? RUNTIME_DEFAULTS.provider;
}

/** `--precision`: which model variants the runtime opens (as the age-runtime node's setting), its default when absent. */
export function precisionOption(value: string | undefined): PrecisionChoice {
  return choiceOption('precision', value, PRECISION_CHOICES) ?? RUNTIME_DEFAULTS.precision;
}

/** `--threads`: onnxruntime's intra-op threads; undefined leaves the runtime's default. */
export function threadsOption(value: string | undefined): number | undefined {
  return numberOption('threads', value, (n) => Number.isInteger(n) && n >= 0 && n <= MAX_THREADS, `an integer from 0 to ${MAX_THREADS}`);
}
