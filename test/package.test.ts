// The package entry as users get it: require('node-red-contrib-sam-age') from a node_modules
// folder, then the astronaut aged on the tiny designed models through the API alone.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type * as Api from '../lib/index';
import { FIXTURES, ROOT, TINY_MODELS } from './paths';

/** The tiny models' designed age: a render encoded at age a measures 0.8a + 12 (test/fixtures/models/tiny/README.md). */
const designed = (age: number): number => 0.8 * age + 12;

describe('package entry (require by name)', function () {
  this.timeout(120_000);
  let project: string;
  let sam: typeof Api;

  before(function () {
    // A user's project with this package installed (npm links a local install the same way).
    project = mkdtempSync(join(tmpdir(), 'sam-age-user-'));
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(ROOT, join(project, 'node_modules', 'node-red-contrib-sam-age'), 'dir');
    const entry = require.resolve('node-red-contrib-sam-age', { paths: [project] });
    assert.equal(realpathSync(entry), join(ROOT, 'dist', 'lib', 'index.js'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sam = require(entry) as typeof Api;
  });
  after(function () {
    rmSync(project, { recursive: true, force: true });
  });

  it('ages the astronaut: align, encode at ages, generate, measure age and identity, optimize', async function () {
    const rt = sam.createRuntime({ modelDir: TINY_MODELS, provider: 'cpu', threads: 1 });
    try {
      assert.equal(rt.provider, 'cpu');
      const warm = await sam.warmUp(rt);
      assert.deepEqual(warm.models, ['inversion', 'aging', 'generator', 'generator-512', 'generator-256', 'mapping', 'age', 'identity']);
      assert.equal((await rt.runtime.stats()).runs, 2 * warm.models.length);
      assert.deepEqual(warm.faceNets, ['ssdMobilenetv1', 'faceLandmark68Net', 'ageGenderNet', 'faceRecognitionNet']);
      const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
      const { faces } = await sam.align(rt, photo);
      assert.equal(faces.length, 1);
      const face = faces[0];
      assert.equal((await sharp(face.image).metadata()).width, 256);
      assert.equal(face.landmarks.length, 68);

      const latent = await sam.encode(rt, face.image, '20:60:40');
      assert.deepEqual(latent.dims, [2, 18, 512]);
      assert.deepEqual(latent.ages, [20, 60]);

      const { images } = await sam.generate(rt, latent, { size: 256 });
      assert.deepEqual(images.map((i) => i.ages), [[20], [60]]);
      for (const { payload, ages } of images) {
        const meta = await sharp(payload).metadata();
        assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
        const measured = await sam.measureAge(rt, payload, { aligned: true });
        assert.equal(measured?.backend, 'onnx');
        assert.ok(Math.abs((measured?.age ?? NaN) - designed(ages[0])) < 1.5, `target ${ages[0]}: measured ${measured?.age}`);
      }
      const same = await sam.measureIdentity(rt, images[0].payload, images[1].payload);
      const other = await sam.measureIdentity(rt, images[0].payload, await sharp(images[0].payload).flip().negate({ alpha: false }).png().toBuffer());
      assert.ok(same > 0.9 && other < 0.5, `same person ${same}, another ${other}`);

      const strip = await sam.generate(rt, latent, { mode: 'strip', size: 256 }, { aligned: face.image });
      assert.equal((await sharp(strip.images[0].payload).metadata()).width, 3 * 256, 'the input face and two ages');

      const { latent: path, report } = await sam.optimize(rt, face.image, { ages: [20, 60], budget: 6 });
      assert.deepEqual(path.ages, [20, 60]);
      assert.ok(report.maeAfter < report.maeBefore, `age error ${report.maeBefore} -> ${report.maeAfter}`);
    } finally {
      await rt.close();
    }
    await assert.rejects(sam.encode(rt, readFileSync(join(FIXTURES, 'astronaut.png')), 30), { name: 'RuntimeError', code: 'ECLOSED' });
  });

  it('checks settings with exact messages and parses ages', async function () {
    assert.deepEqual(sam.parseAges('0:100:25'), [0, 25, 50, 75, 100]);
    assert.throws(() => sam.createRuntime({ threads: -1 }), { name: 'RangeError', message: 'Expected an integer between 0 and 256 for threads but received -1 of type number' });
    assert.equal(sam.RUNTIME_DEFAULTS.modelDir, 'models/sam-ffhq');
    const rt = sam.createRuntime({ modelDir: TINY_MODELS, provider: 'cpu' });
    try {
      await assert.rejects(sam.encode(rt, Buffer.alloc(1), '0:100:10', { alpha: 2 }), { name: 'RangeError', message: 'Expected a mixing alpha between 0 and 1 but received 2' });
      await assert.rejects(sam.encode(rt, Buffer.alloc(1), 130), { name: 'RangeError', message: 'Expected target ages between 0 and 100 years but received 130' });
    } finally {
      await rt.close();
    }
  });

  it('documents every function it exports, with an example and what it throws', function () {
    const types = readFileSync(join(ROOT, 'dist', 'lib', 'index.d.ts'), 'utf8');
    const functions = [...types.matchAll(/(\/\*\*(?:(?!\*\/)[\s\S])*\*\/)?\s*export declare function (\w+)/g)];
    assert.deepEqual(functions.map((m) => m[2]).sort(), ['align', 'createRuntime', 'encode', 'generate', 'measureAge', 'measureIdentity', 'optimize', 'warmUp']);
    for (const [, doc, name] of functions) {
      assert.ok(doc, `${name} has JSDoc`);
      assert.match(doc, /@example/, `${name} has an example`);
      assert.match(doc, /@throws/, `${name} says what it throws`);
    }
    assert.equal(typeof sam.parseAges, 'function');
  });
});
