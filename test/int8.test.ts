// int8 variants: the quantizer (tools/export/quantize.py) on the tiny designed models, the
// int8 files against their contracts, the runtime's precision choice, the designed tolerance
// of an int8 graph, and a deliberately broken calibration refused with its failing figure.
// Needs Debian's /usr/bin/python3 with torch and onnx; skips without them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import helper, { type TestFlows } from 'node-red-node-test-helper';
import type { Node } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import type { AgeRuntimeConfigNode } from '../nodes/shared/runtime-client';
import { checkSignature, findModel, readModelFolder, type ValueSignature } from '../lib/contracts/contracts';
import { AgeRuntime, validateRuntimeOptions } from '../lib/runtime/runtime';
import type { RunAge } from '../lib/cli/run';
import { cli } from './cli-capture';
// Its helper.init allows the system's temporary folder, where this file copies the models (alone too).
import './node-helpers';
import { FIXTURES, ROOT, TINY_MODELS } from './paths';
import { skipBecause } from './skip';

const PYTHON = '/usr/bin/python3';
const QUANTIZE = join(ROOT, 'tools', 'export', 'quantize.py');

function quantize(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, [QUANTIZE, '--node', process.execPath, '--threads', '1', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const signatureOf = (values: readonly ort.InferenceSession.ValueMetadata[]): ValueSignature[] =>
  values.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: 'non-tensor', shape: [] }));

/** A smooth image in [-1, 1] with every channel different, so each thumbnail cell has its own value. */
function smoothImage(): Float32Array {
  const data = new Float32Array(3 * 256 * 256);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) data[c * 65536 + y * 256 + x] = 0.9 * Math.sin((x + 2 * y) / 40 + c) * Math.cos((x - y) / 70);
    }
  }
  return data;
}

/** The tiny inversion's designed thumbnail: the 8x8 average pool, channel-major. */
function designedThumbnail(image: Float32Array): Float32Array {
  const out = new Float32Array(192);
  for (let c = 0; c < 3; c++) {
    for (let by = 0; by < 8; by++) {
      for (let bx = 0; bx < 8; bx++) {
        let sum = 0;
        for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) sum += image[c * 65536 + (by * 32 + y) * 256 + bx * 32 + x];
        out[c * 64 + by * 8 + bx] = sum / 1024;
      }
    }
  }
  return out;
}

describe('int8 variants (tiny models)', function () {
  this.timeout(240_000);
  let dir: string;
  let run: { status: number | null; stdout: string; stderr: string };

  before(function () {
    if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch, onnx'], { timeout: 60_000 }).status !== 0) {
      skipBecause(this, '/usr/bin/python3 lacks torch or onnx; apt install python3-torch python3-onnx');
    }
    dir = mkdtempSync(join(tmpdir(), 'int8-tiny-'));
    cpSync(TINY_MODELS, dir, { recursive: true });
    run = quantize(['--models', dir]);
  });
  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('quantizes what has a layer to quantize and writes its report beside the float32 files', function () {
    assert.equal(run.status, 0, run.stderr);
    // The tiny inversion pools (AveragePool); the other tiny graphs have no Conv, MatMul or pool to quantize.
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.int8.')).sort(), ['inversion.int8.json', 'inversion.int8.onnx']);
    for (const name of ['aging', 'generator', 'generator-256', 'age']) {
      assert.ok(run.stdout.includes(`int8 ${name}: no layer to quantize, stays float32 only\n`), run.stdout);
    }
    assert.match(run.stdout, /^int8 inversion: written \(1 layers int8, 0 float32\); PSNR [\d.]+ dB, age [\d.]+ y, identity [\d.]+, w\+ max [\d.e-]+, mean [\d.e-]+$/m);
    const graph = readFileSync(join(dir, 'inversion.int8.onnx'));
    assert.ok(graph.includes('QuantizeLinear') && graph.includes('DequantizeLinear'), 'the int8 graph has no QDQ pair');
    const manifest = JSON.parse(readFileSync(join(dir, 'inversion.int8.json'), 'utf8'));
    assert.equal(manifest.precision, 'int8');
    assert.equal(manifest.quantization.calibration.kind, 'generated');
    assert.equal(manifest.report.pass, true);
    const { figures, thresholds } = manifest.report;
    assert.ok(figures.psnr_db >= thresholds.psnr_db && figures.psnr_db < 120, `PSNR ${figures.psnr_db}`);
    assert.ok(figures.age_years <= thresholds.age_years, `age ${figures.age_years}`);
    assert.ok(figures.identity_cosine >= thresholds.identity_cosine && figures.identity_cosine <= 1 + 1e-6);
    assert.ok(figures.wplus_max_abs > 0 && figures.wplus_mean_abs > 0 && figures.wplus_mean_abs <= figures.wplus_max_abs, 'int8 changed nothing or the figures are wrong');
  });

  it('int8 files pass their contracts', async function () {
    const entries = readModelFolder(dir, [], 'auto');
    const inversion = entries.get('inversion')!;
    assert.equal(inversion.precision, 'int8');
    assert.equal(inversion.file, join(dir, 'inversion.int8.onnx'));
    assert.equal(entries.get('aging')!.precision, 'fp32');
    const session = await ort.InferenceSession.create(inversion.file);
    try {
      checkSignature(inversion, signatureOf(session.inputMetadata), signatureOf(session.outputMetadata));
    } finally {
      await session.release();
    }
  });

  it('the runtime picks int8 under auto and int8, float32 under fp32', async function () {
    for (const [precision, want, inUse] of [['auto', 'int8', 'cpu, int8+fp32'], ['int8', 'int8', 'cpu, int8+fp32'], ['fp32', 'fp32', 'cpu, fp32']] as const) {
      const runtime = AgeRuntime.create({ modelDir: dir, provider: 'cpu', threads: 1, precision });
      try {
        assert.equal((await runtime.openModel('inversion')).entry!.precision, want, precision);
        assert.equal((await runtime.openModel('mapping')).entry!.precision, 'fp32');
        assert.equal(runtime.inUse, inUse);
        assert.deepEqual(runtime.modelPrecisions, { inversion: want, mapping: 'fp32' });
      } finally {
        await runtime.close();
      }
    }
    assert.equal(validateRuntimeOptions({}).precision, 'auto', 'default precision');
    assert.throws(() => validateRuntimeOptions({ precision: 'int4' as never }), { name: 'RangeError', message: 'Expected one of auto, fp32, int8 for precision but received "int4" of type string' });
  });

  it('int8 asks for the variant of every quantized role; auto falls back to float32', async function () {
    const runtime = AgeRuntime.create({ modelDir: dir, provider: 'cpu', threads: 1, precision: 'int8' });
    try {
      await assert.rejects(runtime.openModel('generator'), {
        name: 'ContractError',
        code: 'ENOFILE',
        message: `int8 model missing: ${join(dir, 'generator.int8.onnx')} (precision int8); export it with --int8, or set precision to auto or fp32`,
      });
    } finally {
      await runtime.close();
    }
    assert.equal(findModel(dir, 'generator', true, 'auto')!.precision, 'fp32');
  });

  it('a variant whose report did not pass: auto runs float32, int8 refuses it', function () {
    const failed = mkdtempSync(join(tmpdir(), 'int8-failed-'));
    try {
      cpSync(dir, failed, { recursive: true });
      const file = join(failed, 'inversion.int8.json');
      const manifest = JSON.parse(readFileSync(file, 'utf8'));
      manifest.report.pass = false;
      writeFileSync(file, JSON.stringify(manifest));
      assert.equal(findModel(failed, 'inversion', true, 'auto')!.precision, 'fp32');
      assert.throws(() => findModel(failed, 'inversion', true, 'int8'), {
        code: 'EMANIFEST',
        message: `int8 model ${join(failed, 'inversion.int8.onnx')} has no passed quality report in ${file}; export it with --int8, or set precision to auto or fp32`,
      });
    } finally {
      rmSync(failed, { recursive: true, force: true });
    }
  });

  it('the int8 inversion stays within its designed tolerance', async function () {
    const runtime = AgeRuntime.create({ modelDir: dir, provider: 'cpu', threads: 1 });
    try {
      const inversion = await runtime.openModel('inversion');
      assert.equal(inversion.entry!.precision, 'int8');
      const image = smoothImage();
      const { latent } = await inversion.run({ image: { dims: [1, 3, 256, 256], data: image } });
      const want = designedThumbnail(image);
      // Designed tolerance: one uint8 step of the image input (2/255) plus one of the pooled output
      // (its calibrated range, at most 2/255), each rounded to half a step: 2/255 in all.
      const tolerance = 2 / 255;
      let worst = 0;
      for (let layer = 0; layer < 18; layer++) {
        for (let k = 0; k < 192; k++) worst = Math.max(worst, Math.abs(latent.data[layer * 512 + k] - want[k]));
        assert.equal(latent.data[layer * 512 + 192], 0, 'the age coordinate is exact');
      }
      assert.ok(worst <= tolerance, `int8 thumbnail off by ${worst} (tolerance ${tolerance})`);
      assert.ok(worst > 0, 'the int8 graph computed exactly the float32 result: nothing was quantized');
    } finally {
      await runtime.close();
    }
  });

  it('a broken calibration (flat black faces) is refused with the failing figure named', async function () {
    const broken = mkdtempSync(join(tmpdir(), 'int8-broken-'));
    try {
      const models = join(broken, 'models');
      const faces = join(broken, 'faces');
      cpSync(TINY_MODELS, models, { recursive: true });
      mkdirSync(faces);
      for (let i = 0; i < 3; i++) {
        await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(join(faces, `black-${i}.png`));
      }
      const r = quantize(['--models', models, '--calibration', faces]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^error: int8 variant not written, quality below threshold: inversion: psnr_db [\d.]+ \(threshold >= 30\)\n$/);
      assert.match(r.stdout, /^int8 inversion: not written, psnr_db [\d.]+ \(threshold >= 30\)$/m);
      assert.deepEqual(readdirSync(models).filter((f) => f.includes('int8')), [], 'a refused variant was written');
      const missing = quantize(['--models', models, '--calibration', join(broken, 'nowhere')]);
      assert.equal(missing.status, 2);
      assert.equal(missing.stderr, `error: --calibration folder not found: ${join(broken, 'nowhere')} (expected a folder of aligned face images)\n`);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  it('age-transform run --precision picks the variants and says which ran; optimize takes it too', async function () {
    const out = mkdtempSync(join(tmpdir(), 'int8-run-'));
    try {
      const photo = join(FIXTURES, 'astronaut.png');
      const run = async (precision: string) => {
        const { code, stdout, stderr } = await cli(['run', photo, '--models', dir, '--ages', '0,80', '--out', join(out, precision), '--size', '256', '--provider', 'cpu', '--threads', '1', '--json', '--precision', precision]);
        assert.equal(code, 0, stderr);
        return JSON.parse(stdout) as { ages: RunAge[]; precision: Record<string, string> };
      };
      const auto = await run('auto');
      const fp32 = await run('fp32');
      assert.deepEqual(auto.precision, { inversion: 'int8', aging: 'fp32', generator: 'fp32', age: 'fp32', identity: 'fp32' });
      assert.deepEqual(fp32.precision, { inversion: 'fp32', aging: 'fp32', generator: 'fp32', age: 'fp32', identity: 'fp32' });
      // The tiny age model reads the designed age back (0.8 a + 12); int8 stays within the same bound as float32.
      for (const report of [auto, fp32]) {
        for (const { target, measured } of report.ages) assert.ok(Math.abs(measured - (0.8 * target + 12)) < 1.5, `target ${target}: measured ${measured}`);
      }
      const table = await cli(['run', photo, '--models', dir, '--ages', '40', '--out', join(out, 'table'), '--size', '256', '--provider', 'cpu', '--threads', '1']);
      assert.equal(table.code, 0, table.stderr);
      assert.equal(table.stdout.split('\n')[2], 'precision: int8 inversion; fp32 age, aging, generator, identity', 'auto is the default');
      const strict = await cli(['run', photo, '--models', dir, '--ages', '40', '--out', join(out, 'int8'), '--provider', 'cpu', '--precision', 'int8']);
      assert.equal(strict.code, 1);
      assert.equal(strict.stderr, `age-transform run: int8 model missing: ${join(dir, 'aging.int8.onnx')} (precision int8); export it with --int8, or set precision to auto or fp32\n`);
      const optimize = await cli(['optimize', photo, '--models', dir, '--aligned', '--ages', '40', '--provider', 'cpu', '--precision', 'int8']);
      assert.equal(optimize.code, 1, 'optimize takes --precision too');
      assert.match(optimize.stderr, /^age-transform optimize: int8 model missing: .*\.int8\.onnx \(precision int8\)/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  describe('age-runtime node', function () {
    beforeEach(function (done) {
      helper.startServer(done);
    });
    afterEach(async function () {
      await helper.unload();
      await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    });

    it('takes precision from its settings and tells the editor what each model runs', async function () {
      const flow = [{ id: 'rt', type: 'age-runtime', name: 'int8', modelDir: dir, provider: 'cpu', precision: 'auto', deviceId: 0, threads: 1, queueLimit: 50 } as TestFlows[number]];
      await helper.load(ageRuntimeNode, flow);
      const config = helper.getNode('rt') as AgeRuntimeConfigNode;
      const runtime = config.register({ id: 'client' } as unknown as Node);
      await runtime.openModel('inversion');
      await runtime.openModel('generator');
      const res = await helper.request().get('/age-runtime/rt').expect(200);
      assert.equal(res.body.precision, 'auto');
      assert.deepEqual(res.body.models, { inversion: 'int8', generator: 'fp32' });
    });
  });
});
