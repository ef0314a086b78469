// The worker ops of lib/face: face.detect, face.age, face.descriptor (face-api on tfjs WASM),
// called in this process and through an AgeRuntime's worker thread.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { alignFace, alignImage } from '../lib/align/align';
import type { Point } from '../lib/align/ffhq';
import { inProcessDetector, runtimeDetector } from '../lib/face/detector';
import { alignedFaceBox, faceOps } from '../lib/face/face-ops';
import type { AgeEstimate, Detection } from '../lib/face/types';
import { decodeImage, type RgbImage } from '../lib/image/decode';
import { AgeRuntime } from '../lib/runtime/runtime';

const root = path.resolve(__dirname, '..', '..');
const shared = path.join(root, '..', 'shared', 'testdata');

const detect = (args: object): Promise<Detection[]> => faceOps['face.detect']!(args) as Promise<Detection[]>;
const age = (args: object): Promise<AgeEstimate> => faceOps['face.age']!(args) as Promise<AgeEstimate>;
const descriptor = (args: object): Promise<Float32Array> => faceOps['face.descriptor']!(args) as Promise<Float32Array>;

function eyeCentre(lm: readonly Point[], from: number): Point {
  const pts = lm.slice(from, from + 6);
  return [pts.reduce((s, p) => s + p[0], 0) / 6, pts.reduce((s, p) => s + p[1], 0) / 6];
}

function distance(a: Float32Array, b: Float32Array): number {
  return Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));
}

describe('face ops (face-api, WASM)', function () {
  this.timeout(120_000);
  let portrait: RgbImage;
  let ssd: Detection;

  let found: Detection[];

  before(async function () {
    portrait = await decodeImage(readFileSync(path.join(root, 'test/fixtures/astronaut.png')));
    found = await detect({ rgb: portrait.data, width: 512, height: 512, detector: 'ssd', minConfidence: 0.5, minFaceSize: 0 });
    ssd = found[0]!;
  });

  it('face.detect finds the portrait face with 68 landmarks in iBUG order', async function () {
    assert.equal(found.length, 1);
    assert.ok(ssd.score > 0.9, `score ${ssd.score}`);
    assert.equal(ssd.landmarks.length, 68);
    const { x, y, width, height } = ssd.box;
    for (const [px, py] of ssd.landmarks.slice(17, 68)) assert.ok(px > x - 5 && px < x + width + 5 && py > y - 5 && py < y + height + 5, 'inner landmarks lie in the box');
    // iBUG order: 36-41 the eye on the image's left, 42-47 the other; the nose tip (30) between and below them; mouth (48-67) below the nose.
    const left = eyeCentre(ssd.landmarks, 36);
    const right = eyeCentre(ssd.landmarks, 42);
    assert.ok(left[0] < right[0]);
    assert.ok(ssd.landmarks[30]![0] > left[0] && ssd.landmarks[30]![0] < right[0] && ssd.landmarks[30]![1] > left[1]);
    assert.ok(ssd.landmarks[51]![1] > ssd.landmarks[30]![1] && ssd.landmarks[57]![1] > ssd.landmarks[51]![1]);
  });

  it('face.detect with the tiny detector finds the same face', async function () {
    const [tiny, extra] = await detect({ rgb: portrait.data, width: 512, height: 512, detector: 'tiny', minConfidence: 0.5, minFaceSize: 0 });
    assert.ok(tiny && !extra);
    const gap = Math.hypot(...([0, 1] as const).map((k) => eyeCentre(tiny.landmarks, 36)[k] - eyeCentre(ssd.landmarks, 36)[k]));
    assert.ok(gap < 5, `left eye centres ${gap} px apart`);
  });

  it('face.detect drops faces under minConfidence and minFaceSize', async function () {
    const base = { rgb: portrait.data, width: 512, height: 512, detector: 'ssd' };
    assert.equal((await detect({ ...base, minConfidence: 0.99, minFaceSize: 0 })).length, ssd.score < 0.99 ? 0 : 1);
    assert.equal((await detect({ ...base, minConfidence: 0.5, minFaceSize: Math.ceil(Math.min(ssd.box.width, ssd.box.height)) + 1 })).length, 0);
  });

  it('face.detect names bad arguments', async function () {
    const base = { rgb: portrait.data, width: 512, height: 512, detector: 'ssd', minConfidence: 0.5, minFaceSize: 0 };
    await assert.rejects(detect({ ...base, detector: 'yolo' }), { name: 'TypeError', message: "face.detect: expected 'ssd' or 'tiny' for detector but received yolo" });
    await assert.rejects(detect({ ...base, width: 500 }), { name: 'RangeError', message: 'face.detect: rgb holds 786432 bytes but 500x512 RGB needs 768000' });
    await assert.rejects(detect({ ...base, minConfidence: 2 }), { name: 'TypeError', message: 'face.detect: expected a number between 0 and 1 for minConfidence but received 2 of type number' });
    await assert.rejects(detect({ ...base, rgb: 'pixels' }), { name: 'TypeError', message: 'face.detect: expected a Uint8Array for rgb but received string' });
    await assert.rejects(detect(null as unknown as object), { name: 'TypeError', message: 'face.detect: expected an object of arguments but received null' });
  });

  it('face.age estimates the portrait as an adult woman', async function () {
    const estimate = await age({ rgb: portrait.data, width: 512, height: 512, box: ssd.box });
    console.log(`      age ${estimate.age.toFixed(1)}, ${estimate.gender} (${estimate.genderProbability.toFixed(2)})`);
    assert.ok(estimate.age >= 25 && estimate.age <= 50, `age ${estimate.age}`);
    assert.equal(estimate.gender, 'female');
    assert.ok(estimate.genderProbability > 0.6);
    const [face] = (await alignImage(readFileSync(path.join(root, 'test/fixtures/astronaut.png')), inProcessDetector())).faces;
    const aligned = await decodeImage(face!.image);
    const onAligned = await age({ rgb: aligned.data, width: 256, height: 256, box: alignedFaceBox(256) });
    assert.ok(Math.abs(onAligned.age - estimate.age) < 10, `aligned ${onAligned.age} vs crop ${estimate.age}`);
  });

  it('face.descriptor gives unit 128-d vectors that tell people apart', async function () {
    const file = path.join(shared, 'photos', 'group5.jpg');
    const at = async (buffer: Buffer, size: number, mode: 'largest' | 'all' = 'largest'): Promise<Float32Array[]> => {
      const { faces } = await alignImage(buffer, inProcessDetector(), { size, mode });
      return Promise.all(
        faces.map(async (f) => {
          const img = await decodeImage(f.image);
          return descriptor({ rgb: img.data, width: size, height: size, box: alignedFaceBox(size) });
        }),
      );
    };
    // The same landmarks aligned at two sizes: the same face, resampled differently.
    const lm = (JSON.parse(readFileSync(path.join(root, 'test/fixtures/align/astronaut-landmarks.json'), 'utf8')) as { landmarks: Point[] }).landmarks;
    const of = async (size: number): Promise<Float32Array> => descriptor({ rgb: (await alignFace(portrait, lm, { size })).rgb, width: size, height: size, box: alignedFaceBox(size) });
    const small = await of(256);
    const large = await of(1024);
    assert.ok(small instanceof Float32Array && small.length === 128);
    assert.ok(Math.abs(Math.hypot(...small) - 1) < 1e-5, 'unit length');
    const same = distance(small, large!);
    console.log(`      same face at 256 and 1024: distance ${same.toFixed(3)}`);
    assert.ok(same < 0.15, `same face ${same}`);
    if (!existsSync(file)) {
      console.log(`      skipped the other-people half: ${path.relative(root, file)} not found (../shared/testdata)`);
      return;
    }
    const others = await at(readFileSync(file), 256, 'all');
    const nearest = Math.min(...others.map((d) => distance(small, d)));
    console.log(`      nearest other person: distance ${nearest.toFixed(3)}`);
    assert.ok(nearest > 2 * same, `another person at ${nearest}, the same face at ${same}`);
  });

  it('runs in an AgeRuntime worker with the same results', async function () {
    const runtime = AgeRuntime.create({ provider: 'cpu' });
    try {
      const loaded = await runtime.call<{ backend: string }>('face.load', { nets: ['ssdMobilenetv1', 'faceLandmark68Net'] });
      assert.equal(loaded.backend, 'wasm');
      const [there] = await runtimeDetector(runtime)(portrait.data, 512, 512);
      assert.ok(there);
      assert.ok(Math.abs(there.score - ssd.score) < 1e-6);
      assert.ok(there.landmarks.every((p, i) => Math.abs(p[0] - ssd.landmarks[i]![0]) < 1e-3 && Math.abs(p[1] - ssd.landmarks[i]![1]) < 1e-3));
      const d = await runtime.call<Float32Array>('face.descriptor', { rgb: portrait.data, width: 512, height: 512, box: ssd.box });
      assert.ok(d instanceof Float32Array && d.length === 128);
      await assert.rejects(runtime.call('face.detect', { rgb: portrait.data, width: 512, height: 512, detector: 'yolo' }), {
        message: "face.detect: expected 'ssd' or 'tiny' for detector but received yolo",
      });
    } finally {
      await runtime.close();
    }
  });
});
