// The package as users get it: the `npm pack` tarball (built by prepack; `npm run test:pack`
// packs it into .pack/ first), installed into a fresh Node-RED user directory the way the
// palette manager installs it, then Node-RED started there: the palette lists our nodes and an
// example flow runs end to end on the demo models inside the tarball. Not in the default suite: it installs the
// package's dependencies from the registry (or npm's cache).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startNodeRed, type NodeRedProcess } from './node-red-process';
import { FIXTURES, ROOT } from './paths';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; 'node-red': { nodes: Record<string, string> } };
const PACKED = join(ROOT, '.pack');

/** The palette manager's install command (Node-RED 4, @node-red/registry installer.js). */
const PALETTE_ARGS = ['install', '--no-audit', '--no-update-notifier', '--no-fund', '--save', '--save-prefix=~', '--omit=dev', '--engine-strict'];

describe('the packed package, installed as the palette manager does it', function () {
  this.timeout(600_000);
  let tarball: string;
  let userDir: string;
  let red: NodeRedProcess | undefined;

  before(function () {
    const found = readdirSync(PACKED).filter((f) => f === `${pkg.name}-${pkg.version}.tgz`);
    assert.equal(found.length, 1, `run "npm pack --pack-destination .pack" first (npm run test:pack does)`);
    tarball = join(PACKED, found[0]!);
    userDir = mkdtempSync(join(tmpdir(), 'age-palette-'));
  });
  after(async function () {
    await red?.stop();
    rmSync(userDir, { recursive: true, force: true });
  });

  it('holds what runs and nothing of the tests, benchmarks or fixture tools', function () {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    const kb = statSync(tarball).size / 1024;
    console.log(`      ${files.length} files, ${kb.toFixed(0)} kB packed`);
    for (const file of Object.values(pkg['node-red'].nodes)) {
      assert.ok(files.includes(file), `${file} is packed`);
      assert.ok(files.includes(file.replace(/\.js$/, '.html')), `${file.replace(/\.js$/, '.html')} is packed`);
    }
    assert.ok(files.some((f) => /^dist\/nodes\/[^/]+\/locales\/en-US\//.test(f)), 'the locales');
    assert.ok(files.some((f) => /^dist\/nodes\/[^/]+\/icons\//.test(f)), 'the icons');
    assert.ok(files.some((f) => /^examples\/.+\.json$/.test(f)), 'the example flows');
    assert.ok(files.includes('examples/kiosk/kiosk.html') && files.includes('dist/lib/kiosk/page.js'), 'the kiosk page and the code that finds it');
    assert.ok(files.includes('tools/export/export.py'), 'the exporter');
    assert.ok(files.includes('models/demo/generator.onnx') && files.includes('models/demo/generator.json'), 'the demo models');
    const unwanted = files.filter((f) => /^(dist\/)?(test|bench)\//.test(f) || /^tools\/(tiny-models|start|build)/.test(f) || /^lib\/|^nodes\/|\.ts$/.test(f.replace(/\.d\.ts$/, '')));
    assert.deepEqual(unwanted, [], 'no tests, fixtures, benchmarks, sources or repo tools');
    assert.ok(kb < 4096, `under 4 MB packed (${kb.toFixed(0)} kB)`);
  });

  it('installs into a fresh user directory, loads in Node-RED, runs the HTTP kiosk example on the packed demo models and serves the camera kiosk page', async function () {
    // What Node-RED writes into a new user directory before the first palette install.
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }, null, 2));
    const started = Date.now();
    execFileSync('npm', [...PALETTE_ARGS, tarball], { cwd: userDir, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' }, stdio: 'pipe' });
    console.log(`      npm install of the tarball: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const installed = JSON.parse(readFileSync(join(userDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.match(installed.dependencies[pkg.name] ?? '', /\.tgz$/, 'saved as a dependency of the user directory');

    // The HTTP kiosk and the camera kiosk together (they share the runtime config node).
    const read = (name: string): Array<Record<string, unknown>> => JSON.parse(readFileSync(join(ROOT, 'examples', `${name}.json`), 'utf8')) as Array<Record<string, unknown>>;
    const flow = [...new Map([...read('http-kiosk'), ...read('camera-kiosk')].map((n) => [n.id, n])).values()];
    const demo = join(userDir, 'node_modules', pkg.name, 'models', 'demo');
    for (const node of flow) if (node.type === 'age-runtime') Object.assign(node, { modelDir: demo, provider: 'cpu', threads: 1 });
    red = await startNodeRed({ userDir, flows: flow, name: 'palette Node-RED' });

    const nodes = (await (await fetch(`${red.base}/nodes`, { headers: { Accept: 'application/json' } })).json()) as Array<{ module: string; types: string[]; err?: string }>;
    const ours = nodes.filter((n) => n.module === pkg.name);
    for (const set of ours) assert.equal(set.err, undefined, `${set.types.join(',')} failed to load: ${set.err}`);
    assert.deepEqual(ours.flatMap((n) => n.types).sort(), Object.keys(pkg['node-red'].nodes).sort());
    assert.ok(!lstatSync(join(userDir, 'node_modules', pkg.name)).isSymbolicLink(), 'a real copy in the user directory, not a link to the checkout');

    const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
    const res = await fetch(`${red.base}/age?target=70`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: photo });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    assert.equal(meta.width, 512);

    // The kiosk page node finds the page inside the installed package (Node-RED runs in the user directory).
    const page = await fetch(`${red.base}/kiosk`);
    assert.equal(page.status, 200, red.output());
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await page.text(), readFileSync(join(ROOT, 'examples', 'kiosk', 'kiosk.html'), 'utf8'));
  });

  it('runs age-transform export from the installed package: help without Python, the shipped exporter with it', function () {
    const bin = join(userDir, 'node_modules', '.bin', 'age-transform');
    const help = execFileSync(process.execPath, [bin, 'export', '--help'], { encoding: 'utf8', env: { ...process.env, PATH: '', SAM_PYTHON: join(userDir, 'no-python') } });
    assert.match(help, /^usage: age-transform export --sam /);
    if (spawnSync('/usr/bin/python3', ['-c', 'import torch, onnx']).status !== 0) {
      console.log('      exporter run skipped: /usr/bin/python3 lacks torch or onnx (install python3-torch python3-onnx)');
      return;
    }
    // The exporter's own check of its arguments: every module it imports came with the tarball.
    const sam = join(userDir, 'sam_ffhq_aging.pt');
    const run = spawnSync(process.execPath, [bin, 'export', '--sam', sam, '--out', join(userDir, 'models', 'sam-ffhq')], { encoding: 'utf8', env: { ...process.env, SAM_PYTHON: '' } });
    assert.equal(run.stderr, `error: --sam file not found: ${sam} (expected the SAM aging checkpoint (sam_ffhq_aging.pt))\n`);
    assert.equal(run.status, 2);
  });
});
