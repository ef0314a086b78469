// Compiles the TypeScript, then puts each node's editor files (html, locales, icons)
// next to its compiled JavaScript, where Node-RED looks for them.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

for (const name of readdirSync(join(root, 'nodes'))) {
  const from = join(root, 'nodes', name);
  const to = join(root, 'dist', 'nodes', name);
  for (const entry of readdirSync(from)) {
    if (entry.endsWith('.html') || entry === 'locales' || entry === 'icons') {
      cpSync(join(from, entry), join(to, entry), { recursive: true });
    }
  }
}
// The package's bin (age-transform).
const bin = join(root, 'dist', 'lib', 'cli', 'index.js');
if (existsSync(bin)) execFileSync('chmod', ['+x', bin]);
