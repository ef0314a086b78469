// Makes the README's pictures from the demo models: a lifespan strip of the astronaut and one
// frame of its animation, small JPEGs in docs/images/. Run after `npm run build`:
//   node tools/demo-models/readme-pictures.mjs [SHOTS]
// With SHOTS, the folder the kiosk test saved its screenshots in (KIOSK_SCREENSHOTS=SHOTS npx
// mocha dist/test/kiosk.test.js), its result screen also becomes docs/kiosk.jpg.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const images = join(root, 'docs', 'images');
const work = mkdtempSync(join(tmpdir(), 'readme-pictures-'));
try {
  const cli = join(root, 'dist', 'lib', 'cli', 'index.js');
  const photo = join(root, 'test', 'fixtures', 'astronaut.png');
  const report = execFileSync(process.execPath, [cli, 'run', photo, '--models', join(root, 'models', 'demo'), '--ages', '0:100:20', '--size', '256', '--out', work, '--strip', '--gif'], { encoding: 'utf8' });
  process.stdout.write(report);
  mkdirSync(images, { recursive: true });
  // The strip at half size: the input and six ages, 128 px each.
  await sharp(join(work, 'strip.png')).resize({ height: 128 }).jpeg({ quality: 82, mozjpeg: true }).toFile(join(images, 'demo-strip.jpg'));
  // One labelled frame of the animation, between the last two ages.
  const { pages } = await sharp(join(work, 'lifespan.gif'), { animated: true }).metadata();
  await sharp(join(work, 'lifespan.gif'), { page: Math.round((pages - 1) * 0.8) }).jpeg({ quality: 85, mozjpeg: true }).toFile(join(images, 'demo-animation-frame.jpg'));
  console.log(`wrote ${join('docs', 'images', 'demo-strip.jpg')} and ${join('docs', 'images', 'demo-animation-frame.jpg')}`);
  const shots = process.argv[2];
  if (shots) {
    await sharp(join(shots, 'kiosk-result.png')).resize({ width: 800 }).jpeg({ quality: 82, mozjpeg: true }).toFile(join(root, 'docs', 'kiosk.jpg'));
    console.log(`wrote ${join('docs', 'kiosk.jpg')}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
