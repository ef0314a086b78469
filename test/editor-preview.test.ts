// Thumbnails under the nodes, as a user sees them: the lifespan-strip example (with an
// age-regress node added after face-align) opened in real Chromium, its inject clicked, and
// the pictures found under face-align, age-generate and age-regress on the canvas. A
// screenshot goes to $EDITOR_SCREENSHOTS (a folder) when it is set.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT } from './paths';
import { chromiumMissing, openEditor, type EditorSession, type NodeRed } from './editor/node-red';
import { skipBecause } from './skip';
import { thumbnailBox, type FlowNode as LayoutNode } from './example-layout';

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  runtime?: string;
  x?: number;
  y?: number;
  wires?: string[][];
}
interface PreviewImage {
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { x: number; y: number; width: number; height: number; bottom: number };
  readonly complete: boolean;
  readonly naturalWidth?: number;
}
declare const RED: { nodes: { node(id: string): { x: number; y: number; w: number; h: number } | null } };
declare const document: { getElementById(id: string): (PreviewImage & { querySelector(s: string): PreviewImage | null }) | null };

/** The example, plus an age-regress node measuring the aligned face. */
function exampleWithRegress(): FlowNode[] {
  const flow = JSON.parse(readFileSync(join(ROOT, 'examples', 'lifespan-strip.json'), 'utf8')) as FlowNode[];
  const align = flow.find((n) => n.type === 'face-align')!;
  const regress: FlowNode & Record<string, unknown> = { id: 'e0000000000000c1', type: 'age-regress', z: align.z, name: '', runtime: align.runtime, backend: 'auto', input: 'auto', preview: true, configVersion: 1, x: (align.x ?? 0) + 220, y: (align.y ?? 0) + 260, wires: [[]] };
  align.wires![0]!.push(regress.id);
  return [...flow, regress];
}

describe('thumbnails in the flow editor (Chromium)', function () {
  this.timeout(180000);
  let session: EditorSession | undefined;
  let red: NodeRed;
  let page: Page;
  let problems: string[];

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      if (!process.env.CI) skipBecause(this, missing);
      throw new Error(missing);
    }
    session = await openEditor(exampleWithRegress(), { width: 1400, height: 900 });
    ({ red, page, problems } = session);
  });

  after(async function () {
    await session?.close();
  });

  it('shows the last output of face-align, age-generate and age-regress under each node after the inject is clicked', async function () {
    const flow = exampleWithRegress();
    const inject = flow.find((n) => n.type === 'inject')!;
    const shown = ['face-align', 'age-generate', 'age-regress'].map((type) => flow.find((n) => n.type === type)!.id);
    await page.goto(red.base);
    await page.waitForSelector(`[id="${inject.id}"] .red-ui-flow-node-button`, { timeout: 45000 });
    // No thumbnail before anything ran.
    for (const id of shown) assert.equal(await page.locator(`[id="age-transform-preview-${id}"]`).count(), 0);
    await page.locator(`[id="${inject.id}"] .red-ui-flow-node-button`).click();

    for (const id of shown) {
      const image = page.locator(`[id="${id}"] image.age-transform-preview`);
      await image.waitFor({ state: 'attached', timeout: 90000 });
      const placed = await page.evaluate((nodeId) => {
        const group = document.getElementById(nodeId)!;
        const img = group.querySelector('image.age-transform-preview')!;
        const body = group.querySelector('.red-ui-flow-node')!.getBoundingClientRect();
        const box = img.getBoundingClientRect();
        return { href: img.getAttribute('href') || '', top: box.y, width: box.width, height: box.height, nodeBottom: body.bottom, nodeLeft: body.x, left: box.x };
      }, id);
      assert.match(placed.href, /^data:image\/jpeg;base64,/);
      assert.ok(placed.top > placed.nodeBottom, `the thumbnail of ${id} sits under its node`);
      assert.ok(Math.abs(placed.left - placed.nodeLeft) < 2, `the thumbnail of ${id} starts at the node's left edge`);
      assert.ok(placed.height > 20 && placed.height <= 160 && placed.width <= 480, `thumbnail size ${placed.width}x${placed.height}`);
      // Where the example layout test keeps room for it, in canvas coordinates.
      const drawn = await page.evaluate((nodeId) => {
        const n = RED.nodes.node(nodeId)!;
        const img = document.getElementById(nodeId)!.querySelector('image.age-transform-preview')!;
        const at = (name: string): number => Number(img.getAttribute(name));
        const left = n.x - n.w / 2 + at('x');
        const top = n.y - n.h / 2 + at('y');
        return { left, top, right: left + at('width'), bottom: top + at('height') };
      }, id);
      const room = thumbnailBox(flow as LayoutNode[], flow.find((n) => n.id === id) as LayoutNode)!;
      assert.ok(drawn.left >= room.left && drawn.top >= room.top && drawn.right <= room.right && drawn.bottom <= room.bottom, `the thumbnail of ${id} (${JSON.stringify(drawn)}) lies in the room kept for it (${JSON.stringify(room)})`);
    }
    // The browser really decodes them (an SVG image that fails to load has no pixels to show).
    const decoded = await page.evaluate(async (ids) => {
      const sizes: number[][] = [];
      for (const id of ids) {
        const href = document.getElementById(id)!.querySelector('image.age-transform-preview')!.getAttribute('href')!;
        const bitmap = await createImageBitmap(await (await fetch(href)).blob());
        sizes.push([bitmap.width, bitmap.height]);
      }
      return sizes;
    }, shown);
    for (const [w, h] of decoded) assert.ok(w! > 0 && h! > 0);
    if (process.env.EDITOR_SCREENSHOTS) {
      mkdirSync(process.env.EDITOR_SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(process.env.EDITOR_SCREENSHOTS, 'previews.png') });
    }
    assert.deepEqual(problems, [], 'errors thrown in the page');
  });
});
