// `age-transform align` as a user runs it (a child process of the compiled CLI), and the
// dispatcher's argument errors through main() in-process.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { commands, EXIT } from '../lib/cli';
import { BIN, bin as run, cli as inProcess } from './cli-capture';

const root = path.resolve(__dirname, '..', '..');
const portrait = path.join(root, 'test/fixtures/astronaut.png');
const group1 = path.join(root, '..', 'shared', 'testdata', 'photos', 'group1.jpg');

describe('age-transform align (CLI)', function () {
  this.timeout(90_000);
  let dir: string;

  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'age-align-cli-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is an executable script', function () {
    assert.equal(readFileSync(BIN, 'utf8').split('\n')[0], '#!/usr/bin/env node');
  });

  it('aligns the portrait, exit 0, one JSON object with the placement', async function () {
    const out = path.join(dir, 'face.png');
    const { code, stdout, stderr } = await run(['align', portrait, '--out', out, '--size', '512', '--json']);
    assert.equal(stderr, '');
    assert.equal(code, EXIT.OK);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 512, 512]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const face = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(face), ['file', 'score', 'box', 'landmarks', 'quad', 'transform', 'out']);
    assert.equal(face.file, portrait);
    assert.equal(face.out, out);
    assert.equal((face.landmarks as unknown[]).length, 68);
    assert.equal((face.quad as unknown[]).length, 4);
  });

  it('says what it wrote', async function () {
    const out = path.join(dir, 'said.png');
    const { code, stdout } = await run(['align', portrait, '--out', out]);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the face, 256x256, score 0\\.\\d\\d, box \\d+,\\d+ \\d+x\\d+\\n$`));
    assert.ok(existsSync(out));
  });

  it('writes every face into a folder with --all', async function () {
    if (!existsSync(group1)) {
      console.log('      skipped: ../shared/testdata/photos/group1.jpg not found');
      this.skip();
    }
    const folder = path.join(dir, 'faces');
    const { code, stdout } = await run(['align', group1, '--out', folder, '--all', '--json']);
    assert.equal(code, EXIT.OK);
    assert.deepEqual(readdirSync(folder).sort(), ['group1-face1.png', 'group1-face2.png', 'group1-face3.png']);
    const faces = stdout.trim().split('\n').map((l) => JSON.parse(l) as { out: string; box: { x: number } });
    assert.deepEqual(faces.map((f) => path.basename(f.out)), ['group1-face1.png', 'group1-face2.png', 'group1-face3.png']);
    assert.ok(faces[0]!.box.x < faces[1]!.box.x && faces[1]!.box.x < faces[2]!.box.x);
  });

  it('exits 3 when there is no face', async function () {
    const sky = path.join(dir, 'sky.png');
    await sharp({ create: { width: 320, height: 240, channels: 3, background: '#6699cc' } }).png().toFile(sky);
    const { code, stdout, stderr } = await run(['align', sky, '--out', path.join(dir, 'none.png')]);
    assert.equal(code, EXIT.NO_FACE);
    assert.equal(stdout, '');
    assert.equal(stderr, `age-transform align: no face found in ${sky}\n`);
    assert.ok(!existsSync(path.join(dir, 'none.png')));
  });

  it('exits 2 on a file that is not an image, with one line and no stack trace', async function () {
    const notImage = path.join(dir, 'notes.jpg');
    writeFileSync(notImage, 'shopping list: eggs, milk');
    const { code, stderr } = await run(['align', notImage, '--out', path.join(dir, 'x.png')]);
    assert.equal(code, EXIT.BAD_INPUT);
    assert.equal(stderr, `age-transform align: Image format of ${notImage} not recognised: expected JPEG, PNG, WebP, GIF, TIFF or AVIF\n`);
  });

  it('exits 2 with one exact line for each bad argument or input', async function () {
    const truncated = path.join(dir, 'cut.jpg');
    writeFileSync(truncated, (await sharp(portrait).jpeg().toBuffer()).subarray(0, 9000));
    const tiny = path.join(dir, 'dot.png');
    await sharp({ create: { width: 1, height: 1, channels: 3, background: 'white' } }).png().toFile(tiny);
    const out = path.join(dir, 'y.png');
    const cases: Array<[string[], string]> = [
      [['align', portrait], 'age-transform align: --out is required (see: age-transform help align)'],
      [['align', '--out', out], 'age-transform align: expected one IMAGE but received 0 (see: age-transform help align)'],
      [['align', portrait, '--out', out, '--size', '300'], 'age-transform align: --size must be 256, 512 or 1024 (received "300") (see: age-transform help align)'],
      [['align', portrait, '--out', out, '--resample', 'nearest'], 'age-transform align: --resample must be ffhq or sam (received "nearest") (see: age-transform help align)'],
      [['align', portrait, '--out', out, '--detector', 'yolo'], 'age-transform align: --detector must be ssd or tiny (received "yolo") (see: age-transform help align)'],
      [['align', portrait, '--out', out, '--min-confidence', '1.5'], 'age-transform align: --min-confidence must be a number from 0 to 1 (received "1.5") (see: age-transform help align)'],
      [['align', portrait, '--out', out, '--bogus'], 'age-transform align: unknown option --bogus (see: age-transform help align)'],
      [['align', path.join(dir, 'missing.jpg'), '--out', out], `age-transform align: cannot read ${path.join(dir, 'missing.jpg')}: no such file`],
      [['align', truncated, '--out', out], `age-transform align: JPEG image data in ${truncated} is truncated or corrupt`],
      [['align', tiny, '--out', out], 'age-transform align: Image is 1x1 pixels, too small to hold a face (at least 32x32 needed)'],
      [['align', portrait, '--out', out, '--max-pixels', '1000'], 'age-transform align: Image is 512x512 (262144 pixels), over the limit of 1000 pixels'],
      [['frobnicate'], `age-transform: unknown command "frobnicate" (commands: ${Object.keys(commands()).join(', ')}) (see: age-transform help)`],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await inProcess(args);
      assert.equal(stderr, `${message}\n`, args.join(' '));
      assert.equal(code, EXIT.BAD_INPUT, args.join(' '));
      assert.equal(stdout, '');
    }
    assert.ok(!existsSync(out));
  });

  it('lists the commands and shows usage', async function () {
    const list = await inProcess(['--help']);
    assert.equal(list.code, EXIT.OK);
    assert.match(list.stdout, /^usage: age-transform <command> \[options\]\n/);
    assert.match(list.stdout, /\n {2}align +find faces in an image and crop them by the FFHQ recipe \(SAM input\)\n/);
    const usage = await inProcess(['help', 'align']);
    assert.match(usage.stdout, /^usage: age-transform align IMAGE --out OUT\.png \[--size 256\|512\|1024\] \[--resample ffhq\|sam\] \[--all\] \[--json\]\n/);
    assert.equal((await inProcess([])).code, EXIT.BAD_INPUT);
  });
});
