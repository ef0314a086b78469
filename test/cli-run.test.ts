import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RunAge } from '../lib/cli/run';
import { bin, cli } from './cli-capture';
import { FIXTURES, ROOT, TINY_MODELS } from './paths';

const PHOTO = join(FIXTURES, 'astronaut.png');

describe('age-transform run', function () {
  this.timeout(120000);
  let out: string;
  beforeEach(function () {
    out = mkdtempSync(join(tmpdir(), 'age-run-'));
  });
  afterEach(function () {
    rmSync(out, { recursive: true, force: true });
  });

  it('aligns, encodes, renders and measures every age, with a JSON report', async function () {
    const { code, stdout, stderr } = await cli(['run', PHOTO, '--models', TINY_MODELS, '--ages', '0,40,80', '--out', out, '--size', '256', '--strip', '--gif', '--paste-back', '--json', '--provider', 'cpu']);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as { ages: RunAge[]; provider: string; precision: Record<string, string>; ageBackend: string; timings: Record<string, number> };
    assert.equal(report.provider, 'cpu');
    assert.deepEqual(report.precision, { inversion: 'fp32', aging: 'fp32', generator: 'fp32', age: 'fp32', identity: 'fp32' }, 'the tiny set has no int8 variant');
    assert.equal(report.ageBackend, 'onnx');
    assert.deepEqual(report.ages.map((a) => a.target), [0, 40, 80]);
    for (const { target, measured, file } of report.ages) {
      assert.ok(Math.abs(measured - (0.8 * target + 12)) < 1.5, `target ${target}: measured ${measured}`);
      assert.equal((await sharp(file).metadata()).width, 256);
    }
    for (const stage of ['align', 'encode', 'generate', 'measure', 'strip', 'animation', 'paste-back']) assert.ok(report.timings[stage] >= 0, stage);
    assert.equal((await sharp(join(out, 'strip.png')).metadata()).width, 4 * 256);
    assert.ok(((await sharp(join(out, 'lifespan.gif'), { animated: true }).metadata()).pages ?? 0) > 3);
    for (const age of ['000', '040', '080']) assert.equal((await sharp(join(out, `pasted-${age}.png`)).metadata()).width, 512, 'the photo keeps its size');
  });

  it('prints a table with a header (target, measured, identity, file) and the face it used, on the demo models', async function () {
    const { code, stdout, stderr } = await cli(['run', PHOTO, '--models', join(ROOT, 'models', 'demo'), '--ages', '0,50,100', '--out', out, '--size', '256', '--provider', 'cpu']);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0], /astronaut\.png: one face \(box \d+,\d+ \d+x\d+\)$/);
    assert.equal(lines[1], 'demo models (designed, not SAM): pictures say DEMO');
    assert.equal(lines[2], "age: face-api's age net; identity: face-api's recognition net");
    assert.match(lines[3], /^precision: fp32 [a-z0-9-]+(, [a-z0-9-]+)*$/);
    assert.match(lines[4], /^target\s+measured\s+identity\s+file$/);
    const rows = lines.slice(5).map((line) => line.trim().split(/\s+/));
    assert.deepEqual(rows.map((r) => r[0]), ['0', '50', '100']);
    for (const [, measured, identity, file] of rows) {
      assert.ok(Number(measured) > 0 && Number(measured) < 100, `measured ${measured}`);
      assert.ok(Number(identity) > 0.8 && Number(identity) <= 1, `identity ${identity}`);
      assert.ok(existsSync(file), `${file} was written`);
    }
    assert.ok(Number(rows[2][1]) > Number(rows[0][1]), 'older at 100 than at 0');
  });

  it('exits 3 when the image has no face, 2 on bad arguments, 1 without models', async function () {
    const blank = join(out, 'blank.png');
    writeFileSync(blank, await sharp({ create: { width: 300, height: 200, channels: 3, background: '#888' } }).png().toBuffer());
    let result = await cli(['run', blank, '--models', TINY_MODELS, '--ages', '30', '--out', out]);
    assert.equal(result.code, 3);
    assert.equal(result.stderr, `age-transform run: no face found in ${blank}\n`);

    result = await cli(['run', PHOTO, '--models', TINY_MODELS, '--ages', '130', '--out', out]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'age-transform run: --ages: Expected target ages between 0 and 100 years but received 130 (see: age-transform help run)\n');
    result = await cli(['run', PHOTO, '--models', TINY_MODELS, '--ages', '30', '--out', out, '--precision', 'int4']);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'age-transform run: --precision must be auto, fp32 or int8 (received "int4") (see: age-transform help run)\n');
    result = await cli(['run', PHOTO, '--ages', '30', '--out', out]);
    assert.equal(result.stderr, 'age-transform run: --models is required (see: age-transform help run)\n');
    result = await cli(['run', join(out, 'missing.jpg'), '--models', TINY_MODELS, '--ages', '30', '--out', out]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, `age-transform run: cannot read ${join(out, 'missing.jpg')}: no such file\n`);

    const empty = join(out, 'no-models');
    result = await cli(['run', PHOTO, '--models', empty, '--ages', '30', '--out', out, '--aligned']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^age-transform run: model folder not found: .*; export the SAM models with: npx age-transform export/);
    assert.ok(!existsSync(join(out, 'age-030.png')));
  });

  it('runs as the installed bin, with one line on stderr and no stack trace', async function () {
    const failed = await bin(['run', PHOTO, '--models', TINY_MODELS, '--ages', 'old', '--out', out], { asScript: true });
    assert.equal(failed.code, 2);
    assert.equal(failed.stderr.trim().split('\n').length, 1);
    assert.doesNotMatch(failed.stderr, /\n\s+at /);
  });
});
