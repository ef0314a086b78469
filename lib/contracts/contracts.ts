import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Version of the manifest format and contract table this code reads and writes. */
export const CONTRACT_VERSION = 1;

/** A dimension: a fixed size, `'N'` for the batch, or `'R'` for a resolution the manifest fixes. */
export type Dim = number | 'N' | 'R';

/** One input or output of a contract. */
export interface TensorSpec {
  type: 'float32';
  shape: Dim[];
  range?: [number, number];
}

/** The fixed signature of one model role (DESIGN.md, "Model contracts"). */
export interface Contract {
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
}

/** Every role a model folder can hold. */
export type Role = 'inversion' | 'aging' | 'generator' | 'mapping' | 'age' | 'identity';

const f32 = (shape: Dim[], range?: [number, number]): TensorSpec => (range ? { type: 'float32', shape, range } : { type: 'float32', shape });

/** The contract table of DESIGN.md. */
export const CONTRACTS: Readonly<Record<Role, Contract>> = {
  inversion: { inputs: { image: f32(['N', 3, 256, 256], [-1, 1]) }, outputs: { latent: f32(['N', 18, 512]) } },
  aging: { inputs: { image: f32(['N', 3, 256, 256], [-1, 1]), age: f32(['N'], [0, 100]) }, outputs: { delta: f32(['N', 18, 512]) } },
  generator: { inputs: { latent: f32(['N', 18, 512]) }, outputs: { image: f32(['N', 3, 'R', 'R'], [-1, 1]) } },
  mapping: { inputs: { z: f32(['N', 512]) }, outputs: { w: f32(['N', 512]) } },
  age: { inputs: { image: f32(['N', 3, 224, 224], [-1, 1]) }, outputs: { age: f32(['N']), probs: f32(['N', 101]) } },
  identity: { inputs: { image: f32(['N', 3, 112, 112], [-1, 1]) }, outputs: { embedding: f32(['N', 512]) } },
};

/** The files of a model folder: file stem, its role, and whether a folder must have it. */
export const MODEL_FILES: ReadonlyArray<{ name: string; role: Role }> = [
  { name: 'inversion', role: 'inversion' },
  { name: 'aging', role: 'aging' },
  { name: 'generator', role: 'generator' },
  { name: 'generator-512', role: 'generator' },
  { name: 'generator-256', role: 'generator' },
  { name: 'mapping', role: 'mapping' },
  { name: 'age', role: 'age' },
  { name: 'identity', role: 'identity' },
];

/** Numeric precision of a model file: float32 (`<name>.onnx`) or int8 QDQ (`<name>.int8.onnx`). */
export type Precision = 'fp32' | 'int8';

/** What a user asks for: `auto` takes int8 where the variant exists and its quality report passed. */
export type PrecisionChoice = 'auto' | Precision;

/** Every precision choice, for validation and editors. */
export const PRECISION_CHOICES: readonly PrecisionChoice[] = ['auto', 'fp32', 'int8'];

/** File stems the exporter makes int8 variants of (`--int8`); the others are always float32. */
export const INT8_MODEL_NAMES: readonly string[] = ['inversion', 'aging', 'generator', 'generator-512', 'generator-256', 'age'];

/** A model's sidecar manifest (`<name>.json`). */
export interface Manifest {
  contract: number;
  role: Role;
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
  /** Output side of a generator, in pixels. */
  resolution?: number;
  opset?: number;
  exporter?: string;
  source?: { file: string; sha256: string } | null;
  /** Absent for float32; `int8` for a quantized variant, which also carries its quality report. */
  precision?: Precision;
  report?: { pass?: boolean; figures?: Record<string, unknown> };
  /** True for the designed demo models shipped in the package (models/demo), which only show what the flow does. */
  demo?: boolean;
  [extra: string]: unknown;
}

/** What onnxruntime reports for one input or output of a loaded session. */
export interface ValueSignature {
  name: string;
  type: string;
  shape: Array<number | string>;
}

/** One model file of a folder, found and with a parsed manifest. */
export interface ModelEntry {
  name: string;
  role: Role;
  file: string;
  manifest: Manifest;
  /** Which variant `file` is. */
  precision: Precision;
}

/** Error thrown for a model folder or file that breaks its contract; `code` tells which check failed. */
export class ContractError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOFOLDER' | 'ENOFILE' | 'EMANIFEST' | 'ECORRUPT' | 'ESIGNATURE' | 'ECONFINED',
  ) {
    super(message);
    this.name = 'ContractError';
  }
}

const showShape = (shape: ReadonlyArray<number | string>): string => `[${shape.join(',')}]`;
const showSpec = (name: string, spec: { type: string; shape: ReadonlyArray<number | string> }): string =>
  `${name}: ${spec.type} ${showShape(spec.shape)}`;

/** Text of a whole signature, e.g. `image: float32 [N,3,256,256]; age: float32 [N]`. */
export function describeSignature(values: Record<string, { type: string; shape: ReadonlyArray<number | string> }>): string {
  return Object.entries(values)
    .map(([name, spec]) => showSpec(name, spec))
    .join('; ');
}

/** The command that makes a model folder, for error messages. */
function exportHint(dir: string): string {
  return `export the SAM models with: npx age-transform export --sam sam_ffhq_aging.pt --out ${dir}`;
}

/**
 * Reads a model folder and its manifests, without loading any ONNX file.
 * @param dir folder holding `<name>.onnx` and `<name>.json` pairs
 * @param required file stems that must be there (e.g. `['inversion', 'aging']`)
 * @param precision which variant to pick per model (see `findModel`)
 * @returns the entries found, keyed by file stem; optional files that are absent are left out
 * @throws {ContractError} ENOFOLDER, ENOFILE, EMANIFEST
 * @example readModelFolder('models/sam-ffhq', ['inversion', 'aging', 'generator'])
 */
export function readModelFolder(dir: string, required: readonly string[] = [], precision: PrecisionChoice = 'fp32'): Map<string, ModelEntry> {
  const entries = new Map<string, ModelEntry>();
  for (const { name } of MODEL_FILES) {
    const entry = findModel(dir, name, required.includes(name), precision);
    if (entry) entries.set(name, entry);
  }
  return entries;
}

/**
 * Finds one model of a folder by file stem and reads its manifest.
 * @param dir the model folder
 * @param name a file stem of MODEL_FILES, e.g. `'generator-256'`
 * @param required whether a missing file is an error (else `undefined` is returned)
 * @param precision `fp32`: `<name>.onnx`; `auto`: `<name>.int8.onnx` when it is there and its
 *   report passed, else `<name>.onnx`; `int8`: the int8 variant for every model in
 *   INT8_MODEL_NAMES (an error when it is missing or did not pass), float32 for the others
 * @throws {ContractError} ENOFOLDER, ENOFILE, EMANIFEST; {TypeError} for a name no role has
 */
export function findModel(dir: string, name: string, required: boolean, precision: PrecisionChoice = 'fp32'): ModelEntry | undefined {
  const known = MODEL_FILES.find((f) => f.name === name);
  if (!known) throw new TypeError(`unknown model "${name}"; expected one of ${MODEL_FILES.map((f) => f.name).join(', ')}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ContractError(`model folder not found: ${dir}; ${exportHint(dir)}`, 'ENOFOLDER');
  }
  if (precision !== 'fp32' && INT8_MODEL_NAMES.includes(name)) {
    const int8 = findInt8(dir, name, known.role, precision === 'int8');
    if (int8) return int8;
  }
  const file = join(dir, `${name}.onnx`);
  if (!existsSync(file)) {
    if (!required) return undefined;
    throw new ContractError(`model file missing: ${file} (role "${known.role}"); ${exportHint(dir)}`, 'ENOFILE');
  }
  return { name, role: known.role, file, manifest: readManifest(join(dir, `${name}.json`), known.role), precision: 'fp32' };
}

/** The int8 variant of a model when it is there and its report passed; `strict` makes its absence an error. */
function findInt8(dir: string, name: string, role: Role, strict: boolean): ModelEntry | undefined {
  const file = join(dir, `${name}.int8.onnx`);
  const hint = 'export it with --int8, or set precision to auto or fp32';
  if (!existsSync(file)) {
    if (!strict) return undefined;
    throw new ContractError(`int8 model missing: ${file} (precision int8); ${hint}`, 'ENOFILE');
  }
  const manifestFile = join(dir, `${name}.int8.json`);
  const manifest = readManifest(manifestFile, role);
  if (manifest.precision !== 'int8') {
    throw new ContractError(`manifest ${manifestFile} declares precision ${JSON.stringify(manifest.precision ?? 'fp32')}, expected "int8"`, 'EMANIFEST');
  }
  if (manifest.report?.pass !== true) {
    if (!strict) return undefined;
    throw new ContractError(`int8 model ${file} has no passed quality report in ${manifestFile}; ${hint}`, 'EMANIFEST');
  }
  return { name, role, file, manifest, precision: 'int8' };
}

/**
 * Reads and checks one manifest against the contract of its role.
 * @throws {ContractError} EMANIFEST naming the file and the first difference
 */
export function readManifest(file: string, role: Role): Manifest {
  if (!existsSync(file)) {
    throw new ContractError(`manifest missing: ${file} (every model needs a manifest beside it)`, 'EMANIFEST');
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (err) {
    throw new ContractError(`manifest ${file} is not valid JSON: ${(err as Error).message}`, 'EMANIFEST');
  }
  if (manifest.contract !== CONTRACT_VERSION) {
    throw new ContractError(`manifest ${file} has contract version ${String(manifest.contract)}, expected ${CONTRACT_VERSION}`, 'EMANIFEST');
  }
  if (manifest.role !== role) {
    throw new ContractError(`manifest ${file} declares role "${String(manifest.role)}", expected "${role}"`, 'EMANIFEST');
  }
  const contract = CONTRACTS[role];
  const expected = describeSignature({ ...contract.inputs, ...contract.outputs });
  const found = describeSignature({ ...(manifest.inputs ?? {}), ...(manifest.outputs ?? {}) });
  const sameSide = (want: Record<string, TensorSpec>, got: Record<string, TensorSpec> | undefined): boolean =>
    got !== undefined &&
    Object.keys(want).length === Object.keys(got).length &&
    Object.entries(want).every(([name, spec]) => got[name] !== undefined && got[name].type === spec.type && shapeMatches(spec.shape, got[name].shape, manifest.resolution));
  if (!sameSide(contract.inputs, manifest.inputs) || !sameSide(contract.outputs, manifest.outputs)) {
    throw new ContractError(`manifest ${file} does not match the "${role}" contract: expected ${expected}, found ${found}`, 'EMANIFEST');
  }
  if (role === 'generator' && !(Number.isInteger(manifest.resolution) && (manifest.resolution as number) > 0)) {
    throw new ContractError(`manifest ${file} must give the generator's output "resolution" in pixels`, 'EMANIFEST');
  }
  return manifest;
}

/** Whether a found shape fits a contract shape: `N` takes any batch size, `R` the manifest's resolution. */
function shapeMatches(want: readonly Dim[], got: ReadonlyArray<number | string>, resolution?: number): boolean {
  if (!Array.isArray(got) || got.length !== want.length) return false;
  return want.every((dim, i) => {
    const g = got[i];
    if (dim === 'N') return typeof g === 'string' || g === -1 || (typeof g === 'number' && g > 0);
    if (dim === 'R') return typeof g === 'string' ? g === 'R' || resolution !== undefined : g === resolution;
    return g === dim;
  });
}

/**
 * Checks what onnxruntime reports for a loaded model against its contract.
 * The batch dimension must be dynamic (a name or -1), so one session serves any batch size.
 * @throws {ContractError} ESIGNATURE naming the file, the expected and the found signature
 */
export function checkSignature(entry: Pick<ModelEntry, 'file' | 'role' | 'manifest'>, inputs: ValueSignature[], outputs: ValueSignature[]): void {
  const contract = CONTRACTS[entry.role];
  const resolution = entry.manifest.resolution;
  const toRecord = (values: ValueSignature[]): Record<string, { type: string; shape: Array<number | string> }> =>
    Object.fromEntries(values.map((v) => [v.name, { type: v.type, shape: v.shape }]));
  const fits = (want: Record<string, TensorSpec>, got: ValueSignature[]): boolean =>
    got.length === Object.keys(want).length &&
    got.every((value) => {
      const spec = want[value.name];
      if (!spec || value.type !== spec.type) return false;
      if (spec.shape[0] === 'N' && typeof value.shape[0] === 'number' && value.shape[0] !== -1) return false;
      return shapeMatches(spec.shape, value.shape, resolution);
    });
  if (!fits(contract.inputs, inputs) || !fits(contract.outputs, outputs)) {
    const expected = `${describeSignature(contract.inputs)} -> ${describeSignature(contract.outputs)}`;
    const found = `${describeSignature(toRecord(inputs))} -> ${describeSignature(toRecord(outputs))}`;
    throw new ContractError(`model ${entry.file} does not match the "${entry.role}" contract: expected ${expected}, found ${found}`, 'ESIGNATURE');
  }
}

/**
 * Whether a model folder holds the package's designed demo models: some manifest there says
 * `"demo": true`. Never throws: a missing or broken folder is not a demo folder (loading it
 * reports the real problem).
 * @example isDemoFolder('models/demo') // true
 */
export function isDemoFolder(dir: string): boolean {
  return MODEL_FILES.some(({ name }) => {
    try {
      return (JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Manifest).demo === true;
    } catch {
      return false;
    }
  });
}
