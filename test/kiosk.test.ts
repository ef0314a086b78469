// The camera kiosk and the Dashboard 2 camera page as a visitor meets them: a real Node-RED
// serving both example flows (the demo models npm start links), Debian's Chromium with a fake camera that plays
// a real photo, and the aged photo that comes back. One Node-RED and one browser for all.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { FIXTURES, ROOT, SHARED_TESTDATA } from './paths';
import { chromiumMissing, keepLocal, launchChromium, startNodeRed, type NodeRed } from './editor/node-red';
import { fakeCameraArgs, writeY4m } from './kiosk/camera';
import { startNodeRed as startNodeRedProcess } from './node-red-process';
import { skipBecause } from './skip';

type FlowNode = { id: string; type: string; env?: Array<{ name: string; value: string; type: string }>; [key: string]: unknown };

/** The kiosk and dashboard examples in one flow file (their shared config nodes once), with the kiosk's line cut to one waiting photo so three kiosks meet a full door. */
function flows(): FlowNode[] {
  const read = (name: string): FlowNode[] => JSON.parse(readFileSync(join(ROOT, 'examples', `${name}.json`), 'utf8')) as FlowNode[];
  const all = new Map<string, FlowNode>();
  for (const node of [...read('camera-kiosk'), ...read('dashboard-camera')]) all.set(node.id, node);
  const kiosk = [...all.values()].find((n) => n.type === 'tab' && n.label === 'SAM camera kiosk')!;
  kiosk.env!.find((e) => e.name === 'MAX_WAITING')!.value = '1';
  return [...all.values()];
}

/** The texts the kiosk page shows, read from the page itself. */
const PAGE = readFileSync(join(ROOT, 'examples', 'kiosk', 'kiosk.html'), 'utf8');
const pageText = (key: string): string => new RegExp(`${key}: '([^']+)'`).exec(PAGE)![1];

/** Pixel statistics of an image: size, spread, and how many pixels differ from another image of the same size. */
async function pixels(image: Buffer): Promise<{ width: number; height: number; data: Buffer; stdev: number }> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const stats = await sharp(image).stats();
  return { width: info.width, height: info.height, data, stdev: Math.max(...stats.channels.slice(0, 3).map((c) => c.stdev)) };
}
function changedPixels(a: Buffer, b: Buffer): number {
  let count = 0;
  for (let i = 0; i < a.length; i += 3) if (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]) > 60) count++;
  return count;
}
const dataUrlBytes = (url: string): Buffer => Buffer.from(url.replace(/^data:image\/\w+;base64,/, ''), 'base64');

describe('camera kiosk and dashboard in Chromium', function () {
  this.timeout(180000);
  let red: NodeRed | undefined;
  let browser: Browser | undefined;
  let work: string;
  let camera: string;
  let shots: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  /** A page in a fresh context (its own camera permission), errors collected; `base` the Node-RED to ask (ending in /). */
  async function open(path: string, withCamera: boolean, base = red!.base): Promise<Page> {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, permissions: withCamera ? ['camera'] : [] });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(60000);
    await keepLocal(page, base);
    page.on('pageerror', (err) => pageErrors.push(`${path}: ${err.message}`));
    await page.goto(`${base}${path}`);
    return page;
  }

  /** Presses the button at an age and waits for the answer: a result, or a message. */
  async function captureAt(page: Page, age: number): Promise<void> {
    await page.waitForSelector('body[data-camera="on"]');
    await page.locator(`button[data-age="${age}"]`).click();
    await page.locator('#capture').click();
    await page.waitForSelector('body[data-result="shown"], #message:not(.hidden):not(:has-text("One moment"))');
  }

  /** What the result screen shows: the aged photo and the captured one. */
  async function shown(page: Page): Promise<{ after: Buffer; before: Buffer }> {
    const after = dataUrlBytes((await page.locator('#result').getAttribute('src'))!);
    await page.locator('#toggle').click();
    const src = (await page.locator('#result').getAttribute('src'))!;
    const before = Buffer.from(
      await page.evaluate(async (url) => {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        let s = '';
        for (const b of bytes) s += String.fromCharCode(b);
        return btoa(s);
      }, src),
      'base64',
    );
    await page.locator('#toggle').click();
    return { after, before };
  }

  /** Checks an aged photo against its capture: same size, not blank, the face changed. */
  async function assertAged(after: Buffer, before: Buffer, what: string): Promise<void> {
    const a = await pixels(after);
    const b = await pixels(before);
    assert.deepEqual([a.width, a.height], [b.width, b.height], `${what}: the result has the capture's size`);
    assert.deepEqual([a.width, a.height], [640, 480], `${what}: the camera's frame size`);
    assert.ok(a.stdev > 20, `${what}: the result is not blank (stdev ${a.stdev.toFixed(1)})`);
    const changed = changedPixels(a.data, b.data);
    assert.ok(changed > 800, `${what}: the face differs from the capture (${changed} pixels changed)`);
    assert.ok(changed < a.width * a.height * 0.5, `${what}: the rest of the photo is kept (${changed} pixels changed)`);
  }

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      if (!process.env.CI) skipBecause(this, missing);
      throw new Error(missing);
    }
    work = mkdtempSync(join(tmpdir(), 'age-kiosk-'));
    shots = process.env.KIOSK_SCREENSHOTS || join(work, 'screenshots');
    mkdirSync(shots, { recursive: true });
    camera = join(work, 'camera.y4m');
    await writeY4m(join(FIXTURES, 'astronaut.png'), camera);
    red = await startNodeRed(flows());
    browser = await launchChromium(fakeCameraArgs(camera));
  });

  afterEach(async function () {
    for (const context of contexts.splice(0)) await context.close();
  });

  after(async function () {
    if (browser) await browser.close();
    if (red) await red.stop();
    if (work) {
      console.log(`    kiosk screenshots: ${shots}`);
      if (!process.env.KIOSK_SCREENSHOTS && !process.env.KEEP_SCREENSHOTS) rmSync(work, { recursive: true, force: true });
    }
  });

  it('GET /kiosk serves the page with nothing from elsewhere, and the endpoint answers codes, never raw errors', async function () {
    const page = await fetch(`${red!.base}kiosk`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') || '', /^text\/html/);
    const html = await page.text();
    assert.equal(html, PAGE, 'the page is the shipped file');
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//, 'no CDN or other outside resource');

    const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
    const post = async (query: string, body: Buffer, type = 'image/png'): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`${red!.base}kiosk/age${query}`, { method: 'POST', headers: { 'Content-Type': type }, body: new Uint8Array(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    assert.deepEqual(await post('?target=abc', photo), { status: 400, body: { error: 'bad-age' } });
    assert.deepEqual(await post('?target=150', photo), { status: 400, body: { error: 'bad-age' } });
    assert.deepEqual(await post('?target=-5', photo), { status: 400, body: { error: 'bad-age' } });
    assert.deepEqual(await post('?faces=some', photo), { status: 400, body: { error: 'bad-faces' } });
    assert.deepEqual(await post('?ticket=x', photo), { status: 400, body: { error: 'bad-ticket' } });
    assert.deepEqual(await post('', Buffer.alloc(0)), { status: 400, body: { error: 'bad-image' } });
    assert.deepEqual(await post('', Buffer.from('definitely not an image'), 'application/octet-stream'), { status: 400, body: { error: 'bad-image' } });
    const huge = await sharp({ create: { width: 7000, height: 6000, channels: 3, background: '#778899' } }).png({ compressionLevel: 9 }).toBuffer();
    assert.deepEqual(await post('', huge), { status: 400, body: { error: 'bad-image' } }, 'a photo over the pixel limit (42 MP) is the visitor\'s, not a server failure');
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#778899' } }).png().toBuffer();
    assert.deepEqual(await post('', blank), { status: 422, body: { error: 'no-face' } });
    const aged = await post('?target=10', photo);
    assert.equal(aged.status, 200);
    assert.equal(aged.body.target, 10);
    assert.deepEqual([aged.body.found, aged.body.aged], [1, 1]);
    assert.equal((await sharp(dataUrlBytes(aged.body.image as string)).metadata()).width, 512, 'the photo keeps its size');
  });

  it('a full door answers 503 with Retry-After and a ticket, and a returning ticket goes before anyone newer', async function () {
    const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
    const post = async (ticket?: number): Promise<{ status: number; retryAfter: string | null; body: Record<string, unknown> }> => {
      const res = await fetch(`${red!.base}kiosk/age?target=40${ticket === undefined ? '' : `&ticket=${ticket}`}`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: new Uint8Array(photo) });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
    };
    // One at work and one in line (MAX_WAITING 1 here): of four at once, two are turned away.
    const first = await Promise.all([post(), post(), post(), post()]);
    const refused = first.filter((r) => r.status === 503);
    assert.deepEqual(first.map((r) => r.status).sort(), [200, 200, 503, 503], 'two served, two turned away');
    for (const r of refused) {
      assert.equal(r.body.error, 'busy');
      assert.ok(Number(r.retryAfter) >= 1, `Retry-After ${r.retryAfter}`);
      assert.equal(r.body.retryAfter, Number(r.retryAfter));
      assert.ok(Number(r.body.ahead) >= 2, `ahead: ${r.body.ahead}`);
    }
    const [early, late] = refused.map((r) => Number(r.body.ticket)).sort((a, b) => a - b);
    // The door is free now, but the tickets it gave out come first: a newcomer waits ...
    const newcomer = await post();
    assert.equal(newcomer.status, 503, 'a newcomer does not overtake the tickets given out');
    // ... and so does the later ticket, until the earlier one is back.
    assert.equal((await post(late)).status, 503, 'the later ticket waits for the earlier one');
    assert.equal((await post(early)).status, 200, 'the earliest ticket is served');
    assert.equal((await post(late)).status, 200);
    assert.equal((await post(Number(newcomer.body.ticket))).status, 200);
    assert.equal((await post()).status, 200, 'no tickets out: a newcomer is served at once');
  });

  it('capture on the kiosk page: countdown, progress, the aged photo with before/after, and try again', async function () {
    const page = await open('kiosk', true);
    await page.waitForSelector('body[data-camera="on"]');
    await page.screenshot({ path: join(shots, 'kiosk-camera.png') });
    await page.locator('button[data-age="70"]').click();
    await page.locator('#capture').click();
    await page.waitForSelector('#countdown:not(.hidden)');
    await page.waitForSelector('#working:not(.hidden)');
    await page.screenshot({ path: join(shots, 'kiosk-working.png') });
    await page.waitForSelector('body[data-result="shown"]');
    assert.equal(await page.locator('#badge').textContent(), '70 years');
    const picture = (await page.locator('#result').boundingBox())!;
    const buttons = (await page.locator('nav').boundingBox())!;
    assert.ok(picture.y >= 0 && picture.y + picture.height <= buttons.y + 1, `the whole result fits above the buttons (${JSON.stringify(picture)})`);
    await page.screenshot({ path: join(shots, 'kiosk-result.png') });
    const { after, before } = await shown(page);
    await assertAged(after, before, 'kiosk');
    await page.locator('#toggle').click();
    await page.screenshot({ path: join(shots, 'kiosk-before.png') });
    await page.locator('#again').click();
    await page.waitForSelector('#capture:not(.hidden)');
    assert.equal(await page.locator('#result').isVisible(), false, 'back to the camera');
  });

  it('no face in front of the camera: "look at the camera"', async function () {
    await writeY4m({ create: { width: 640, height: 480, channels: 3, background: '#3a6ea5' } }, camera);
    try {
      const page = await open('kiosk', true);
      await captureAt(page, 40);
      assert.equal(await page.locator('#message').textContent(), pageText('noFace'));
      assert.equal(await page.locator('body').getAttribute('data-result'), null);
      await page.screenshot({ path: join(shots, 'kiosk-no-face.png') });
      assert.ok(await page.locator('#capture').isEnabled(), 'ready for another try');
    } finally {
      await writeY4m(join(FIXTURES, 'astronaut.png'), camera);
    }
  });

  it('a group in front of the camera: the largest face is aged and the page says so', async function () {
    const group = join(SHARED_TESTDATA, 'photos', 'group1.jpg');
    if (!existsSync(group)) skipBecause(this, `the group photo ${group} is absent`);
    await writeY4m(group, camera, 1280, 960);
    try {
      const page = await open('kiosk', true);
      await captureAt(page, 70);
      await page.waitForSelector('body[data-result="shown"]');
      assert.match((await page.locator('#note').textContent()) || '', /^\d+ faces found: the largest one aged$/);
      await page.screenshot({ path: join(shots, 'kiosk-group.png') });
      // Set to all: every face found is aged, one after another, into the same photo.
      const res = await fetch(`${red!.base}kiosk/age?target=70&faces=all`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: new Uint8Array(readFileSync(group)) });
      const body = (await res.json()) as { found: number; aged: number; image: string };
      assert.equal(res.status, 200);
      assert.ok(body.found >= 3, `faces found: ${body.found}`);
      assert.equal(body.aged, body.found, 'all of them aged');
      const [whole, aged] = await Promise.all([pixels(readFileSync(group)), pixels(dataUrlBytes(body.image))]);
      assert.deepEqual([aged.width, aged.height], [whole.width, whole.height]);
    } finally {
      await writeY4m(join(FIXTURES, 'astronaut.png'), camera);
    }
  });

  it('camera denied: the page offers an upload, and an uploaded photo is aged', async function () {
    const page = await open('kiosk', false);
    await page.waitForSelector('body[data-camera="off"]');
    assert.ok(await page.locator('#upload').isVisible());
    assert.equal(await page.locator('#capture').isVisible(), false);
    assert.equal(await page.locator('#upload-button').textContent(), pageText('choose'));
    await page.screenshot({ path: join(shots, 'kiosk-upload.png') });
    await page.locator('#file').setInputFiles(join(FIXTURES, 'astronaut.png'));
    await page.waitForSelector('body[data-result="shown"]');
    const { width } = await sharp(dataUrlBytes((await page.locator('#result').getAttribute('src'))!)).metadata();
    assert.equal(width, 512);
  });

  it('three kiosks capturing at once all get their results, the one turned away after waiting its turn', async function () {
    const pages = await Promise.all([0, 1, 2].map(() => open('kiosk', true)));
    const busy: string[] = [];
    for (const page of pages) {
      page.on('response', (res) => {
        if (res.status() === 503) busy.push(res.headers()['retry-after']);
      });
      await page.waitForSelector('body[data-camera="on"]');
    }
    await Promise.all(pages.map((page) => page.locator('#capture').click()));
    await Promise.all(pages.map((page) => page.waitForSelector('body[data-result="shown"]', { timeout: 120000 })));
    assert.ok(busy.length >= 1, 'one of three met the full door (one at work, one in line)');
    for (const retryAfter of busy) assert.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);
    const waited = await Promise.all(pages.map((page) => page.locator('body').getAttribute('data-waited')));
    assert.ok(waited.some((w) => Number(w) >= 1), 'a page showed "one moment" and asked again');
    for (const [i, page] of pages.entries()) {
      const { after, before } = await shown(page);
      await assertAged(after, before, `kiosk ${i + 1}`);
    }
  });

  it('Dashboard 2: the camera widget, the aged photo, a lifespan strip, and a slider move brings a new image', async function () {
    const page = await open('dashboard/camera', true);
    const button = page.getByRole('button', { name: 'Take my photo' });
    await button.waitFor();
    await page.waitForFunction(() => {
      const video = (globalThis as unknown as { document: { querySelector(s: string): { readyState: number } | null } }).document.querySelector('video.sam-preview');
      return !!video && video.readyState >= 2;
    });
    await button.click();
    const aged = page.locator('img.sam-aged');
    await aged.waitFor({ timeout: 90000 });
    await page.waitForSelector('img[alt="lifespan strip"]', { timeout: 90000 });
    const first = (await aged.getAttribute('src'))!;
    const photo = await sharp(dataUrlBytes(first)).metadata();
    assert.deepEqual([photo.width, photo.height], [640, 480], 'the photo, aged, at the widget size');
    assert.ok(first.length < 1024 * 1024, 'under the socket message cap');
    const strip = await sharp(dataUrlBytes((await page.locator('img[alt="lifespan strip"]').getAttribute('src'))!)).metadata();
    assert.deepEqual([strip.width, strip.height], [7 * 256, 256], 'the face and six ages');
    await page.screenshot({ path: join(shots, 'dashboard-camera.png'), fullPage: true });

    // A click near the left of the slider's track: a young age.
    const track = page.locator('.v-slider-track').first();
    const box = (await track.boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.1, box.y + box.height / 2);
    await page.waitForFunction((before) => {
      const img = (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } }).document.querySelector('img.sam-aged');
      return !!img && img.getAttribute('src') !== before;
    }, first);
    const line = (await page.locator('.sam-line').textContent()) || '';
    assert.match(line, /^\d+ years$/);
    assert.ok(Number(line.split(' ')[0]) <= 20, `a young age from the left of the slider: ${line}`);
    await page.screenshot({ path: join(shots, 'dashboard-camera-slider.png'), fullPage: true });
  });

  it('under httpNodeRoot /booth, from a Node-RED whose working directory is its user directory: the page posts beside itself', async function () {
    // Nothing here may rely on the project being the working directory: node-red-process runs
    // Node-RED in its user directory, with this package linked into its node_modules.
    const userDir = join(work, 'booth');
    const demo = join(ROOT, 'models', 'demo');
    const flow = (JSON.parse(readFileSync(join(ROOT, 'examples', 'camera-kiosk.json'), 'utf8')) as FlowNode[]).map((n) => (n.type === 'age-runtime' ? { ...n, modelDir: demo, provider: 'cpu', threads: 1 } : n));
    const booth = await startNodeRedProcess({ userDir, flows: flow, name: 'booth Node-RED', linkPackage: true, settings: { httpNodeRoot: '/booth', ageModelRoots: [demo] } });
    try {
      const cwd = `/proc/${booth.child.pid}/cwd`;
      if (existsSync(cwd)) assert.equal(realpathSync(cwd), realpathSync(userDir), 'Node-RED runs in its user directory, not in the project');
      const served = await fetch(`${booth.base}/booth/kiosk`);
      assert.equal(served.status, 200, booth.output());
      assert.equal(await served.text(), PAGE, 'the shipped page, found from the package');
      assert.equal((await fetch(`${booth.base}/kiosk`)).status, 404, 'nothing outside httpNodeRoot');

      // With and without a trailing slash the page posts to /booth/kiosk/age.
      for (const path of ['booth/kiosk', 'booth/kiosk/']) {
        const page = await open(path, true, `${booth.base}/`);
        const posted = page.waitForRequest((req) => req.method() === 'POST');
        await captureAt(page, 70);
        assert.equal(new URL((await posted).url()).pathname, '/booth/kiosk/age', `from /${path}`);
        await page.waitForSelector('body[data-result="shown"]');
        const { after, before } = await shown(page);
        await assertAged(after, before, `/${path}`);
        if (path === 'booth/kiosk') await page.screenshot({ path: join(shots, 'kiosk-booth-root.png') });
      }
    } finally {
      await booth.stop();
    }
  });

  it('raised no page errors', function () {
    assert.deepEqual(pageErrors, []);
  });
});
