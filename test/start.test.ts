import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';
import { ROOT } from './paths';

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  assert.equal(res.status, 200, `${url} answered ${res.status}`);
  return res.json();
}

describe('npm start', function () {
  this.timeout(90000);
  let child: ChildProcess | undefined;
  let userDir: string;
  let output = '';

  before(function () {
    userDir = mkdtempSync(join(tmpdir(), 'age-start-'));
  });
  after(async function () {
    await stop();
    rmSync(userDir, { recursive: true, force: true });
  });

  /** Starts `npm start`'s script on a free port; resolves with the base URL once the editor answers. */
  async function start(env: Record<string, string> = {}): Promise<string> {
    const port = await freePort();
    output = '';
    child = spawn(process.execPath, [join(ROOT, 'tools', 'start.mjs')], { env: { ...process.env, PORT: String(port), NODE_RED_USER_DIR: userDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    const started = Date.now();
    for (;;) {
      assert.ok(Date.now() - started < 60000, `Node-RED did not start:\n${output}`);
      assert.equal(child.exitCode, null, `Node-RED exited:\n${output}`);
      try {
        await getJson(`${base}/nodes`);
        return base;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  async function stop(): Promise<void> {
    if (!child || child.exitCode !== null) return;
    const ended = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGINT');
    await ended;
  }

  it('serves the editor on 127.0.0.1 with our nodes in the palette and the example flow deployed', async function () {
    const base = await start();
    const nodes = (await getJson(`${base}/nodes`)) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const ours = nodes!.filter((n) => n.module === 'node-red-contrib-sam-age');
    const types = ours.flatMap((n) => n.types).sort();
    assert.ok(types.includes('age-runtime'), `palette lists: ${types.join(', ')}`);
    for (const set of ours) assert.equal(set.err, undefined, `${set.types.join(',')} failed to load: ${set.err}`);
    assert.deepEqual(types, ['age-encode', 'age-generate', 'age-regress', 'age-runtime', 'face-align', 'kiosk-page', 'path-optimize']);

    const flows = (await getJson(`${base}/flows`)) as Array<{ type: string }>;
    assert.ok(flows.some((n) => n.type === 'age-encode'), 'the example flow is deployed');
    const editor = await fetch(`${base}/`);
    assert.equal(editor.status, 200);
    assert.match(await editor.text(), /Node-RED/);
    // With no export, the designed demo models serve the flows; no telemetry or update prompt.
    assert.equal(realpathSync(join(userDir, 'models', 'sam-ffhq')), realpathSync(join(ROOT, 'models', 'demo')));
    assert.match(output, /using the designed demo models/);
    const settings = readFileSync(join(userDir, 'settings.js'), 'utf8');
    assert.match(settings, /"telemetry": \{\s*"enabled": false,\s*"updateNotification": false\s*\}/);
  });

  it('EXAMPLE=<name> deploys that example also after a first start', async function () {
    await stop();
    const base = await start({ EXAMPLE: 'http-kiosk' });
    const flows = (await getJson(`${base}/flows`)) as Array<{ type: string; id: string }>;
    assert.ok(flows.some((n) => n.type === 'http in'), 'the kiosk flow is deployed');
    assert.ok(!flows.some((n) => n.type === 'file'), 'the strip flow is replaced');
    assert.ok(flows.some((n) => n.id === '5a3a9e0000000001'), 'with the shared runtime');
    assert.ok(existsSync(join(userDir, 'flows-before-example.json')), 'the earlier flows are kept');
    await stop();
  });

  it('a wrong EXAMPLE name lists the valid ones', async function () {
    const run = spawnSync(process.execPath, [join(ROOT, 'tools', 'start.mjs')], { env: { ...process.env, NODE_RED_USER_DIR: userDir, EXAMPLE: 'kiosk' }, encoding: 'utf8' });
    assert.equal(run.status, 2);
    const names = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
    assert.ok(names.includes('http-kiosk') && names.includes('lifespan-strip'));
    assert.equal(run.stderr.trim(), `EXAMPLE="kiosk" is not an example; choose one of: ${names.join(', ')}`);
  });
});
