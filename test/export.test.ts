// The model exporter (tools/export): official key layout, export of random-weight checkpoints in the
// official formats (the reduced "small" architecture, see tools/export/README.md), parity between
// PyTorch and onnxruntime-node, the model-folder contract, one run of the chain, and the one-line
// errors for bad input, all through `age-transform export` as users run it. Needs Debian's
// /usr/bin/python3 with torch and onnx; skips without them.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { checkSignature, MODEL_FILES, readModelFolder, type ValueSignature } from '../lib/contracts/contracts';
import { cli } from './cli-capture';

const root = path.resolve(__dirname, '..', '..');
const PYTHON = '/usr/bin/python3';
const tool = (name: string): string => path.join(root, 'tools', 'export', name);
const ALL_MODELS = MODEL_FILES.map((f) => f.name);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function python(args: string[], timeoutMs = 180_000): Run {
  const r = spawnSync(PYTHON, args, { cwd: root, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function pythonHasTorch(): boolean {
  if (!existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import torch, onnx'], { encoding: 'utf8', timeout: 60_000 }).status === 0;
}

/** Runs the exporter through `age-transform export` on the small architecture. */
async function exportModels(args: string[]): Promise<Run> {
  const { code, stdout, stderr } = await cli(['export', '--small', ...args]);
  return { status: code, stdout, stderr };
}

function signatureOf(values: readonly ort.InferenceSession.ValueMetadata[]): ValueSignature[] {
  return values.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: 'non-tensor', shape: [] }));
}

function randomImage(n: number, size: number, seed: number): ort.Tensor {
  const data = new Float32Array(n * 3 * size * size);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = (s / 2147483648) * 2 - 1;
  }
  return new ort.Tensor('float32', data, [n, 3, size, size]);
}

/** Center crop of an NCHW tensor. */
function centerCrop(t: ort.Tensor, to: number): ort.Tensor {
  const [n, c, h, w] = t.dims as number[];
  const src = t.data as Float32Array;
  const top = (h - to) >> 1;
  const left = (w - to) >> 1;
  const out = new Float32Array(n * c * to * to);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < to; y++) {
      const from = p * h * w + (top + y) * w + left;
      out.set(src.subarray(from, from + to), p * to * to + y * to);
    }
  }
  return new ort.Tensor('float32', out, [n, c, to, to]);
}

describe('model exporter (tools/export)', function () {
  this.timeout(240_000);
  let work = '';
  let ckpt = '';
  let models = '';
  const sessions = new Map<string, ort.InferenceSession>();

  before(function () {
    if (!pythonHasTorch()) {
      console.log(`      skipped: ${PYTHON} lacks torch or onnx (install python3-torch python3-onnx)`);
      this.skip();
    }
    work = mkdtempSync(path.join(tmpdir(), 'sam-export-test-'));
    ckpt = path.join(work, 'ckpt');
    models = path.join(work, 'models', 'sam-ffhq');
    const made = python([tool('make_checkpoints.py'), '--small', '--bad-cases', '--out', ckpt]);
    assert.equal(made.status, 0, made.stderr);
  });

  after(async () => {
    for (const s of sessions.values()) await s.release();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('builds modules with exactly the official key names and shapes (full size, meta device)', () => {
    const r = python([tool('check_layout.py'), path.join(root, 'test', 'fixtures', 'export', 'official-layout.json')]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ok: true, sam: 1413, dex: 32, arcface: 397 });
  });

  it('exports the random-weight checkpoints and passes the parity report', async () => {
    const r = await exportModels([
      '--sam', path.join(ckpt, 'sam_ffhq_aging.pt'),
      '--dex', path.join(ckpt, 'dex_age_classifier.pth'),
      '--arcface', path.join(ckpt, 'model_ir_se50.pth'),
      '--out', models, '--verify',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const report = JSON.parse(readFileSync(path.join(models, 'verify.json'), 'utf8')) as {
      pass: boolean;
      models: Record<string, Record<string, { max_abs: number; tolerance: number; pass: boolean }>>;
      checks: Record<string, { max_abs: number; pass: boolean }>;
    };
    assert.equal(report.pass, true);
    assert.deepEqual(Object.keys(report.models).sort(), [...ALL_MODELS].sort());
    for (const [model, outs] of Object.entries(report.models)) {
      for (const [name, d] of Object.entries(outs)) assert.ok(d.pass && d.max_abs <= d.tolerance, `${model}.${name}: ${d.max_abs}`);
    }
    assert.ok(report.checks.codes_vs_sam_forward.pass && report.checks.codes_vs_sam_forward.max_abs <= 1e-3);
    assert.ok(report.checks.render_vs_sam_forward.pass && report.checks.render_vs_sam_forward.max_abs <= 1e-2);
    const beside = readdirSync(path.dirname(models));
    assert.deepEqual(beside, ['sam-ffhq'], 'no temporary folder is left beside the output');
  });

  it('writes a folder that readModelFolder and checkSignature accept, with manifests naming the source', async () => {
    const entries = readModelFolder(models, ALL_MODELS);
    assert.deepEqual([...entries.keys()].sort(), [...ALL_MODELS].sort());
    const samHash = createHash('sha256').update(readFileSync(path.join(ckpt, 'sam_ffhq_aging.pt'))).digest('hex');
    for (const entry of entries.values()) {
      const session = await ort.InferenceSession.create(entry.file);
      sessions.set(entry.name, session);
      checkSignature(entry, signatureOf(session.inputMetadata), signatureOf(session.outputMetadata));
      assert.equal(entry.manifest.opset, 17);
      assert.match(String(entry.manifest.exporter), /^tools\/export \d+\.\d+\.\d+/);
      assert.ok(entry.manifest.source && /^[0-9a-f]{64}$/.test(entry.manifest.source.sha256));
      if (['inversion', 'aging', 'generator', 'generator-256', 'mapping'].includes(entry.name)) {
        assert.deepEqual(entry.manifest.source, { file: 'sam_ffhq_aging.pt', sha256: samHash });
      }
    }
    assert.equal(entries.get('generator')?.manifest.resolution, 1024);
    assert.equal(entries.get('generator-256')?.manifest.resolution, 256);
    assert.equal(entries.get('age')?.manifest.source?.file, 'dex_age_classifier.pth');
    assert.equal(entries.get('identity')?.manifest.source?.file, 'model_ir_se50.pth');
  });

  it('runs the chain once: inversion + aging -> generator -> age (batch 1)', async () => {
    const run = async (name: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> => {
      const session = sessions.get(name);
      assert.ok(session, `${name} loaded`);
      return session.run(feeds);
    };
    const image = randomImage(1, 256, 42);
    const { latent } = await run('inversion', { image });
    const young = (await run('aging', { image, age: new ort.Tensor('float32', Float32Array.of(20), [1]) })).delta;
    const old = (await run('aging', { image, age: new ort.Tensor('float32', Float32Array.of(70), [1]) })).delta;
    assert.deepEqual(latent.dims, [1, 18, 512]);
    assert.deepEqual(old.dims, [1, 18, 512]);
    const lat = latent.data as Float32Array;
    const codes = new Float32Array(lat.length);
    let ageEffect = 0;
    for (let i = 0; i < codes.length; i++) {
      codes[i] = lat[i] + (old.data as Float32Array)[i];
      ageEffect += Math.abs((old.data as Float32Array)[i] - (young.data as Float32Array)[i]);
    }
    assert.ok(ageEffect / codes.length > 1e-3, 'the age input changes the delta');
    const w = new ort.Tensor('float32', codes, [1, 18, 512]);
    const full = (await run('generator', { latent: w })).image;
    assert.deepEqual(full.dims, [1, 3, 1024, 1024]);
    assert.ok((full.data as Float32Array).every(Number.isFinite));
    const small = (await run('generator-256', { latent: w })).image;
    assert.deepEqual(small.dims, [1, 3, 256, 256]);
    const measured = await run('age', { image: centerCrop(small, 224) });
    assert.deepEqual(measured.probs.dims, [1, 101]);
    const probs = measured.probs.data as Float32Array;
    const total = probs.reduce((a, b) => a + b, 0);
    const expectation = probs.reduce((a, p, j) => a + p * j, 0);
    assert.ok(Math.abs(total - 1) < 1e-4, `probs sum to 1 (${total})`);
    const years = (measured.age.data as Float32Array)[0];
    assert.ok(years >= 0 && years <= 100 && Math.abs(years - expectation) < 1e-3, `age ${years} is the expectation ${expectation}`);
    const { embedding } = await run('identity', { image: centerCrop(small, 112) });
    const norm = Math.hypot(...(embedding.data as Float32Array));
    assert.ok(Math.abs(norm - 1) < 1e-4, `unit-length embedding (${norm})`);
  });

  it('serves the whole SAM path through the runtime: age-transform run on the exported folder', async () => {
    const out = path.join(work, 'run-out');
    const face = path.join(root, 'test', 'fixtures', 'astronaut.png');
    const { code, stdout, stderr } = await cli(['run', face, '--aligned', '--models', models, '--ages', '20,70', '--size', '256', '--out', out, '--json', '--provider', 'cpu']);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as { ages: Array<{ target: number; measured: number; file: string }>; ageBackend: string };
    assert.equal(report.ageBackend, 'onnx', 'age.onnx from the export measures the renders');
    assert.deepEqual(report.ages.map((a) => a.target), [20, 70]);
    for (const a of report.ages) {
      assert.ok(a.measured >= 0 && a.measured <= 100, `measured ${a.measured}`);
      assert.ok(readFileSync(a.file).length > 0);
    }
  });

  describe('bad input: one line on stderr, non-zero exit, nothing written', () => {
    let out = '';
    const sam = (name: string): string => path.join(ckpt, name);
    const SAM_EXPECTED = 'expected a dict with state_dict (encoder.*, pretrained_encoder.*, decoder.*), latent_avg [18,512] and opts';
    // [label, exporter arguments, the exact stderr line]; functions because `ckpt` is set in before().
    const cases: Array<[string, () => string[], () => string]> = [
      [
        'a missing file',
        () => ['--sam', sam('nope.pt')],
        () => `error: --sam file not found: ${sam('nope.pt')} (expected the SAM aging checkpoint (sam_ffhq_aging.pt))`,
      ],
      [
        'a missing --dex file (checked before anything is loaded)',
        () => ['--sam', sam('sam_ffhq_aging.pt'), '--dex', sam('dex.pth')],
        () => `error: --dex file not found: ${sam('dex.pth')} (expected the DEX age classifier (dex_age_classifier.pth))`,
      ],
      [
        'a pSp checkpoint given as SAM',
        () => ['--sam', sam('psp_ffhq_encode.pt')],
        () =>
          `error: ${sam('psp_ffhq_encode.pt')} is not a SAM aging checkpoint: it looks like a pSp checkpoint ` +
          `(encoder.* and decoder.* but no pretrained_encoder.*); ${SAM_EXPECTED}`,
      ],
      [
        'a DEX checkpoint given as SAM',
        () => ['--sam', sam('dex_age_classifier.pth')],
        () => `error: ${sam('dex_age_classifier.pth')} is not a SAM aging checkpoint: it looks like a DEX VGG age classifier; ${SAM_EXPECTED}`,
      ],
      [
        'a truncated file',
        () => ['--sam', sam('truncated.pt')],
        () =>
          `error: cannot read ${sam('truncated.pt')}: the zip archive is incomplete (truncated file?); ` +
          'expected the SAM aging checkpoint (sam_ffhq_aging.pt) as written by torch.save',
      ],
      [
        'missing keys',
        () => ['--sam', sam('missing_keys.pt')],
        () =>
          `error: ${sam('missing_keys.pt')}: missing key decoder.to_rgbs.7.bias (expected shape [1,3,1,1]) and 1 more; ` +
          'expected the SAM aging checkpoint (sam_ffhq_aging.pt)',
      ],
      [
        'a wrong shape',
        () => ['--sam', sam('wrong_shape.pt')],
        () => `error: ${sam('wrong_shape.pt')}: key encoder.input_layer.0.weight has shape [16,3,3,3], expected [16,4,3,3]`,
      ],
      [
        'a SAM checkpoint trained from latent_avg',
        () => ['--sam', sam('latent_avg_start.pt')],
        () =>
          `error: ${sam('latent_avg_start.pt')}: opts.start_from_latent_avg is set, so its codes do not use the pSp encoder; ` +
          'expected a SAM checkpoint trained with start_from_encoded_w_plus',
      ],
      [
        'an ArcFace file given as DEX',
        () => ['--sam', sam('sam_ffhq_aging.pt'), '--dex', sam('model_ir_se50.pth')],
        () =>
          `error: ${sam('model_ir_se50.pth')} is not a DEX age classifier: it looks like an IR-SE50 ArcFace backbone; ` +
          'expected state_dict with conv1_1 ... conv5_3, fc6, fc7 and fc8-101 (VGG16, 101 ages)',
      ],
      [
        'a DEX file given as ArcFace',
        () => ['--sam', sam('sam_ffhq_aging.pt'), '--arcface', sam('dex_age_classifier.pth')],
        () =>
          `error: ${sam('dex_age_classifier.pth')} is not IR-SE50 ArcFace weights: it looks like a DEX VGG age classifier; ` +
          'expected a state_dict with input_layer.*, body.* and output_layer.* (112x112 input, 512-d embedding)',
      ],
    ];

    before(() => {
      out = path.join(work, 'bad', 'models');
      mkdirSync(path.dirname(out), { recursive: true });
    });

    for (const [label, args, line] of cases) {
      it(label, async () => {
        const r = await exportModels([...args(), '--out', out]);
        assert.equal(r.stderr, `${line()}\n`);
        assert.equal(r.status, 2);
        assert.equal(r.stdout, '');
        assert.equal(existsSync(out), false);
        assert.deepEqual(readdirSync(path.dirname(out)), [], 'nothing is left beside the output');
      });
    }

    it('an output folder that holds other files', async () => {
      mkdirSync(out);
      writeFileSync(path.join(out, 'notes.txt'), 'mine');
      const r = await exportModels(['--sam', sam('sam_ffhq_aging.pt'), '--out', out]);
      rmSync(out, { recursive: true, force: true });
      assert.equal(
        r.stderr,
        `error: --out ${out} holds notes.txt, which is not a model file; expected an empty folder or an earlier export (only .onnx and .json files)\n`,
      );
      assert.equal(r.status, 2);
    });

    it('a missing --out', async () => {
      const r = await exportModels(['--sam', sam('sam_ffhq_aging.pt')]);
      assert.equal(r.stderr, 'error: the following arguments are required: --out (usage: --sam FILE [--dex FILE] [--arcface FILE] --out FOLDER [--verify])\n');
      assert.equal(r.status, 2);
    });
  });
});
