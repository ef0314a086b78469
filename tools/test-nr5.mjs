// The node and flow tests on Node-RED 5 and Node 22 (the default suite runs Node-RED 4.1 on
// Node 20). Node-RED 5 needs Node >= 22.9: both come from the npm registry into a scratch
// folder (.nr5/, ignored by git), and the tests take Node-RED from there (SAM_NODE_RED_MODULES,
// see test/paths.ts). Run `npm run build` first (npm run test:nr5 does).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = join(root, '.nr5');
const modules = join(scratch, 'node_modules');
const node22 = join(modules, '.bin', 'node');
const wanted = { node: process.env.NR5_NODE || '22', 'node-red': process.env.NR5_NODE_RED || '5' };

if (!existsSync(node22) || !existsSync(join(modules, 'node-red', 'package.json'))) {
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'nr5-scratch', private: true }, null, 2));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', `node@${wanted.node}`, `node-red@${wanted['node-red']}`], { cwd: scratch, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
}
const nodeVersion = execFileSync(node22, ['--version'], { encoding: 'utf8' }).trim();
const redVersion = JSON.parse(readFileSync(join(modules, 'node-red', 'package.json'), 'utf8')).version;
console.log(`Node-RED ${redVersion} on Node ${nodeVersion}`);

// The tests that run our nodes in a Node-RED runtime: every file using the test helper.
const testDir = join(root, 'dist', 'test');
const files = readdirSync(testDir)
  .filter((f) => f.endsWith('.test.js') && /node-helpers|node-red-node-test-helper/.test(readFileSync(join(testDir, f), 'utf8')))
  .map((f) => join(testDir, f));
const mocha = join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const run = spawnSync(node22, [mocha, '--no-config', '--timeout', '120000', '--exit', ...files], { cwd: root, stdio: 'inherit', env: { ...process.env, SAM_NODE_RED_MODULES: modules } });
process.exit(run.status ?? 1);
