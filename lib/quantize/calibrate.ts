// Calibration and quality report of the exporter's int8 variants (tools/export/quantize.py runs
// this file with a plan). Both run in onnxruntime-node, the runtime the nodes use: the tensors
// calibrated are the ONNX graph's own, and only onnxruntime runs the int8 graph.
//
// usage: node dist/lib/quantize/calibrate.js <plan.json>
//   mode "calibrate": runs the float graphs (those in `observe` with their extra outputs) on
//     calibration inputs and writes min, max, sum of squares and count of every observed tensor.
//   mode "evaluate": runs held-out inputs through the float32 chain and through each candidate
//     int8 graph in its place, and writes the quality figures per candidate.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Tensor, TensorMap } from '../tensor';
import { imageToTensor, resizeBatch } from '../sam/image';
import { AGE_SIZE, IDENTITY_CROP, IDENTITY_SIZE, cosine } from '../sam/measure';
import { SeededRandom } from '../sam/random';

const CODES = 18;
const WDIM = 512;
const ENCODER_SIZE = 256;
/** Peak-to-peak of the [-1, 1] image range, for PSNR. */
const IMAGE_SPAN = 2;
const PSNR_CAP_DB = 120;
/** The generators that stop early, beside the full `generator`. */
const SMALLER_GENERATORS = ['generator-512', 'generator-256'];

interface TensorStat {
  min: number;
  max: number;
  sumsq: number;
  count: number;
}

interface Plan {
  mode: 'calibrate' | 'evaluate';
  folder: string;
  samples: number;
  seed: number;
  threads: number;
  out: string;
  calibration_dir?: string | null;
  observe?: Record<string, { file: string; tensors: string[] }>;
  candidates?: Record<string, string>;
}

/** Quality of one int8 graph against float32 (worst held-out sample for each figure). */
interface Figures {
  psnr_db?: number;
  psnr_of?: string;
  age_years?: number;
  identity_cosine?: number;
  wplus_max_abs?: number;
  wplus_mean_abs?: number;
  wplus_rel_mean?: number;
}

class Models {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  constructor(
    private readonly folder: string,
    private readonly threads: number,
  ) {}

  has(name: string): boolean {
    return existsSync(join(this.folder, `${name}.onnx`));
  }

  open(file: string): Promise<ort.InferenceSession> {
    let found = this.sessions.get(file);
    if (!found) {
      const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
      if (this.threads > 0) Object.assign(options, { intraOpNumThreads: this.threads, interOpNumThreads: 1 });
      found = ort.InferenceSession.create(file, options);
      this.sessions.set(file, found);
    }
    return found;
  }

  /** Runs a file with float feeds; returns every output as a plain tensor. */
  async runFile(file: string, feeds: TensorMap): Promise<TensorMap> {
    const session = await this.open(file);
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data, t.dims);
    const results = await session.run(inputs);
    const out: TensorMap = {};
    for (const [name, t] of Object.entries(results)) out[name] = { dims: [...t.dims], data: t.data as Float32Array };
    return out;
  }

  run(name: string, feeds: TensorMap): Promise<TensorMap> {
    return this.runFile(join(this.folder, `${name}.onnx`), feeds);
  }
}

const tensor = (dims: number[], data: Float32Array): Tensor => ({ dims, data });

function add(a: Tensor, b: Tensor): Tensor {
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = a.data[i] + b.data[i];
  return tensor([...a.dims], data);
}

/** Faces made by the folder itself: random z through mapping, the same w in all 18 codes, the generator, 256x256. */
async function generatedFaces(models: Models, count: number, seed: number): Promise<Tensor[]> {
  const random = new SeededRandom(seed);
  const faces: Tensor[] = [];
  for (let i = 0; i < count; i++) {
    const { w } = await models.run('mapping', { z: tensor([1, WDIM], random.normals(WDIM)) });
    const latent = new Float32Array(CODES * WDIM);
    for (let k = 0; k < CODES; k++) latent.set(w.data, k * WDIM);
    const { image } = await models.run('generator', { latent: tensor([1, CODES, WDIM], latent) });
    faces.push(await resizeBatch(image, ENCODER_SIZE));
  }
  return faces;
}

async function folderFaces(dir: string, count: number): Promise<Tensor[]> {
  const files = readdirSync(dir)
    .filter((f) => /\.(png|jpe?g|webp)$/i.test(f))
    .sort()
    .slice(0, count);
  return Promise.all(files.map((f) => imageToTensor(readFileSync(join(dir, f)), ENCODER_SIZE)));
}

function ages(count: number, seed: number): number[] {
  const random = new SeededRandom(seed * 7919 + 1);
  return Array.from({ length: count }, () => Math.round(random.uniform() * 100));
}

async function calibrate(plan: Plan, models: Models): Promise<unknown> {
  const observe = plan.observe ?? {};
  const stats: Record<string, Record<string, TensorStat>> = {};
  for (const [name, o] of Object.entries(observe)) {
    stats[name] = Object.fromEntries(o.tensors.map((t) => [t, { min: Infinity, max: -Infinity, sumsq: 0, count: 0 }]));
  }
  const run = async (name: string, feeds: TensorMap): Promise<TensorMap> => {
    const o = observe[name];
    if (!o) return models.run(name, feeds);
    const out = await models.runFile(o.file, feeds);
    for (const t of o.tensors) {
      const s = stats[name][t];
      const data = out[t].data;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (v < s.min) s.min = v;
        if (v > s.max) s.max = v;
        s.sumsq += v * v;
      }
      s.count += data.length;
    }
    return out;
  };
  const faces = plan.calibration_dir ? await folderFaces(plan.calibration_dir, plan.samples) : await generatedFaces(models, plan.samples, plan.seed);
  const targetAges = ages(faces.length, plan.seed);
  for (let i = 0; i < faces.length; i++) {
    const { latent } = await run('inversion', { image: faces[i] });
    const { delta } = await run('aging', { image: faces[i], age: tensor([1], Float32Array.of(targetAges[i])) });
    const codes = add(latent, delta);
    const { image } = await run('generator', { latent: codes });
    for (const smaller of SMALLER_GENERATORS) if (models.has(smaller)) await run(smaller, { latent: codes });
    if (models.has('age')) await run('age', { image: await resizeBatch(image, AGE_SIZE) });
  }
  return { tensors: stats, samples: faces.length };
}

function psnr(a: Tensor, b: Tensor): number {
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (a.data[i] - b.data[i]) ** 2;
  const mse = se / a.data.length;
  return mse === 0 ? PSNR_CAP_DB : Math.min(PSNR_CAP_DB, 10 * Math.log10((IMAGE_SPAN * IMAGE_SPAN) / mse));
}

/** Differences of int8 codes against float32 ones over the held-out set. */
function codeFigures(quantized: Tensor[], reference: Tensor[]): Figures {
  let max = 0;
  let sum = 0;
  let count = 0;
  let refSum = 0;
  let refSq = 0;
  for (let s = 0; s < quantized.length; s++) {
    const q = quantized[s].data;
    const r = reference[s].data;
    for (let i = 0; i < q.length; i++) {
      const d = Math.abs(q[i] - r[i]);
      if (d > max) max = d;
      sum += d;
      refSum += r[i];
      refSq += r[i] * r[i];
    }
    count += q.length;
  }
  const mean = sum / count;
  const std = Math.sqrt(Math.max(refSq / count - (refSum / count) ** 2, 0));
  return { wplus_max_abs: max, wplus_mean_abs: mean, wplus_rel_mean: std > 0 ? mean / std : mean === 0 ? 0 : Number.MAX_VALUE };
}

async function evaluate(plan: Plan, models: Models): Promise<unknown> {
  const faces = await generatedFaces(models, plan.samples, plan.seed);
  const targetAges = ages(faces.length, plan.seed);
  const ageOf = async (image: Tensor): Promise<number> => (await models.run('age', { image: await resizeBatch(image, AGE_SIZE) })).age.data[0];
  const idOf = async (image: Tensor): Promise<Float32Array> =>
    (await models.run('identity', { image: await resizeBatch(image, IDENTITY_SIZE, IDENTITY_CROP) })).embedding.data;
  const hasAge = models.has('age');
  const hasIdentity = models.has('identity');

  const ref = { latent: [] as Tensor[], delta: [] as Tensor[], codes: [] as Tensor[], image: [] as Tensor[], age: [] as number[], id: [] as Float32Array[] };
  for (let i = 0; i < faces.length; i++) {
    const age = tensor([1], Float32Array.of(targetAges[i]));
    const { latent } = await models.run('inversion', { image: faces[i] });
    const { delta } = await models.run('aging', { image: faces[i], age });
    const codes = add(latent, delta);
    const { image } = await models.run('generator', { latent: codes });
    ref.latent.push(latent);
    ref.delta.push(delta);
    ref.codes.push(codes);
    ref.image.push(image);
    if (hasAge) ref.age.push(await ageOf(image));
    if (hasIdentity) ref.id.push(await idOf(image));
  }

  /** Figures of renders against the float32 renders: worst PSNR, largest age change, lowest identity cosine. */
  const imageFigures = async (images: Tensor[], reference: Tensor[], of: string): Promise<Figures> => {
    const figures: Figures = { psnr_db: Math.min(...images.map((im, i) => psnr(im, reference[i]))), psnr_of: of };
    if (hasAge) {
      const measured = await Promise.all(images.map(ageOf));
      const refAges = reference === ref.image ? ref.age : await Promise.all(reference.map(ageOf));
      figures.age_years = Math.max(...measured.map((a, i) => Math.abs(a - refAges[i])));
    }
    if (hasIdentity) {
      const refIds = reference === ref.image ? ref.id : await Promise.all(reference.map(idOf));
      const ids = await Promise.all(images.map(idOf));
      figures.identity_cosine = Math.min(...ids.map((e, i) => cosine(e, refIds[i])));
    }
    return figures;
  };
  const render = (codes: Tensor[]): Promise<Tensor[]> => Promise.all(codes.map(async (c) => (await models.run('generator', { latent: c })).image));
  const resolution = ref.image[0].dims[2];

  const figures: Record<string, Figures> = {};
  for (const [name, file] of Object.entries(plan.candidates ?? {})) {
    const q = (feeds: TensorMap): Promise<TensorMap> => models.runFile(file, feeds);
    if (name === 'inversion' || name === 'aging') {
      const outputs: Tensor[] = [];
      for (let i = 0; i < faces.length; i++) {
        const feeds: TensorMap = name === 'inversion' ? { image: faces[i] } : { image: faces[i], age: tensor([1], Float32Array.of(targetAges[i])) };
        outputs.push(Object.values(await q(feeds))[0]);
      }
      const codes = outputs.map((o, i) => add(o, name === 'inversion' ? ref.delta[i] : ref.latent[i]));
      figures[name] = { ...codeFigures(outputs, name === 'inversion' ? ref.latent : ref.delta), ...(await imageFigures(await render(codes), ref.image, `${resolution} image`)) };
    } else if (name === 'generator' || SMALLER_GENERATORS.includes(name)) {
      const images: Tensor[] = [];
      const reference: Tensor[] = [];
      for (const codes of ref.codes) {
        images.push((await q({ latent: codes })).image);
        if (name !== 'generator') reference.push((await models.run(name, { latent: codes })).image);
      }
      if (name === 'generator') reference.push(...ref.image);
      figures[name] = await imageFigures(images, reference, `${reference[0].dims[2]} image`);
    } else if (name === 'age') {
      const years: number[] = [];
      for (let i = 0; i < ref.image.length; i++) years.push(Math.abs((await q({ image: await resizeBatch(ref.image[i], AGE_SIZE) })).age.data[0] - ref.age[i]));
      figures[name] = { age_years: Math.max(...years) };
    } else {
      throw new Error(`no quality report for "${name}"`);
    }
  }
  return { figures, heldout: `${faces.length} generated faces (seed ${plan.seed}: random z -> mapping -> generator, 256x256), ages ${targetAges.join(', ')}` };
}

async function main(): Promise<void> {
  const planFile = process.argv[2];
  if (!planFile) throw new Error('usage: node dist/lib/quantize/calibrate.js <plan.json>');
  const plan = JSON.parse(readFileSync(planFile, 'utf8')) as Plan;
  const models = new Models(plan.folder, plan.threads);
  const result = plan.mode === 'calibrate' ? await calibrate(plan, models) : await evaluate(plan, models);
  writeFileSync(plan.out, JSON.stringify(result));
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message.split('\n')[0]}\n`);
  process.exit(1);
});
