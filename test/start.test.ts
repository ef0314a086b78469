import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
    if (child && child.exitCode === null) {
      const ended = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGINT');
      await ended;
    }
    rmSync(userDir, { recursive: true, force: true });
  });

  it('serves the editor on 127.0.0.1 with our nodes in the palette and the example flow deployed', async function () {
    const port = await freePort();
    child = spawn(process.execPath, [join(ROOT, 'tools', 'start.mjs')], { env: { ...process.env, PORT: String(port), NODE_RED_USER_DIR: userDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    const started = Date.now();
    let nodes: Array<{ module: string; types: string[]; enabled: boolean; err?: string }> | undefined;
    while (!nodes) {
      assert.ok(Date.now() - started < 60000, `Node-RED did not start:\n${output}`);
      assert.equal(child.exitCode, null, `Node-RED exited:\n${output}`);
      try {
        nodes = (await getJson(`${base}/nodes`)) as typeof nodes;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    const ours = nodes!.filter((n) => n.module === 'node-red-contrib-sam-age');
    const types = ours.flatMap((n) => n.types).sort();
    assert.ok(types.includes('age-runtime'), `palette lists: ${types.join(', ')}`);
    for (const set of ours) assert.equal(set.err, undefined, `${set.types.join(',')} failed to load: ${set.err}`);
    assert.deepEqual(types, ['age-encode', 'age-generate', 'age-regress', 'age-runtime', 'face-align', 'path-optimize']);

    const flows = (await getJson(`${base}/flows`)) as Array<{ type: string }>;
    assert.ok(flows.some((n) => n.type === 'age-encode'), 'the example flow is deployed');
    const editor = await fetch(`${base}/`);
    assert.equal(editor.status, 200);
    assert.match(await editor.text(), /Node-RED/);
  });
});
