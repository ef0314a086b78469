/** Oldest age SAM is trained for; ages are years in [0, MAX_AGE]. */
export const MAX_AGE = 100;
/** Most ages one message may ask for (a range string can expand to many). */
export const MAX_AGES = 101;

const RANGE = /^\s*(-?[\d.]+)\s*:\s*(-?[\d.]+)\s*(?::\s*(-?[\d.]+)\s*)?$/;

/**
 * Reads target ages: a number, a list of numbers, a comma list `"20,40"` or a range `"0:100:10"` (start:end:step, end included).
 * @param value what the user gave (node setting or msg.targetAge)
 * @returns ages in years, in the order given
 * @throws {TypeError|RangeError} naming the bad value
 * @example parseAges('0:100:25') // [0, 25, 50, 75, 100]
 */
export function parseAges(value: unknown): number[] {
  let ages: unknown[];
  if (typeof value === 'number') ages = [value];
  else if (Array.isArray(value)) ages = value;
  else if (typeof value === 'string' && RANGE.test(value)) ages = expandRange(value);
  else if (typeof value === 'string' && value.trim() !== '') ages = value.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  else throw new TypeError(`Expected a target age as a number, a list or a range "start:end:step" but received ${describe(value)}`);
  if (ages.length === 0) throw new RangeError('Expected at least one target age but received an empty list');
  if (ages.length > MAX_AGES) throw new RangeError(`Expected at most ${MAX_AGES} target ages but received ${ages.length}`);
  for (const age of ages) {
    if (typeof age !== 'number' || !Number.isFinite(age) || age < 0 || age > MAX_AGE) {
      throw new RangeError(`Expected target ages between 0 and ${MAX_AGE} years but received ${describe(age)}`);
    }
  }
  return ages as number[];
}

function expandRange(text: string): number[] {
  const [, a, b, s] = RANGE.exec(text) as RegExpExecArray;
  const start = Number(a);
  const end = Number(b);
  const step = s === undefined ? 10 : Number(s);
  if (!(step > 0)) throw new RangeError(`Expected a positive step in the age range "${text}"`);
  if (end < start) throw new RangeError(`Expected the age range "${text}" to end at or after its start`);
  const count = Math.floor((end - start) / step + 1e-9) + 1;
  if (count > MAX_AGES) throw new RangeError(`Expected at most ${MAX_AGES} target ages but the range "${text}" gives ${count}`);
  return Array.from({ length: count }, (_, i) => Math.round((start + i * step) * 1e6) / 1e6);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (typeof value === 'number') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}
