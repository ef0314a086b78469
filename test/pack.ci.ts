// The package as users get it: the `npm pack` tarball (built by prepack; `npm run test:pack`
// packs it into .pack/ first), installed into a fresh Node-RED user directory the way the
// palette manager installs it, then Node-RED started there: the palette lists our nodes and an
// example flow runs end to end on the tiny models. Not in the default suite: it installs the
// package's dependencies from the registry (or npm's cache).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startNodeRed, type NodeRedProcess } from './node-red-process';
import { FIXTURES, ROOT, TINY_MODELS } from './paths';

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
    assert.ok(files.includes('tools/export/export.py'), 'the exporter');
    const unwanted = files.filter((f) => /^(dist\/)?(test|bench)\//.test(f) || /^tools\/(tiny-models|start|build)/.test(f) || /^lib\/|^nodes\/|\.ts$/.test(f.replace(/\.d\.ts$/, '')));
    assert.deepEqual(unwanted, [], 'no tests, fixtures, benchmarks, sources or repo tools');
    assert.ok(kb < 2048, `under 2 MB packed (${kb.toFixed(0)} kB)`);
  });

  it('installs into a fresh user directory, loads in Node-RED and runs the HTTP kiosk example', async function () {
    // What Node-RED writes into a new user directory before the first palette install.
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }, null, 2));
    const started = Date.now();
    execFileSync('npm', [...PALETTE_ARGS, tarball], { cwd: userDir, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' }, stdio: 'pipe' });
    console.log(`      npm install of the tarball: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const installed = JSON.parse(readFileSync(join(userDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.match(installed.dependencies[pkg.name] ?? '', /\.tgz$/, 'saved as a dependency of the user directory');

    const flow = JSON.parse(readFileSync(join(ROOT, 'examples', 'http-kiosk.json'), 'utf8')) as Array<Record<string, unknown>>;
    for (const node of flow) if (node.type === 'age-runtime') Object.assign(node, { modelDir: TINY_MODELS, provider: 'cpu', threads: 1 });
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
  });
});
