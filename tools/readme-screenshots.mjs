// Makes the README's screenshots in Debian's Chromium, as a new user meets the package:
//  - docs/images/editor-previews.jpg: the editor on the lifespan-strip example (what `npm start`
//    deploys on a first start, with the demo models) after the inject's button was clicked, the
//    aligned face and the strip of ages under their nodes;
//  - docs/images/dashboard-age-slider.jpg: the Dashboard 2 page of the dashboard-age-slider
//    example after the slider was moved to 70.
// Run after `npm run build`:  node tools/readme-screenshots.mjs
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/* global document -- the callbacks of page.waitForFunction and page.evaluate run in the page */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { startNodeRed, launchChromium } = await import(join(root, 'dist', 'test', 'editor', 'node-red.js'));
const images = join(root, 'docs', 'images');
mkdirSync(images, { recursive: true });
const example = (name) => JSON.parse(readFileSync(join(root, 'examples', `${name}.json`), 'utf8'));

/** Saves a PNG screenshot as a small JPEG, `width` px wide at most. */
async function save(png, file, width) {
  const jpeg = await sharp(png).resize({ width, withoutEnlargement: true }).jpeg({ quality: 80, mozjpeg: true }).toBuffer();
  await sharp(jpeg).toFile(join(images, file));
  console.log(`wrote docs/images/${file} (${Math.round(jpeg.length / 1024)} KB)`);
}

/** Runs `fn` with a Node-RED serving `flow` and a Chromium page that reaches only it. */
async function withEditor(flow, viewport, fn) {
  const red = await startNodeRed(flow);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport });
    page.setDefaultTimeout(120000);
    await page.route('**/*', (route) => (route.request().url().startsWith(red.base) ? route.continue() : route.abort()));
    await fn(page, red.base);
  } finally {
    await browser.close();
    await red.stop();
  }
}

// The editor: 1920 px wide, where the 1400 px canvas the examples keep to fits between the
// palette and the sidebar; cut below the flow.
const strip = example('lifespan-strip');
await withEditor(strip, { width: 1920, height: 500 }, async (page, base) => {
  const inject = strip.find((n) => n.type === 'inject');
  const shown = ['face-align', 'age-generate'].map((type) => strip.find((n) => n.type === type).id);
  await page.goto(base);
  const button = page.locator(`[id="${inject.id}"] .red-ui-flow-node-button`);
  await button.waitFor();
  await button.click();
  for (const id of shown) await page.locator(`[id="${id}"] image.age-transform-preview`).waitFor({ state: 'attached' });
  // The debug node's status says the strip was written: every status is final.
  await page.waitForFunction((id) => /lifespan-strip/.test(document.getElementById(id)?.textContent || ''), strip.find((n) => n.type === 'debug' && n.wires.length === 0 && strip.some((m) => m.type === 'file' && m.wires[0].includes(n.id))).id);
  await page.mouse.move(0, 499);
  await save(await page.screenshot(), 'editor-previews.jpg', 1600);
});

// The dashboard page, with the slider moved to 70.
await withEditor(example('dashboard-age-slider'), { width: 900, height: 820 }, async (page, base) => {
  await page.goto(`${base}dashboard/age`);
  const track = page.locator('.v-slider-track').first();
  await track.waitFor();
  // The photo is aligned once at start, which takes a while on a cold start; until then a
  // slider move ages nothing, so move it again (away and back) until the face is shown.
  const box = await track.boundingBox();
  const at = (fraction) => page.mouse.click(box.x + box.width * fraction, box.y + box.height / 2);
  const aged = page.locator('img[alt="aged face"]');
  for (let tries = 0; ; tries++) {
    await at(0.5);
    await at(0.7);
    const seventy = () => /^70 years/.test(document.querySelector('img[alt="aged face"] + p')?.textContent || '');
    try {
      await page.waitForFunction(seventy, undefined, { timeout: 15000 });
      // An earlier move may still be on its way: the picture must stay at 70.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      if (await page.evaluate(seventy)) break;
    } catch (err) {
      if (tries === 5) throw err;
    }
  }
  await aged.waitFor();
  await page.waitForFunction(() => document.querySelector('img[alt="aged face"]')?.complete);
  await page.mouse.move(0, 0);
  // The page and its one group, without the empty width beside it.
  await save(await page.screenshot({ clip: { x: 0, y: 0, width: 620, height: 770 } }), 'dashboard-age-slider.jpg', 620);
});
