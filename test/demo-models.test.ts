// The designed demo models of models/demo: the same contracts as a real export, the face kept
// through W+, age cues the bundled face-api age net reads in order, a DEMO mark on every
// image, and "demo models" in the status of the nodes that use them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import { isDemoFolder, MODEL_FILES, readModelFolder, type Manifest } from '../lib/contracts/contracts';
import { alignImage } from '../lib/align/align';
import { runtimeDetector } from '../lib/face/detector';
import { AgeRuntime } from '../lib/runtime/runtime';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE, encodeAges } from '../lib/sam/encode';
import { imageToTensor, tensorToRgb } from '../lib/sam/image';
import type { RgbImage } from '../lib/image/decode';
import { measureAges } from '../lib/sam/measure';
import { render } from '../lib/sam/render';
import { generate } from '../lib/sam/output';
import { validateOutputOptions } from '../lib/sam/output-options';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import faceAlignNode from '../nodes/face-align/face-align';
import ageEncodeNode from '../nodes/age-encode/age-encode';
import ageGenerateNode from '../nodes/age-generate/age-generate';
import { FIXTURES, ROOT, TINY_MODELS } from './paths';
import { helper, next, useNodeRed } from './node-helpers';

const DEMO_MODELS = join(ROOT, 'models', 'demo');
const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
const generatorManifest = JSON.parse(readFileSync(join(DEMO_MODELS, 'generator.json'), 'utf8')) as Manifest & {
  demoMark: { text: string; box: { x: number; y: number; width: number; height: number } };
  neutralAges: [number, number];
};

/** Spearman's rank correlation (ties get their mean rank). */
function spearman(a: number[], b: number[]): number {
  const ranks = (v: number[]): number[] => {
    const order = v.map((x, i) => [x, i]).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const [ra, rb] = [ranks(a), ranks(b)];
  const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
  const [ma, mb] = [mean(ra), mean(rb)];
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i] - ma) * (rb[i] - mb);
    da += (ra[i] - ma) ** 2;
    db += (rb[i] - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

/** Pixels of the mark box (fractions of the side) in a square RGB image. */
function markBox(size: number): { x0: number; y0: number; x1: number; y1: number } {
  const { x, y, width, height } = generatorManifest.demoMark.box;
  return { x0: Math.floor(x * size), y0: Math.floor(y * size), x1: Math.ceil((x + width) * size), y1: Math.ceil((y + height) * size) };
}

/** PSNR (dB) and Pearson correlation of two RGB images of one size, leaving out the mark's box. */
function similarity(a: RgbImage, b: RgbImage): { psnr: number; correlation: number } {
  const box = markBox(a.width);
  let se = 0;
  let n = 0;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1) continue;
      for (let c = 0; c < 3; c++) {
        const i = (y * a.width + x) * 3 + c;
        const [p, q] = [a.data[i], b.data[i]];
        se += (p - q) ** 2;
        sa += p;
        sb += q;
        saa += p * p;
        sbb += q * q;
        sab += p * q;
        n++;
      }
    }
  }
  const cov = sab / n - (sa / n) * (sb / n);
  return { psnr: 10 * Math.log10((255 * 255) / (se / n)), correlation: cov / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2)) };
}

/**
 * Whether an image carries the mark: in its bottom-right box, near-white letter pixels on a
 * dark ground, and more of them than an unmarked image would have there.
 */
function hasDemoMark(image: RgbImage): boolean {
  const box = markBox(Math.min(image.width, image.height));
  const offsetX = image.width - Math.min(image.width, image.height);
  const offsetY = image.height - Math.min(image.width, image.height);
  let white = 0;
  let dark = 0;
  let all = 0;
  for (let y = box.y0 + offsetY; y < box.y1 + offsetY; y++) {
    for (let x = box.x0 + offsetX; x < box.x1 + offsetX; x++) {
      const i = (y * image.width + x) * 3;
      const v = Math.min(image.data[i], image.data[i + 1], image.data[i + 2]);
      const m = Math.max(image.data[i], image.data[i + 1], image.data[i + 2]);
      if (v > 235) white++;
      if (m < 110) dark++;
      all++;
    }
  }
  return white / all > 0.15 && white / all < 0.5 && dark / all > 0.3;
}

async function decodeRgb(buffer: Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(buffer).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe('demo models (models/demo)', function () {
  this.timeout(120000);
  let runtime: AgeRuntime;
  let models: SamModels;
  let aligned: Buffer;

  before(async function () {
    runtime = AgeRuntime.create({ modelDir: DEMO_MODELS, provider: 'cpu', threads: 1 });
    models = new SamModels(runtime);
    const { faces } = await alignImage(photo, runtimeDetector(runtime), { size: ENCODER_SIZE });
    aligned = faces[0].image;
  });
  after(async function () {
    await models.release();
    await runtime.close();
  });

  it('follow the contracts, say demo in every manifest, and stay small', async function () {
    const entries = readModelFolder(DEMO_MODELS, ['inversion', 'aging', 'generator']);
    assert.deepEqual([...entries.keys()].sort(), ['aging', 'generator', 'inversion', 'mapping']);
    let bytes = 0;
    for (const entry of entries.values()) {
      assert.equal(entry.manifest.demo, true, `${entry.name}.json says demo`);
      assert.match(String(entry.manifest.exporter), /^demo-models /);
      const session = await models.require(entry.name); // checks the ONNX signature against the contract
      assert.equal(session.entry?.role, MODEL_FILES.find((f) => f.name === entry.name)!.role);
      bytes += readFileSync(entry.file).length;
    }
    assert.ok(bytes < 4 * 2 ** 20, `a few MB at most (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
    assert.equal(isDemoFolder(DEMO_MODELS), true);
    assert.equal(isDemoFolder(TINY_MODELS), false, 'the tiny fixtures are not demo models');
    assert.equal(runtime.demo, true);
  });

  it('keep the face: the render at the input age matches the aligned input', async function () {
    const input = await imageToTensor(aligned, ENCODER_SIZE);
    const [inputAge] = await measureAges(models, input, 'faceapi');
    const age = Math.round(Math.min(100, Math.max(0, inputAge)));
    const latent = await encodeAges(models, input, [age, generatorManifest.neutralAges[0]]);
    const images = await render(models, latent.data, 2);
    const reference = tensorToRgb(input);
    for (const [k, which] of [[0, `input age ${age}`], [1, 'neutral age']] as const) {
      const { psnr, correlation } = similarity(tensorToRgb(images, k), reference);
      assert.ok(psnr > 22, `${which}: PSNR ${psnr.toFixed(1)} dB`);
      assert.ok(correlation > 0.95, `${which}: correlation ${correlation.toFixed(3)}`);
    }
    // A smooth picture, not blocks: neighbouring pixels rarely jump.
    const rgb = tensorToRgb(images, 0);
    let jumps = 0;
    for (let y = 0; y < 200; y++) for (let x = 1; x < 256; x++) if (Math.abs(rgb.data[(y * 256 + x) * 3] - rgb.data[(y * 256 + x - 1) * 3]) > 40) jumps++;
    assert.ok(jumps < 100, `${jumps} hard edges in the face area`);
  });

  it('age as designed: face-api measures rising ages over 0:100:10 (Spearman >= 0.8), grey hair when old, a softer face when young', async function () {
    const ages = Array.from({ length: 11 }, (_, i) => i * 10);
    const input = await imageToTensor(aligned, ENCODER_SIZE);
    const latent = await encodeAges(models, input, ages);
    const images = await render(models, latent.data, ages.length);
    const measured = await measureAges(models, images, 'faceapi');
    const rho = spearman(ages, measured);
    assert.ok(rho >= 0.8, `Spearman ${rho.toFixed(3)}; measured ${measured.map((a) => a.toFixed(1)).join(', ')}`);
    assert.ok(measured[10] - measured[0] > 15, `old and young differ by more than 15 years (${measured[0].toFixed(1)} -> ${measured[10].toFixed(1)})`);
    // Hair (the top band of the aligned frame) loses colour and gets lighter with age.
    const hair = (k: number): { saturation: number; lightness: number } => {
      const rgb = tensorToRgb(images, k);
      let saturation = 0;
      let lightness = 0;
      let n = 0;
      for (let y = 20; y < 60; y++) {
        for (let x = 70; x < 186; x++) {
          const i = (y * 256 + x) * 3;
          const [r, g, b] = [rgb.data[i], rgb.data[i + 1], rgb.data[i + 2]];
          saturation += Math.max(r, g, b) - Math.min(r, g, b);
          lightness += (r + g + b) / 3;
          n++;
        }
      }
      return { saturation: saturation / n, lightness: lightness / n };
    };
    assert.ok(hair(10).saturation < 0.5 * hair(4).saturation, `greyer hair at 100 (${hair(10).saturation.toFixed(1)} vs ${hair(4).saturation.toFixed(1)})`);
    assert.ok(hair(10).lightness > hair(4).lightness + 15, 'lighter hair at 100');
    // The cheeks are smoother (less local contrast) for a child.
    const roughness = (k: number): number => {
      const rgb = tensorToRgb(images, k);
      let sum = 0;
      for (let y = 140; y < 170; y++) for (let x = 80; x < 110; x++) sum += Math.abs(2 * rgb.data[(y * 256 + x) * 3 + 1] - rgb.data[(y * 256 + x - 1) * 3 + 1] - rgb.data[(y * 256 + x + 1) * 3 + 1]);
      return sum;
    };
    assert.ok(roughness(0) < roughness(4), `smoother cheeks at 0 (${roughness(0)} vs ${roughness(4)})`);
    assert.ok(roughness(10) > roughness(4), `rougher cheeks at 100 (${roughness(10)} vs ${roughness(4)})`);
  });

  it('mark every image DEMO: renders, strip tiles, animation frames and paste-back', async function () {
    const input = await imageToTensor(aligned, ENCODER_SIZE);
    const latent = await encodeAges(models, input, [10, 80]);
    const renders = await render(models, latent.data, 2);
    for (const k of [0, 1]) assert.ok(hasDemoMark(tensorToRgb(renders, k)), `render ${k} is marked`);
    assert.ok(!hasDemoMark(await decodeRgb(aligned)), 'the check finds no mark on the unmarked input');

    const sequence = await generate(models, { latent }, validateOutputOptions({ mode: 'sequence', size: 512 }));
    for (const image of sequence.images) assert.ok(hasDemoMark(await decodeRgb(image.payload)), 'a 512 px sequence image is marked');

    const strip = await decodeRgb((await generate(models, { latent, aligned }, validateOutputOptions({ mode: 'strip', size: 256, labels: false }))).images[0].payload);
    const tile = (t: number): RgbImage => {
      const data = new Uint8Array(256 * 256 * 3);
      for (let y = 0; y < 256; y++) data.set(strip.data.subarray((y * strip.width + t * 256) * 3, (y * strip.width + t * 256 + 256) * 3), y * 256 * 3);
      return { data, width: 256, height: 256 };
    };
    assert.ok(!hasDemoMark(tile(0)), 'the input tile is the user’s own face, unmarked');
    assert.ok(hasDemoMark(tile(1)) && hasDemoMark(tile(2)), 'every aged tile is marked');

    const animation = (await generate(models, { latent }, validateOutputOptions({ mode: 'animation', size: 256, frames: 2, labels: false, animationFormat: 'webp' }))).images[0].payload;
    const pages = (await sharp(animation, { animated: true }).metadata()).pages ?? 1;
    assert.equal(pages, 4);
    for (let page = 0; page < pages; page++) {
      const { data, info } = await sharp(animation, { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.ok(hasDemoMark({ data, width: info.width, height: info.height }), `animation frame ${page} is marked`);
    }

    const { faces } = await alignImage(photo, runtimeDetector(runtime), { size: ENCODER_SIZE });
    const pasted = await generate(models, { latent, original: photo, face: faces[0] }, validateOutputOptions({ mode: 'paste-back' }));
    for (const image of pasted.images) {
      const rgb = await decodeRgb(image.payload);
      assert.deepEqual([rgb.width, rgb.height], [512, 512]);
      assert.ok(hasDemoMark(rgb), 'the pasted photo is marked');
      const border = image.border!;
      assert.ok(border.after < border.before, `colour matching narrows the seam (${border.before.toFixed(1)} -> ${border.after.toFixed(1)} levels)`);
    }
    assert.equal(pasted.measures?.ages.length, 2, 'paste-back measures each age');
    assert.ok(!hasDemoMark(await decodeRgb(photo)), 'the original photo has no mark');
  });
  it('show their aging in the pasted photo: the hair greys between 20 and 70 as in the renders, without a seam', async function () {
    const { faces } = await alignImage(photo, runtimeDetector(runtime), { size: ENCODER_SIZE });
    const input = await imageToTensor(aligned, ENCODER_SIZE);
    const latent = await encodeAges(models, input, [20, 70]);
    const renders = await render(models, latent.data, 2);
    const pasted = await generate(models, { latent, original: photo, face: faces[0] }, validateOutputOptions({ mode: 'paste-back' }));
    const photos = await Promise.all(pasted.images.map((image) => decodeRgb(image.payload)));
    const original = await decodeRgb(photo);
    /** Mean saturation (max - min channel) and lightness of a region of the aligned frame (fractions), read in an image through a placement's transform. */
    const inPhotoOf = ({ transform: [[a, b, c], [d, e, f]], size }: { transform: number[][]; size: number }, image: RgbImage, [u0, u1]: number[], [v0, v1]: number[]): { saturation: number; lightness: number } => {
      let saturation = 0;
      let lightness = 0;
      let n = 0;
      for (let y = Math.floor(v0 * size); y < v1 * size; y++) {
        for (let x = Math.floor(u0 * size); x < u1 * size; x++) {
          const i = (Math.round(d * x + e * y + f) * image.width + Math.round(a * x + b * y + c)) * 3;
          saturation += Math.max(image.data[i], image.data[i + 1], image.data[i + 2]) - Math.min(image.data[i], image.data[i + 1], image.data[i + 2]);
          lightness += (image.data[i] + image.data[i + 1] + image.data[i + 2]) / 3;
          n++;
        }
      }
      return { saturation: saturation / n, lightness: lightness / n };
    };
    const inPhoto = (image: RgbImage, u: number[], v: number[]): { saturation: number; lightness: number } => inPhotoOf(faces[0], image, u, v);
    const hair = [[0.27, 0.73], [0.08, 0.23]];
    const cheek = [[0.31, 0.43], [0.55, 0.66]];
    const [young, old] = photos.map((p) => inPhoto(p, hair[0], hair[1]));
    assert.ok(old.saturation < 0.65 * young.saturation, `greyer hair at 70 than at 20 in the pasted photo (saturation ${young.saturation.toFixed(1)} -> ${old.saturation.toFixed(1)})`);
    assert.ok(old.lightness > young.lightness + 15, `lighter hair at 70 (${young.lightness.toFixed(1)} -> ${old.lightness.toFixed(1)})`);
    // The paste keeps what the model did: the hair as grey as in the aligned render at 70, the skin as pale.
    const identity = { transform: [[1, 0, 0], [0, 1, 0]], size: 256 };
    const renderHair = inPhotoOf(identity, tensorToRgb(renders, 1), hair[0], hair[1]).saturation;
    assert.ok(old.saturation < renderHair + 8, `the pasted hair keeps the render's grey (${old.saturation.toFixed(1)} vs ${renderHair.toFixed(1)} in the render)`);
    const skin = inPhoto(photos[1], cheek[0], cheek[1]).saturation;
    assert.ok(skin < inPhoto(original, cheek[0], cheek[1]).saturation - 5, `paler cheeks at 70 than in the photo (${skin.toFixed(1)})`);
    for (const image of pasted.images) {
      assert.ok(image.border!.after < 3, `no colour seam at ${image.ages[0]} (${image.border!.before.toFixed(1)} -> ${image.border!.after.toFixed(1)} levels)`);
    }
  });
});

describe('demo models in a flow', function () {
  this.timeout(120000);
  useNodeRed();

  /** photo -> face-align -> age-encode -> age-generate on a folder; resolves with each node's last status text. */
  async function statuses(modelDir: string): Promise<{ last: Record<string, string>; msg: NodeMessage & { measuredAge?: number[]; identity?: number[] } }> {
    const flow = [
      { id: 'flow', type: 'tab' },
      { id: 'rt', type: 'age-runtime', name: 'models', modelDir, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
      { id: 'fa', z: 'flow', type: 'face-align', runtime: 'rt', size: 256, mode: 'largest', detector: 'ssd', minConfidence: 0.5, minFaceSize: 20, maxPixels: 40000000, wires: [['enc'], []] },
      { id: 'enc', z: 'flow', type: 'age-encode', runtime: 'rt', targetAge: '20,70', mixing: 'none', layers: '8-17', alpha: 1, variants: 3, seed: 0, wires: [['gen']] },
      { id: 'gen', z: 'flow', type: 'age-generate', runtime: 'rt', mode: 'strip', format: 'png', size: 256, labels: true, wires: [['out']] },
      { id: 'out', z: 'flow', type: 'helper' },
    ] as TestFlows;
    await helper.load([ageRuntimeNode, faceAlignNode, ageEncodeNode, ageGenerateNode], flow);
    const last: Record<string, string> = {};
    for (const id of ['fa', 'enc', 'gen']) {
      const node = helper.getNode(id) as Node & { status: (s: { text?: string }) => void };
      const original = node.status.bind(node);
      node.status = (s: { text?: string }) => {
        last[id] = String(s.text ?? '');
        original(s);
      };
    }
    const done = next<NodeMessage>(helper.getNode('out'));
    (helper.getNode('fa') as Node).receive({ payload: photo });
    return { last, msg: await done };
  }

  it('every node on the demo models says "demo models" in its status; on other models none does', async function () {
    const { last: demo, msg } = await statuses(DEMO_MODELS);
    // The test helper loads the message catalogues: statuses read as the user reads them.
    for (const [id, type] of [['fa', 'face-align'], ['enc', 'age-encode'], ['gen', 'age-generate']]) {
      const locale = JSON.parse(readFileSync(join(ROOT, 'nodes', type, 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<string, { status: { demo: string } }>;
      assert.equal(locale[type].status.demo, 'demo models');
      assert.ok(demo[id].endsWith(' · demo models'), `${id}: "${demo[id]}"`);
    }
    await helper.unload();
    // Per age, the strip reports the measured age (face-api's age net) and identity (face-api's recognition net).
    assert.equal(msg.measuredAge?.length, 2);
    assert.ok(msg.measuredAge![1] > msg.measuredAge![0], `older at 70 than at 20 (${msg.measuredAge!.join(', ')})`);
    assert.equal(msg.identity?.length, 2);
    for (const similarity of msg.identity!) assert.ok(similarity > 0.8 && similarity <= 1.0001, `the same person (${similarity})`);
    const { last: tiny } = await statuses(TINY_MODELS);
    for (const id of ['fa', 'enc', 'gen']) assert.doesNotMatch(tiny[id], /demo/, `${id}: "${tiny[id]}"`);
  });
});
