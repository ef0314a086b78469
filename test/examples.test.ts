import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node } from 'node-red';
import { FIXTURES, NODE_RED_MODULES, ROOT, TINY_MODELS } from './paths';
import { helper, next, useNodeRed } from './node-helpers';
import { exampleFiles, layoutProblems, thumbnailBox } from './example-layout';

/* eslint-disable @typescript-eslint/no-require-imports -- Node-RED node modules are CommonJS files loaded by path */
const CORE = join(NODE_RED_MODULES, '@node-red', 'nodes', 'core');
const coreNodes = ['common/20-inject.js', 'common/21-debug.js', 'common/25-catch.js', 'common/60-link.js', 'common/90-comment.js', 'function/15-change.js', 'function/10-function.js', 'storage/10-file.js', 'network/21-httpin.js'].map(
  (file) => require(join(CORE, file)) as (RED: unknown) => void,
);
const pkg = require(join(ROOT, 'package.json')) as { 'node-red': { nodes: Record<string, string> } };
const ourTypes = Object.keys(pkg['node-red'].nodes);
const ourNodes = Object.values(pkg['node-red'].nodes).map((file) => require(join(ROOT, file)) as (RED: unknown) => void);
const dashboardPkg = require('@flowfuse/node-red-dashboard/package.json') as { 'node-red': { nodes: Record<string, string> } };
const dashboardNodes = Object.values(dashboardPkg['node-red'].nodes).map((file) => require(join(ROOT, 'node_modules', '@flowfuse', 'node-red-dashboard', file)) as (RED: unknown) => void);
/* eslint-enable @typescript-eslint/no-require-imports */

type FlowNode = { id: string; type: string; wires?: string[][]; [key: string]: unknown };

/** An example flow, pointed at the tiny models, the fixture photo and a temporary output folder. */
function example(name: string, outDir: string): FlowNode[] {
  const flow = JSON.parse(readFileSync(join(ROOT, 'examples', `${name}.json`), 'utf8')) as FlowNode[];
  for (const node of flow) {
    if (node.type === 'age-runtime') Object.assign(node, { modelDir: TINY_MODELS, provider: 'cpu', threads: 1 });
    if (node.type === 'file in') node.filename = join(FIXTURES, 'astronaut.png');
    if (node.type === 'file') node.filename = join(outDir, String(node.filename).replace(/^out\//, ''));
  }
  return flow;
}

/** Wires a helper node after the node of the given type, to see what it sends. */
function watch(flow: FlowNode[], type: string): string {
  const watched = flow.find((n) => n.type === type) as FlowNode;
  (watched.wires as string[][])[0].push('watcher');
  flow.push({ id: 'watcher', type: 'helper', z: watched.z as string });
  return 'watcher';
}

/** The node API Node-RED hands to node modules: the test helper serves http-in routes on its httpNode app, not on helper.request()'s. */
let nodeApi: { httpNode: unknown } | undefined;
const captureNodeApi = (RED: unknown): void => {
  nodeApi = RED as { httpNode: unknown };
};
const request = require('supertest') as (app: unknown) => ReturnType<typeof helper.request>; // eslint-disable-line @typescript-eslint/no-require-imports

const allNodes = [...coreNodes, ...ourNodes, captureNodeApi];

const readExample = (file: string): FlowNode[] => JSON.parse(readFileSync(join(ROOT, 'examples', file), 'utf8')) as FlowNode[];

describe('example flows', function () {
  this.timeout(120000);
  let outDir: string;
  beforeEach(function () {
    outDir = mkdtempSync(join(tmpdir(), 'age-examples-'));
  });
  afterEach(function () {
    rmSync(outDir, { recursive: true, force: true });
  });
  useNodeRed();

  it('every example is valid JSON with our nodes wired to a runtime config', function () {
    const files = exampleFiles();
    assert.deepEqual(files, ['camera-kiosk.json', 'dashboard-age-slider.json', 'dashboard-camera.json', 'fleet-kiosk.json', 'fleet-worker.json', 'http-kiosk.json', 'lifespan-animation.json', 'lifespan-strip.json']);
    for (const file of files) {
      const flow = readExample(file);
      const runtime = flow.find((n) => n.type === 'age-runtime');
      // The fleet kiosk runs no model: its workers do (test/fleet.ci.ts).
      if (file === 'fleet-kiosk.json') {
        assert.equal(runtime, undefined);
        continue;
      }
      assert.ok(runtime, `${file} has an age-runtime`);
      for (const node of flow.filter((n) => ['face-align', 'age-encode', 'age-generate'].includes(n.type))) assert.equal(node.runtime, runtime.id, `${file}: ${node.type} uses it`);
    }
  });

  it('all examples share one age-runtime config node: same id, same content (Import > Examples reuses it)', function () {
    // The fleet kiosk runs no model (its workers do): its kiosk-page node needs no runtime.
    const runtimes = exampleFiles().filter((file) => readExample(file).some((n) => ourTypes.includes(n.type) && n.type !== 'kiosk-page')).map((file) => {
      const found = readExample(file).filter((n) => n.type === 'age-runtime');
      assert.equal(found.length, 1, `${file} has one age-runtime`);
      return { file, runtime: found[0] };
    });
    for (const { file, runtime } of runtimes) {
      assert.equal(runtime.id, '5a3a9e0000000001', `${file}: the shared runtime id`);
      assert.equal(runtime.name, 'SAM models', `${file}: the shared runtime name`);
      assert.equal(runtime.z, undefined, `${file}: a global config node`);
      assert.deepEqual(runtime, runtimes[0].runtime, `${file} has the same runtime as ${runtimes[0].file}`);
    }
  });

  it('the fleet kiosk lets people in through the camera kiosk door: the same function, so the page tickets work alike', function () {
    const door = (file: string): FlowNode | undefined => readExample(file).find((n) => n.type === 'function' && n.name === 'door: one at a time, in order');
    assert.ok(door('camera-kiosk.json'), 'the camera kiosk has its door');
    assert.equal(door('fleet-kiosk.json')?.func, door('camera-kiosk.json')!.func);
  });

  it('examples are laid out on the grid, within the canvas, with room for thumbnails, no overlapping boxes, no wire looping back or over a thumbnail', function () {
    for (const file of exampleFiles()) {
      const flow = readExample(file);
      assert.ok(flow.filter((n) => typeof n.x === 'number').length >= 4, `${file} has nodes on the canvas`);
      assert.deepEqual(layoutProblems(flow), [], `${file} (see: node dist/test/example-layout.js examples/${file})`);
    }
  });

  it('the layout check finds what it is for: a thumbnail over the next row, a wire back, a node off the canvas', function () {
    const flow = readExample('lifespan-strip.json');
    const align = flow.find((n) => n.type === 'face-align')!;
    const debug = flow.find((n) => n.type === 'debug')!;
    // Under the face, where its thumbnail goes.
    Object.assign(debug, { x: (align.x as number) + 20, y: (align.y as number) + 100, wires: [] });
    const problems = layoutProblems(flow);
    assert.ok(problems.some((p) => p.startsWith('the thumbnail of "face align" and')), problems.join('\n'));
    Object.assign(debug, { x: 2000, y: align.y });
    assert.ok(layoutProblems(flow).some((p) => p.includes('is off the canvas')));
    const turnedOff = readExample('lifespan-strip.json');
    const generate = turnedOff.find((n) => n.type === 'age-generate')!;
    assert.ok(thumbnailBox(turnedOff, generate), 'a strip shows a thumbnail');
    generate.preview = false;
    assert.equal(thumbnailBox(turnedOff, generate), undefined, 'no thumbnail, no space kept');
    const back = readExample('lifespan-strip.json');
    const encode = back.find((n) => n.type === 'age-encode')!;
    encode.x = 60;
    assert.ok(layoutProblems(back).some((p) => /the wire .* does not run left to right/.test(p)));
  });

  it('photo to lifespan strip runs end to end', async function () {
    const flow = example('lifespan-strip', outDir);
    const watcher = watch(flow, 'file');
    await helper.load(allNodes, flow as TestFlows);
    const written = next(helper.getNode(watcher));
    (helper.getNode(flow.find((n) => n.type === 'inject')!.id) as Node).receive({});
    await written;
    const meta = await sharp(join(outDir, 'lifespan-strip.jpg')).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.height, 256);
    assert.equal(meta.width, 7 * 256, 'the input face and 6 ages');
  });

  it('lifespan animation writes a GIF with interpolated frames', async function () {
    const flow = example('lifespan-animation', outDir);
    const watcher = watch(flow, 'file');
    await helper.load(allNodes, flow as TestFlows);
    const written = next(helper.getNode(watcher));
    (helper.getNode(flow.find((n) => n.type === 'inject')!.id) as Node).receive({});
    await written;
    const meta = await sharp(join(outDir, 'lifespan.gif'), { animated: true }).metadata();
    assert.equal(meta.format, 'gif');
    assert.ok((meta.pages ?? 1) > 5, `more frames (${meta.pages}) than the 5 ages`);
  });

  it('HTTP kiosk answers a JPEG, and JSON errors for bad input', async function () {
    await helper.load(allNodes, example('http-kiosk', outDir) as TestFlows);
    const http = (): ReturnType<typeof helper.request> => request(nodeApi!.httpNode);
    const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
    const ok = await http().post('/age?target=70').set('Content-Type', 'image/png').send(photo).expect(200);
    assert.equal(ok.headers['content-type'], 'image/jpeg');
    assert.equal((await sharp(ok.body as Buffer).metadata()).width, 512);

    const badAge = await http().post('/age?target=150').set('Content-Type', 'image/png').send(photo).expect(400);
    assert.equal(badAge.body.error, 'RangeError: Expected target ages between 0 and 100 years but received 150');
    const notNumber = await http().post('/age?target=old').set('Content-Type', 'image/png').send(photo).expect(400);
    assert.ok(notNumber.body.error);
    const notImage = await http().post('/age').set('Content-Type', 'application/octet-stream').send(Buffer.from('definitely not an image')).expect(400);
    assert.ok(notImage.body.error);
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#777' } }).png().toBuffer();
    const noFace = await http().post('/age').set('Content-Type', 'image/png').send(blank).expect(422);
    assert.deepEqual(noFace.body, { error: 'no face found in the image' });
  });

  it('HTTP kiosk answers 503 with Retry-After when the runtime is busy', async function () {
    const flow = example('http-kiosk', outDir);
    Object.assign(flow.find((n) => n.type === 'age-runtime')!, { queueLimit: 1 });
    await helper.load(allNodes, flow as TestFlows);
    const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
    const replies = await Promise.all(Array.from({ length: 4 }, () => request(nodeApi!.httpNode).post('/age?target=70').set('Content-Type', 'image/png').send(photo)));
    const busy = replies.filter((r) => r.status === 503);
    assert.ok(busy.length >= 1, `statuses ${replies.map((r) => r.status).join(', ')}`);
    assert.ok(replies.some((r) => r.status === 200), 'the admitted request is served');
    for (const reply of busy) {
      assert.match(String(reply.headers['retry-after']), /^\d+$/);
      assert.match(reply.body.error, /age runtime is busy/);
    }
    assert.ok(replies.every((r) => r.status === 200 || r.status === 503), 'no 400 for overload');
  });

  it('the dashboard example loads with FlowFuse Dashboard 2', async function () {
    const flow = example('dashboard-age-slider', outDir);
    await helper.load([...allNodes, ...dashboardNodes], flow as TestFlows);
    for (const node of flow.filter((n) => n.type !== 'tab')) assert.ok(helper.getNode(node.id), `${node.type} ${node.id} is running`);
    // Past the widgets: once the photo is aligned at start, an age from the slider gives a data URL.
    const toTemplate = flow.find((n) => n.type === 'function') as FlowNode;
    (toTemplate.wires as string[][])[0].push('watcher');
    await helper.unload();
    flow.push({ id: 'watcher', type: 'helper', z: toTemplate.z as string });
    await helper.load([...allNodes, ...dashboardNodes], flow as TestFlows);
    const ageAndFace = helper.getNode(flow.find((n) => n.name === 'age + face')!.id) as Node;
    const started = Date.now();
    while (!ageAndFace.context().flow.get('face')) {
      assert.ok(Date.now() - started < 60000, 'the photo is aligned at start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const shown = next<{ payload: string }>(helper.getNode('watcher'));
    ageAndFace.receive({ payload: 40 });
    const { payload } = await shown;
    assert.match(payload, /^data:image\/jpeg;base64,/);
    assert.ok(payload.length < 1024 * 1024, 'under the dashboard message cap');
  });
});
