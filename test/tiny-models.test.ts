// Checks the tiny designed models of test/fixtures/models/tiny against their contracts
// and their designed behaviour (see test/fixtures/models/tiny/README.md).
import assert from 'node:assert/strict';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { checkSignature, CONTRACTS, MODEL_FILES, readManifest, readModelFolder, type ModelEntry, type ValueSignature } from '../lib/contracts/contracts';
import { cosine } from '../lib/sam/measure';

const root = path.resolve(__dirname, '..', '..');
const tinyDir = path.join(root, 'test', 'fixtures', 'models', 'tiny');
const photoFile = path.join(root, 'test', 'fixtures', 'astronaut.png');

const LAYERS = 18;
const WDIM = 512;
const TDIM = 192;

/** An image batch in NCHW layout. */
interface Batch {
  data: Float32Array;
  n: number;
  c: number;
  h: number;
  w: number;
}

/** Decodes a photo to 256x256 RGB in [-1,1], CHW. `variant` 'other' flips it upside down and swaps red and blue. */
async function loadPhoto(variant: 'plain' | 'other' = 'plain'): Promise<Float32Array> {
  let pipeline = sharp(photoFile).removeAlpha().resize(256, 256, { fit: 'fill' });
  if (variant === 'other') pipeline = pipeline.flip();
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  const out = new Float32Array(3 * 256 * 256);
  for (let i = 0; i < 256 * 256; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const from = variant === 'other' ? 2 - ch : ch;
      out[ch * 256 * 256 + i] = (data[i * 3 + from] / 255) * 2 - 1;
    }
  }
  return out;
}

/** Stacks equal-sized CHW images into one batch. */
function stack(images: Float32Array[], c: number, h: number, w: number): Batch {
  const data = new Float32Array(images.length * c * h * w);
  images.forEach((img, i) => data.set(img, i * c * h * w));
  return { data, n: images.length, c, h, w };
}

/** Bilinear resize with half-pixel centres and edge clamping (like sharp/PIL without antialiasing). */
function resizeBilinear(src: Batch, h: number, w: number): Batch {
  const out = new Float32Array(src.n * src.c * h * w);
  const axis = (size: number, from: number): Array<[number, number, number]> =>
    Array.from({ length: size }, (_, i) => {
      const pos = Math.min(Math.max((i + 0.5) * (from / size) - 0.5, 0), from - 1);
      const lo = Math.floor(pos);
      return [lo, Math.min(lo + 1, from - 1), pos - lo];
    });
  const ys = axis(h, src.h);
  const xs = axis(w, src.w);
  for (let p = 0; p < src.n * src.c; p++) {
    const base = p * src.h * src.w;
    for (let y = 0; y < h; y++) {
      const [y0, y1, fy] = ys[y];
      for (let x = 0; x < w; x++) {
        const [x0, x1, fx] = xs[x];
        const top = src.data[base + y0 * src.w + x0] * (1 - fx) + src.data[base + y0 * src.w + x1] * fx;
        const bottom = src.data[base + y1 * src.w + x0] * (1 - fx) + src.data[base + y1 * src.w + x1] * fx;
        out[p * h * w + y * w + x] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return { data: out, n: src.n, c: src.c, h, w };
}

const tensor = (data: Float32Array, dims: number[]): ort.Tensor => new ort.Tensor('float32', data, dims);
const imageTensor = (b: Batch): ort.Tensor => tensor(b.data, [b.n, b.c, b.h, b.w]);

const signature = (meta: readonly ort.InferenceSession.ValueMetadata[]): ValueSignature[] =>
  meta.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));

describe('tiny designed models', function () {
  this.timeout(20000);
  const sessions = new Map<string, ort.InferenceSession>();
  let entries: Map<string, ModelEntry>;
  let photo: Float32Array;
  let other: Float32Array;

  const run = async (name: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> => {
    const session = sessions.get(name);
    assert.ok(session, `session ${name} loaded`);
    return session.run(feeds);
  };
  const f32 = (t: ort.Tensor): Float32Array => t.data as Float32Array;

  /** w+ = inversion(x) + aging(x, a) for one image at several ages (a batch of ages.length). */
  const latentsAt = async (image: Float32Array, ages: number[]): Promise<Float32Array> => {
    const batch = stack(
      ages.map(() => image),
      3,
      256,
      256,
    );
    const { latent } = await run('inversion', { image: imageTensor(batch) });
    const { delta } = await run('aging', { image: imageTensor(batch), age: tensor(Float32Array.from(ages), [ages.length]) });
    const w = new Float32Array(f32(latent));
    f32(delta).forEach((d, i) => (w[i] += d));
    return w;
  };
  const render = async (latents: Float32Array, name = 'generator'): Promise<Batch> => {
    const n = latents.length / (LAYERS * WDIM);
    const { image } = await run(name, { latent: tensor(latents, [n, LAYERS, WDIM]) });
    const [, c, h, w] = image.dims;
    return { data: f32(image), n, c, h, w };
  };
  const measureAges = async (images: Batch): Promise<{ age: Float32Array; probs: Float32Array }> => {
    const out = await run('age', { image: imageTensor(resizeBilinear(images, 224, 224)) });
    return { age: f32(out.age), probs: f32(out.probs) };
  };
  const embed = async (images: Batch): Promise<Float32Array[]> => {
    const { embedding } = await run('identity', { image: imageTensor(resizeBilinear(images, 112, 112)) });
    return Array.from({ length: images.n }, (_, i) => f32(embedding).slice(i * WDIM, (i + 1) * WDIM));
  };

  before(async () => {
    entries = readModelFolder(
      tinyDir,
      MODEL_FILES.map((f) => f.name),
    );
    for (const { name } of MODEL_FILES) {
      sessions.set(name, await ort.InferenceSession.create(path.join(tinyDir, `${name}.onnx`), { intraOpNumThreads: 1 }));
    }
    photo = await loadPhoto('plain');
    other = await loadPhoto('other');
  });

  after(async () => {
    for (const session of sessions.values()) await session.release();
  });

  it('has every model with a manifest that passes the contract', () => {
    assert.deepEqual([...entries.keys()].sort(), MODEL_FILES.map((f) => f.name).sort());
    for (const { name, role } of MODEL_FILES) {
      const manifest = readManifest(path.join(tinyDir, `${name}.json`), role);
      assert.equal(manifest.exporter, 'tiny-models 1');
      assert.equal(manifest.source, null);
      assert.equal(typeof manifest.design, 'string');
      assert.ok(Number.isInteger(manifest.opset) && (manifest.opset as number) <= 17, `${name} opset`);
    }
    assert.equal(entries.get('generator')?.manifest.resolution, 64);
    assert.equal(entries.get('generator-256')?.manifest.resolution, 32);
  });

  it('loads every model with the contract signature and a dynamic batch axis', () => {
    for (const { name, role } of MODEL_FILES) {
      const session = sessions.get(name);
      assert.ok(session);
      assert.deepEqual([...session.inputNames].sort(), Object.keys(CONTRACTS[role].inputs).sort(), `${name} inputs`);
      assert.deepEqual([...session.outputNames].sort(), Object.keys(CONTRACTS[role].outputs).sort(), `${name} outputs`);
      const inputs = signature(session.inputMetadata);
      const outputs = signature(session.outputMetadata);
      const entry = entries.get(name);
      assert.ok(entry);
      checkSignature(entry, inputs, outputs);
      for (const v of [...inputs, ...outputs]) assert.equal(v.shape[0], 'N', `${name} ${v.name} batch axis`);
    }
    // The check can fail: the 64 px generator does not fit a manifest that claims 32 px.
    const generator = entries.get('generator');
    const session = sessions.get('generator');
    assert.ok(generator && session);
    assert.throws(
      () => checkSignature({ ...generator, manifest: { ...generator.manifest, resolution: 32 } }, signature(session.inputMetadata), signature(session.outputMetadata)),
      /does not match the "generator" contract/,
    );
  });

  it('inversion writes the 8x8 thumbnail, t = 0 and the latent_avg filler into all 18 layers', async () => {
    const { latent } = await run('inversion', { image: imageTensor(stack([photo], 3, 256, 256)) });
    assert.deepEqual(latent.dims, [1, LAYERS, WDIM]);
    const w = f32(latent);
    // 8x8 average pool computed here
    for (let ch = 0; ch < 3; ch++) {
      for (let by = 0; by < 8; by++) {
        for (let bx = 0; bx < 8; bx++) {
          let sum = 0;
          for (let y = by * 32; y < by * 32 + 32; y++) for (let x = bx * 32; x < bx * 32 + 32; x++) sum += photo[ch * 65536 + y * 256 + x];
          assert.ok(Math.abs(w[ch * 64 + by * 8 + bx] - sum / 1024) < 1e-4, `thumbnail ${ch},${by},${bx}`);
        }
      }
    }
    let fillerSize = 0;
    for (let l = 0; l < LAYERS; l++) {
      assert.equal(w[l * WDIM + TDIM], 0, 'age coordinate of an inversion is 0');
      for (let d = 0; d < WDIM; d++) if (d !== TDIM) assert.equal(w[l * WDIM + d], w[d], `layer ${l} dim ${d} equals layer 0`);
    }
    for (let d = TDIM + 1; d < WDIM; d++) fillerSize = Math.max(fillerSize, Math.abs(w[d]));
    assert.ok(fillerSize > 0 && fillerSize < 0.5, `filler is a small non-zero pattern (max ${fillerSize})`);
  });

  it('aging puts (0.8a+12)/100 on dim 192 and a small +-0.2a/100 identity drift on the thumbnail', async () => {
    const ages = [0, 37, 100];
    const batch = stack([photo, photo, other], 3, 256, 256);
    const { delta } = await run('aging', { image: imageTensor(batch), age: tensor(Float32Array.from(ages), [3]) });
    assert.deepEqual(delta.dims, [3, LAYERS, WDIM]);
    const d = f32(delta);
    const pattern = Array.from({ length: TDIM }, (_, i) => Math.sign(d[2 * LAYERS * WDIM + i]));
    assert.ok(pattern.every((s) => s !== 0));
    ages.forEach((a, n) => {
      for (let l = 0; l < LAYERS; l++) {
        const base = (n * LAYERS + l) * WDIM;
        assert.ok(Math.abs(d[base + TDIM] - (0.8 * a + 12) / 100) < 1e-6, `age ${a} layer ${l}`);
        for (let i = 0; i < TDIM; i++) assert.ok(Math.abs(d[base + i] - (0.2 * a * pattern[i]) / 100) < 1e-6, `drift ${a} ${i}`);
        for (let i = TDIM + 1; i < WDIM; i++) assert.equal(d[base + i], 0);
      }
    });
  });

  it('renders the designed age 0.8a+12 (within 1 year) on the astronaut photo', async () => {
    const ages = [0, 20, 50, 80, 100];
    const images = await render(await latentsAt(photo, ages));
    assert.deepEqual([images.n, images.c, images.h, images.w], [5, 3, 64, 64]);
    const { age, probs } = await measureAges(images);
    ages.forEach((a, i) => {
      const want = 0.8 * a + 12;
      assert.ok(Math.abs(age[i] - want) < 1, `target ${a}: measured ${age[i].toFixed(2)}, designed ${want}`);
      const p = probs.slice(i * 101, (i + 1) * 101);
      assert.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-4, 'probs sum to 1');
      assert.equal(p.indexOf(Math.max(...p)), Math.round(want), 'the most likely age is the designed one');
    });
  });

  it('keeps identity across ages and tells two photos apart', async () => {
    const [young, old] = await embed(await render(await latentsAt(photo, [20, 80])));
    const [otherOld] = await embed(await render(await latentsAt(other, [80])));
    for (const e of [young, old, otherOld]) assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-4, 'unit length');
    const same = cosine(young, old);
    const different = cosine(old, otherOld);
    assert.ok(same > 0.9, `same photo at 20 and 80: cos ${same.toFixed(3)}`);
    assert.ok(same < 0.9999, `identity drifts a little with age: cos ${same.toFixed(5)}`);
    assert.ok(different < 0.5, `two photos: cos ${different.toFixed(3)}`);
  });

  it('runs a batch of 3 exactly like three single runs', async () => {
    const third = photo.map((v, i) => (i % 7 === 0 ? -v : v));
    const images = [photo, other, third];
    const ages = [10, 45, 90];
    const batch = stack(images, 3, 256, 256);
    const { latent } = await run('inversion', { image: imageTensor(batch) });
    const { delta } = await run('aging', { image: imageTensor(batch), age: tensor(Float32Array.from(ages), [3]) });
    assert.deepEqual(latent.dims, [3, LAYERS, WDIM]);
    const w = new Float32Array(f32(latent));
    f32(delta).forEach((d, i) => (w[i] += d));
    const rendered = await render(w);
    const { age } = await measureAges(rendered);
    const ids = await embed(rendered);
    for (let i = 0; i < 3; i++) {
      const single = await latentsAt(images[i], [ages[i]]);
      const size = LAYERS * WDIM;
      const slice = w.slice(i * size, (i + 1) * size);
      assert.ok(
        slice.every((v, k) => Math.abs(v - single[k]) < 1e-5),
        `latent ${i} of the batch equals its single run`,
      );
      const one = await render(single);
      const [oneAge] = (await measureAges(one)).age;
      const [oneId] = await embed(one);
      assert.ok(Math.abs(age[i] - oneAge) < 1e-3, `age ${i}`);
      assert.ok(cosine(ids[i], oneId) > 0.99999, `identity ${i}`);
    }
    assert.ok(cosine(ids[0], ids[1]) < 0.9 && cosine(ids[1], ids[2]) < 0.9, 'three photos differ');
  });

  it('generator-256 renders R = 32 with the same picture, band and clamping', async () => {
    const w = await latentsAt(photo, [30, 70]);
    const big = await render(w, 'generator');
    const small = await render(w, 'generator-256');
    assert.deepEqual([small.n, small.c, small.h, small.w], [2, 3, 32, 32]);
    for (const [i, a] of [30, 70].entries()) {
      const band = Math.min(1, Math.max(-1, (2 * (0.8 * a + 12)) / 100 - 1));
      for (let ch = 0; ch < 3; ch++) {
        for (let y = 0; y < 32; y++) {
          for (let x = 0; x < 32; x++) {
            const v = small.data[((i * 3 + ch) * 32 + y) * 32 + x];
            assert.ok(v >= -1 && v <= 1, 'clamped');
            if (y < 4) assert.ok(Math.abs(v - band) < 1e-5, `band row ${y}`);
            else assert.ok(Math.abs(v - big.data[((i * 3 + ch) * 64 + 2 * y) * 64 + 2 * x]) < 1e-5, `pixel ${ch},${y},${x}`);
          }
        }
      }
      for (let y = 0; y < 8; y++) assert.ok(Math.abs(big.data[(i * 3 * 64 + y) * 64 + 5] - band) < 1e-5, 'band of the 64 px render');
    }
  });

  it('shows style mixing: taking some layers from another code changes the picture partially', async () => {
    const [a] = [await latentsAt(photo, [40])];
    const b = await latentsAt(other, [40]);
    const mixed = new Float32Array(a);
    for (let l = 9; l < LAYERS; l++) mixed.set(b.subarray(l * WDIM, (l + 1) * WDIM), l * WDIM);
    const images = await render(Float32Array.from([...a, ...mixed, ...b]));
    const size = 3 * 64 * 64;
    const dist = (i: number, j: number): number => {
      let s = 0;
      for (let k = 0; k < size; k++) s += Math.abs(images.data[i * size + k] - images.data[j * size + k]);
      return s / size;
    };
    const full = dist(0, 2);
    assert.ok(full > 0.05, `the two photos render differently (${full.toFixed(3)})`);
    assert.ok(dist(0, 1) > 0.2 * full && dist(0, 1) < 0.8 * full, `mixed lies between (${dist(0, 1).toFixed(3)} of ${full.toFixed(3)})`);
    assert.ok(dist(1, 2) > 0.2 * full && dist(1, 2) < 0.8 * full);
  });

  it('mapping gives 0.9*tanh(z) on the thumbnail, sigmoid(z) as age and the latent_avg filler', async () => {
    const z = new Float32Array(3 * WDIM);
    for (let i = 0; i < z.length; i++) z[i] = Math.sin(i * 12.9898) * 3;
    const { w } = await run('mapping', { z: tensor(z, [3, WDIM]) });
    assert.deepEqual(w.dims, [3, WDIM]);
    const { latent } = await run('inversion', { image: imageTensor(stack([photo], 3, 256, 256)) });
    const out = f32(w);
    for (let n = 0; n < 3; n++) {
      for (let d = 0; d < WDIM; d++) {
        const zi = z[n * WDIM + d];
        const want = d < TDIM ? 0.9 * Math.tanh(zi) : d === TDIM ? 1 / (1 + Math.exp(-zi)) : f32(latent)[d];
        assert.ok(Math.abs(out[n * WDIM + d] - want) < 1e-5, `w[${n},${d}]`);
      }
    }
  });

  it('age regression follows the band mean without clamping raw', async () => {
    const means = [-1, -0.5, 0, 0.44, 0.9];
    const data = new Float32Array(means.length * 3 * 224 * 224);
    means.forEach((m, n) => {
      for (let ch = 0; ch < 3; ch++) {
        for (let y = 0; y < 224; y++) {
          for (let x = 0; x < 224; x++) data[((n * 3 + ch) * 224 + y) * 224 + x] = y < 24 ? m + (ch - 1) * 0.05 : -0.7;
        }
      }
    });
    const { age } = await run('age', { image: tensor(data, [means.length, 3, 224, 224]) });
    means.forEach((m, n) => {
      const raw = (100 * (m + 1)) / 2;
      let z = 0;
      let sum = 0;
      for (let k = 0; k <= 100; k++) {
        const p = Math.exp(-((k - raw) ** 2) / (2 * 1.5 ** 2));
        z += p;
        sum += k * p;
      }
      assert.ok(Math.abs(f32(age)[n] - sum / z) < 1e-3, `band mean ${m}: ${f32(age)[n]} vs ${sum / z}`);
    });
  });
});
