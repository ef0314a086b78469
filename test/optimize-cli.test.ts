import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { optimizeCommand } from '../lib/cli/optimize';
import { capture } from './cli-capture';
import { FIXTURES, TINY_MODELS } from './paths';

const PHOTO = join(FIXTURES, 'astronaut.png');

/** Runs the subcommand itself (its errors are thrown, not reported), collecting what it writes. */
const run = (argv: string[]) => capture((io) => optimizeCommand.run(argv, io));

describe('age-transform optimize', function () {
  this.timeout(60000);

  it('prints the report as one JSON object', async function () {
    const { code, stdout } = await run([PHOTO, '--models', TINY_MODELS, '--aligned', '--ages', '20:60:20', '--budget', '8', '--json']);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'one line');
    const report = JSON.parse(lines[0]) as Record<string, unknown> & { frames: Array<{ target: number }> };
    for (const key of ['frames', 'maeBefore', 'maeAfter', 'identityBefore', 'identityAfter', 'smoothnessBefore', 'smoothnessAfter', 'evaluations', 'seconds']) {
      assert.ok(key in report, key);
    }
    assert.deepEqual(report.frames.map((f) => f.target), [20, 40, 60]);
    assert.ok((report.maeAfter as number) < (report.maeBefore as number));
    assert.ok((report.evaluations as number) <= 24);
  });

  it('writes the frames, an animation, the latent and the report with --out and --gif', async function () {
    const out = mkdtempSync(join(tmpdir(), 'optimize-out-'));
    try {
      const { code, stdout } = await run([PHOTO, '--models', TINY_MODELS, '--aligned', '--ages', '30,60', '--budget', '4', '--out', out, '--gif']);
      assert.equal(code, 0);
      assert.match(stdout, /age MAE [\d.]+ -> [\d.]+ years/);
      assert.deepEqual(readdirSync(out).sort(), ['age-030.png', 'age-060.png', 'latent.json', 'lifespan.gif', 'report.json']);
      assert.equal((await sharp(join(out, 'age-030.png')).metadata()).width, 256);
      const gif = await sharp(join(out, 'lifespan.gif'), { animated: true }).metadata();
      assert.equal(gif.format, 'gif');
      assert.ok((gif.pages ?? 1) > 2, 'animated');
      const latent = JSON.parse(readFileSync(join(out, 'latent.json'), 'utf8')) as { dims: number[]; ages: number[]; data: number[] };
      assert.deepEqual(latent.dims, [2, 18, 512]);
      assert.deepEqual(latent.ages, [30, 60]);
      assert.equal(latent.data.length, 2 * 18 * 512);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('aligns a photo first unless told it is aligned', async function () {
    const { code, stdout } = await run([PHOTO, '--models', TINY_MODELS, '--ages', '50', '--budget', '2', '--json']);
    assert.equal(code, 0);
    assert.equal((JSON.parse(stdout) as { frames: unknown[] }).frames.length, 1);
  });

  it('rejects bad arguments with exact messages', async function () {
    await assert.rejects(run([PHOTO, '--ages', '20']), { name: 'UsageError', message: '--models is required' });
    await assert.rejects(run(['--models', TINY_MODELS]), { name: 'UsageError', message: 'expected one IMAGE but received 0' });
    await assert.rejects(run([PHOTO, '--models', TINY_MODELS, '--gif']), { name: 'UsageError', message: '--gif needs --out DIR' });
    await assert.rejects(run([PHOTO, '--models', TINY_MODELS, '--budget', 'lots']), { name: 'UsageError', message: '--budget must be an integer (received "lots")' });
    await assert.rejects(run([PHOTO, '--models', TINY_MODELS, '--age-backend', 'dex']), { name: 'UsageError', message: '--age-backend must be onnx or faceapi (received "dex")' });
    await assert.rejects(run([PHOTO, '--models', TINY_MODELS, '--precision', 'fp16']), { name: 'UsageError', message: '--precision must be auto, fp32 or int8 (received "fp16")' });
    await assert.rejects(run([PHOTO, '--models', TINY_MODELS, '--aligned', '--budget', '0']), {
      name: 'RangeError',
      message: 'Expected a positive integer for budget (evaluations per frame, at most 10000) but received 0',
    });
    await assert.rejects(run([PHOTO, '--models', TINY_MODELS, '--aligned', '--ages', '']), {
      name: 'TypeError',
      message: 'Expected a target age as a number, a list or a range "start:end:step" but received ""',
    });
    await assert.rejects(run([PHOTO, '--models', TINY_MODELS, '--aligned', '--ages', '0:120:20']), {
      name: 'RangeError',
      message: 'Expected target ages between 0 and 100 years but received 120',
    });
    const missing = join(FIXTURES, 'nope.png');
    await assert.rejects(run([missing, '--models', TINY_MODELS]), { name: 'CliError', message: `cannot read ${missing}: no such file` });
    assert.equal(existsSync(missing), false);
  });
});
