// The example layout test computes node boxes from the flow files (test/example-layout.ts);
// here every example is opened in the real editor in Chromium and each node's box, as the
// editor sized it, must be the computed one, so what the layout test passes is what a user
// sees (with the editor's font on Debian).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT } from './paths';
import { chromiumMissing, openEditor, type EditorSession, type NodeRed } from './editor/node-red';
import { editorLabel, exampleFiles, nodeBox, type FlowNode } from './example-layout';
import { skipBecause } from './skip';

interface EditorNode {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}
declare const RED: { nodes: { filterNodes(filter: { z: string }): EditorNode[] }; workspaces: { show(id: string): void } };

/** Every example in one flow file, config nodes they share (the runtime, the dashboard's) once. */
function allExamples(): FlowNode[] {
  const all = new Map<string, FlowNode>();
  for (const file of exampleFiles()) for (const node of JSON.parse(readFileSync(join(ROOT, 'examples', file), 'utf8')) as FlowNode[]) all.set(node.id, node);
  return [...all.values()];
}

describe('example layout in the flow editor (Chromium)', function () {
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
    session = await openEditor(allExamples(), { width: 1920, height: 1080 });
    ({ red, page, problems } = session);
  });

  after(async function () {
    await session?.close();
  });

  it('draws every node of every example with the box the layout test computes', async function () {
    const flow = allExamples();
    await page.goto(red.base);
    await page.waitForSelector('.red-ui-flow-node', { timeout: 60000 });
    const tabs = flow.filter((n) => n.type === 'tab');
    assert.equal(tabs.length, exampleFiles().length, 'one tab per example');
    for (const tab of tabs) {
      await page.evaluate((id) => RED.workspaces.show(id), tab.id);
      await page.waitForSelector(`[id="${flow.find((n) => n.z === tab.id && typeof n.x === 'number')!.id}"] .red-ui-flow-node`);
      const drawn = await page.evaluate((z) => RED.nodes.filterNodes({ z }).map(({ id, x, y, w, h }) => ({ id, x, y, w, h })), tab.id);
      const placed = flow.filter((n) => n.z === tab.id && typeof n.x === 'number');
      assert.equal(drawn.length, placed.length, `${String(tab.label)}: every node is drawn`);
      for (const node of drawn) {
        const saved = placed.find((n) => n.id === node.id)!;
        const box = nodeBox(saved);
        const real = { left: node.x - node.w / 2, right: node.x + node.w / 2, top: node.y - node.h / 2, bottom: node.y + node.h / 2 };
        assert.deepEqual(real, box, `${String(tab.label)}: "${editorLabel(saved)}" (${saved.type}) as drawn`);
      }
    }
    assert.deepEqual(problems, [], 'errors thrown in the page');
  });
});
