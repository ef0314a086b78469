// Capture to result on the kiosk page, as a visitor waits for it: Node-RED serving the
// camera-kiosk example, Chromium with a fake camera playing the astronaut, the time from the
// photo leaving the page (the POST) to the aged photo on screen. The 3-second countdown is
// the page's own and not counted. The demo models by default (as npm start links them);
// SAM_MODELS names an exported folder.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumMissing, launchChromium, startNodeRed } from '../test/editor/node-red';
import { fakeCameraArgs, writeY4m } from '../test/kiosk/camera';
import { median, ROOT } from './util';

/** Runs after the first visitor. */
const RUNS = 7;
const RUNTIME_ID = '5a3a9e0000000001';

/**
 * Capture-to-result on the kiosk page, in milliseconds: the first visitor's and the median and
 * spread of the next RUNS, with the example's runtime warm-up off (the first visitor loads the
 * models) and on (the first visitor comes after the warm-up has ended, as at a kiosk deployed
 * before opening).
 */
export async function benchKiosk(): Promise<object> {
  const missing = chromiumMissing();
  if (missing) return { skipped: missing };
  const work = mkdtempSync(join(tmpdir(), 'age-bench-kiosk-'));
  try {
    const camera = join(work, 'camera.y4m');
    await writeY4m(join(ROOT, 'test', 'fixtures', 'astronaut.png'), camera);
    const cold = await visitors(camera, false);
    const warm = await visitors(camera, true);
    return { models: process.env.SAM_MODELS || 'demo (models/demo)', runs: RUNS, frame: '640x480', warmUpOff: cold, warmUpOn: warm };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** One Node-RED with the camera-kiosk example and one Chromium: the first visitor and the next RUNS. */
async function visitors(camera: string, warmUp: boolean): Promise<object> {
  const flow = JSON.parse(readFileSync(join(ROOT, 'examples', 'camera-kiosk.json'), 'utf8')) as Array<{ id: string; warmUp?: boolean }>;
  Object.assign(flow.find((n) => n.id === RUNTIME_ID) ?? {}, { warmUp });
  const deployed = Date.now();
  const red = await startNodeRed(flow);
  const browser = await launchChromium(fakeCameraArgs(camera));
  try {
    let warmUpMs: number | undefined;
    if (warmUp) {
      for (;;) {
        const state = (await (await fetch(`${red.base}age-runtime/${RUNTIME_ID}`)).json()) as { warmUp: { state: string } };
        if (state.warmUp.state !== 'warming') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      warmUpMs = Date.now() - deployed;
    }
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, permissions: ['camera'] });
    const page = await context.newPage();
    page.setDefaultTimeout(300000);
    await page.goto(`${red.base}kiosk`);
    await page.waitForSelector('body[data-camera="on"]');
    const times: number[] = [];
    const server: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      const sent = page.waitForRequest((req) => req.method() === 'POST');
      const answered = page.waitForResponse((res) => res.request().method() === 'POST');
      await page.locator('#capture').click();
      await sent;
      const started = Date.now();
      const body = (await (await answered).json()) as { ms: number };
      await page.waitForSelector('body[data-result="shown"]');
      times.push(Date.now() - started);
      server.push(body.ms);
      await page.locator('#again').click();
      await page.waitForSelector('#capture:not(.hidden)');
    }
    const stats = (values: number[]): object => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });
    return { ...(warmUpMs === undefined ? {} : { deployToWarmMs: warmUpMs }), firstVisitorMs: times[0], secondVisitorMs: times[1], captureToResultMs: stats(times.slice(1)), serverMs: stats(server.slice(1)) };
  } finally {
    await browser.close();
    await red.stop();
  }
}
