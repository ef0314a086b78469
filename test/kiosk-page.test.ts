// The kiosk-page node in a real Node-RED (the test helper with our catalogs): the shipped page
// byte for byte, the endpoint written into it, a user's copy from the user directory (read
// again after an edit), and a missing or empty file failing through done(err) so a Catch node
// answers the request with a 500. The Chromium side is test/kiosk.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import kioskPageNode from '../nodes/kiosk-page/kiosk-page';
import { fillEndpoint, validateKioskPageOptions } from '../lib/kiosk/page';
import { NODE_RED_MODULES, ROOT } from './paths';
import { catchNode, helper, logged, next, text, useNodeRed, type CaughtMessage } from './node-helpers';

/* eslint-disable @typescript-eslint/no-require-imports -- Node-RED's core nodes and supertest are CommonJS modules loaded by path */
const CORE = join(NODE_RED_MODULES, '@node-red', 'nodes', 'core');
const httpNodes = require(join(CORE, 'network', '21-httpin.js')) as (RED: unknown) => void;
const changeNode = require(join(CORE, 'function', '15-change.js')) as (RED: unknown) => void;
const request = require('supertest') as (app: unknown) => ReturnType<typeof helper.request>;
/* eslint-enable @typescript-eslint/no-require-imports */

const SHIPPED = readFileSync(join(ROOT, 'examples', 'kiosk', 'kiosk.html'), 'utf8');
type Served = NodeMessage & { payload: string; headers: Record<string, string>; statusCode: number };
type Status = { fill?: string; shape?: string; text?: string };

/** Every status a node set, from its start on: the test helper spies on Node.prototype.status. */
function statusesOf(node: Node): Status[] {
  const spy = node.status as unknown as { getCalls(): Array<{ thisValue: unknown; args: [Status] }> };
  return spy.getCalls().filter((call) => call.thisValue === node).map((call) => call.args[0]);
}

describe('kiosk-page node', function () {
  let userDir: string;
  beforeEach(function () {
    userDir = mkdtempSync(join(tmpdir(), 'age-kiosk-page-'));
    // As Node-RED runs it: settings.userDir, and a working directory that is not the package.
    helper.settings({ ageModelRoots: [tmpdir()], userDir } as never);
  });
  afterEach(function () {
    helper.settings({ ageModelRoots: [tmpdir()] } as never);
    rmSync(userDir, { recursive: true, force: true });
  });
  useNodeRed();

  async function load(page: object = {}): Promise<{ page: Node; out: Node; errors: Node; statuses: () => Status[] }> {
    const flow = [
      { id: 'flow', type: 'tab' },
      { id: 'page', z: 'flow', type: 'kiosk-page', name: '', configVersion: 1, ...page, wires: [['out']] },
      { id: 'out', z: 'flow', type: 'helper' },
      { id: 'catcher', z: 'flow', type: 'catch', scope: ['page'], wires: [['errors']] },
      { id: 'errors', z: 'flow', type: 'helper' },
    ] as TestFlows;
    await helper.load([kioskPageNode, catchNode], flow);
    const node = helper.getNode('page');
    return { page: node, out: helper.getNode('out'), errors: helper.getNode('errors'), statuses: () => statusesOf(node) };
  }

  it('serves the shipped page as it is, with its headers and 200, whatever the working directory', async function () {
    const cwd = process.cwd();
    process.chdir(userDir);
    try {
      const { page, out, statuses } = await load({ file: '', endpoint: 'kiosk/age' });
      const got = next<Served>(out);
      page.receive({ payload: 'ignored', headers: { 'x-kept': 'yes' } } as NodeMessage);
      const msg = await got;
      assert.equal(msg.payload, SHIPPED, 'the shipped kiosk.html, byte for byte (its tag already says kiosk/age)');
      assert.deepEqual(msg.headers, { 'x-kept': 'yes', 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
      assert.equal(msg.statusCode, 200);
      assert.deepEqual(statuses().at(-1), { fill: 'green', shape: 'dot', text: await text('kiosk-page.status.served', { page: await text('kiosk-page.status.shipped') }) });
    } finally {
      process.chdir(cwd);
    }
  });

  it('writes the endpoint into the page, and nothing else changes', async function () {
    const { page, out } = await load({ endpoint: 'https://ages.example/booth/age?key=a&b="c"' });
    const got = next<Served>(out);
    page.receive({});
    const { payload } = await got;
    const tag = '<meta name="kiosk-endpoint" content="https://ages.example/booth/age?key=a&amp;b=&quot;c&quot;">';
    assert.ok(payload.includes(tag), 'the tag carries the endpoint, escaped');
    assert.equal(payload.replace(tag, '<meta name="kiosk-endpoint" content="kiosk/age">'), SHIPPED, 'the rest is the shipped page');
  });

  it('serves a user\'s copy from the user directory, read again after an edit', async function () {
    mkdirSync(join(userDir, 'pages'));
    const file = join(userDir, 'pages', 'my-kiosk.html');
    const restyled = SHIPPED.replace('--accent: #2d8cff;', '--accent: #e0218a;');
    writeFileSync(file, restyled);
    const { page, out, statuses } = await load({ file: 'pages/my-kiosk.html', endpoint: 'age' });
    let got = next<Served>(out);
    page.receive({});
    assert.equal((await got).payload, restyled.replace('content="kiosk/age"', 'content="age"'));
    assert.equal(statuses().at(-1)?.text, await text('kiosk-page.status.served', { page: 'my-kiosk.html' }));
    writeFileSync(file, restyled.replace('See your older self', 'Our booth'));
    got = next<Served>(out);
    page.receive({});
    assert.match((await got).payload, /<title>Our booth<\/title>/, 'the edit shows without a deploy');
  });

  it('takes an absolute path as it is; a page without the endpoint tag is served and the node warns once', async function () {
    const file = join(userDir, 'plain.html');
    writeFileSync(file, '<!doctype html><title>plain</title><p>hello</p>\n');
    const { page, out } = await load({ file, endpoint: '/booth/age' });
    for (let i = 0; i < 2; i++) {
      const got = next<Served>(out);
      page.receive({});
      assert.equal((await got).payload, '<!doctype html><title>plain</title><p>hello</p>\n');
    }
    const warnings = logged('page', 'warn');
    assert.deepEqual(warnings, [await text('kiosk-page.errors.noEndpointTag', { path: file })]);
  });

  for (const [what, setup, reason] of [
    ['a missing file', (): string => 'nowhere/kiosk.html', 'ENOENT'],
    ['a folder', (dir: string): string => (mkdirSync(join(dir, 'folder')), 'folder'), 'EISDIR'],
    ['an empty file', (dir: string): string => (writeFileSync(join(dir, 'empty.html'), ' \n'), 'empty.html'), 'EEMPTY'],
  ] as const) {
    it(`${what}: done(err) with the reason and the path, a red status, and the next message served again once it is fixed`, async function () {
      const file = setup(userDir);
      const { page, out, errors, statuses } = await load({ file });
      const caught = next<CaughtMessage>(errors);
      page.receive({ payload: 'request' });
      const { error } = await caught;
      const path = join(userDir, file);
      const expected = await text('kiosk-page.errors.unreadable', { path, reason: await text(`kiosk-page.reasons.${reason}`) });
      assert.equal(error.message, `Error: ${expected}`);
      assert.equal(error.source?.id, 'page');
      assert.equal((error as unknown as { code: string }).code, 'ENOPAGE');
      assert.deepEqual(statuses().at(-1), { fill: 'red', shape: 'ring', text: expected.length > 60 ? `${expected.slice(0, 59)}…` : expected });

      rmSync(path, { recursive: true, force: true });
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, SHIPPED);
      const got = next<Served>(out);
      page.receive({});
      assert.equal((await got).payload, SHIPPED);
      assert.equal(statuses().at(-1)?.fill, 'green');
    });
  }

  it('answers a real request with the page, and with a 500 from the flow\'s Catch node when the file is gone', async function () {
    let nodeApi: { httpNode: unknown } | undefined;
    const capture = (RED: unknown): void => {
      nodeApi = RED as { httpNode: unknown };
    };
    const flow = [
      { id: 'flow', type: 'tab' },
      { id: 'getPage', z: 'flow', type: 'http in', url: '/kiosk', method: 'get', wires: [['page']] },
      { id: 'page', z: 'flow', type: 'kiosk-page', file: '', endpoint: 'kiosk/age', wires: [['res']] },
      { id: 'res', z: 'flow', type: 'http response', statusCode: '', headers: {} },
      { id: 'getCopy', z: 'flow', type: 'http in', url: '/copy', method: 'get', wires: [['copy']] },
      { id: 'copy', z: 'flow', type: 'kiosk-page', file: 'gone.html', endpoint: 'kiosk/age', wires: [['res']] },
      { id: 'catcher', z: 'flow', type: 'catch', scope: ['copy'], wires: [['fail']] },
      { id: 'fail', z: 'flow', type: 'change', rules: [{ t: 'set', p: 'statusCode', pt: 'msg', to: '500', tot: 'num' }, { t: 'set', p: 'payload', pt: 'msg', to: 'error.message', tot: 'msg' }], wires: [['res']] },
    ] as TestFlows;
    await helper.load([httpNodes, changeNode, catchNode, kioskPageNode, capture], flow);
    const page = await request(nodeApi!.httpNode).get('/kiosk');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.text, SHIPPED);
    const missing = await request(nodeApi!.httpNode).get('/copy');
    assert.equal(missing.status, 500);
    assert.equal(missing.text, 'Error: ' + await text('kiosk-page.errors.unreadable', { path: join(userDir, 'gone.html'), reason: await text('kiosk-page.reasons.ENOENT') }));
  });

  it('refuses an endpoint with spaces at deploy, and fails each request with that reason', async function () {
    const { page, errors, statuses } = await load({ endpoint: 'kiosk age' });
    assert.deepEqual(statuses().at(-1), { fill: 'red', shape: 'ring', text: await text('kiosk-page.status.badConfig') });
    const caught = next<CaughtMessage>(errors);
    page.receive({});
    assert.equal((await caught).error.message, 'RangeError: Expected endpoint to be a URL without spaces (at most 2048 characters), such as kiosk/age, but received "kiosk age"');
  });

  it('an empty endpoint is the default; the tag is found with its attributes in any order', function () {
    assert.deepEqual(validateKioskPageOptions({ endpoint: '' }), { file: '', endpoint: 'kiosk/age' });
    assert.deepEqual(fillEndpoint("<head><meta content='x' id=e name=kiosk-endpoint></head>", 'kiosk/age'), { html: '<head><meta content="kiosk/age" id=e name=kiosk-endpoint></head>', filled: true });
    assert.deepEqual(fillEndpoint('<meta name="kiosk-endpoint"/>', 'a$&b'), { html: '<meta name="kiosk-endpoint" content="a$&amp;b"/>', filled: true });
    assert.deepEqual(fillEndpoint('<meta name="kiosk-endpoints" content="x">', 'y'), { html: '<meta name="kiosk-endpoints" content="x">', filled: false });
  });
});
