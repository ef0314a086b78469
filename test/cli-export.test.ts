// `age-transform export` as an installed package runs it: its help needs no Python, a Python
// without torch gets told exactly what to install, and the exporter shipped in the package
// runs through the bin (the exporter itself is tested through the same command in export.test.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { DEBIAN_PYTHON, EXPORTER } from '../lib/cli/export';
import { bin } from './cli-capture';
import { ROOT } from './paths';
import { skipBecause } from './skip';

/** What the exporter runs: export.py, the local modules it imports (transitively) and verify.mjs. */
function exporterFiles(): string[] {
  const folder = join(ROOT, 'tools', 'export');
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, dots, name] of readFileSync(file, 'utf8').matchAll(/^\s*(?:from|import)\s+(\.?)([\w.]*)/gm)) {
      // `from .x` is relative to the package; anything else to the exporter's folder (its sys.path[0]).
      const path = join(dots ? dirname(file) : folder, ...name.split('.'));
      for (const candidate of [`${path}.py`, join(path, '__init__.py')]) if (existsSync(candidate)) visit(candidate);
    }
  };
  visit(join(folder, 'export.py'));
  return [...seen, join(folder, 'verify.mjs')].map((f) => relative(ROOT, f));
}

describe('age-transform export (CLI)', function () {
  this.timeout(120_000);
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'age-export-cli-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the exporter the package ships: tools/export/export.py beside dist/, all it imports in package.json files', function () {
    assert.equal(EXPORTER, join(ROOT, 'tools', 'export', 'export.py'));
    assert.ok(existsSync(EXPORTER));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; scripts: Record<string, string> };
    const needed = exporterFiles();
    assert.ok(needed.includes('tools/export/archs/stylegan2.py') && needed.includes('tools/export/verify.py'), needed.join(' '));
    const shipped = (file: string): boolean => pkg.files.some((entry) => file === entry || file.startsWith(`${entry}/`));
    assert.deepEqual(needed.filter((f) => !shipped(f)), [], 'every file the exporter runs is in the tarball');
    assert.match(pkg.scripts['models:export'], /dist\/lib\/cli\/index\.js export$/, 'npm run models:export is an alias of the subcommand');
  });

  it('shows its usage without any Python', async function () {
    const env = { ...process.env, PATH: '', SAM_PYTHON: join(dir, 'no-python-here') };
    for (const argv of [['export', '--help'], ['help', 'export']]) {
      const { code, stdout, stderr } = await bin(argv, { env });
      assert.equal(stderr, '', argv.join(' '));
      assert.equal(code, 0, argv.join(' '));
      assert.match(stdout, /^usage: age-transform export --sam sam_ffhq_aging\.pt \[--dex dex_age_classifier\.pth\] \[--arcface model_ir_se50\.pth\] --out DIR \[--verify\]\n/);
      assert.match(stdout, /apt-get install python3-torch python3-onnx/);
    }
    const list = await bin(['--help'], { env });
    assert.match(list.stdout, /\n {2}export +export the official SAM checkpoints to an ONNX model folder \(needs Python with torch and onnx\)\n/);
  });

  it('says exactly what to install when SAM_PYTHON has no torch or onnx, and writes nothing', async function () {
    // A real Python without the system's packages: a fresh venv of whatever python3 is here.
    const python = ['python3', DEBIAN_PYTHON].find((exe) => spawnSync(exe, ['-c', '']).status === 0);
    if (!python) skipBecause(this, 'no python3 to make a venv with');
    const venv = join(dir, 'venv');
    const made = spawnSync(python, ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const bare = join(venv, 'bin', 'python3');
    const out = join(dir, 'models');
    const { code, stdout, stderr } = await bin(['export', '--sam', join(dir, 'sam_ffhq_aging.pt'), '--out', out], { env: { ...process.env, SAM_PYTHON: bare } });
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      `age-transform export: SAM_PYTHON=${bare}: has no torch, onnx; the exporter needs a Python with torch and onnx: ` +
        `install them for it (${bare} -m pip install torch onnx), or unset SAM_PYTHON to use ${DEBIAN_PYTHON} (on Debian or Ubuntu: apt-get install python3-torch python3-onnx)\n`,
    );
    assert.equal(code, 1);
    assert.ok(!existsSync(out));

    const missing = join(dir, 'no-python-here');
    const gone = await bin(['export', '--sam', 'x.pt', '--out', out], { env: { ...process.env, SAM_PYTHON: missing } });
    assert.equal(gone.stderr, `age-transform export: SAM_PYTHON=${missing}: not found; the exporter needs a Python with torch and onnx: point SAM_PYTHON to one, or unset SAM_PYTHON to use ${DEBIAN_PYTHON} (on Debian or Ubuntu: apt-get install python3-torch python3-onnx)\n`);
    assert.equal(gone.code, 1);
  });

  it("passes the exporter's own one-line errors and exit code through", async function () {
    if (spawnSync(DEBIAN_PYTHON, ['-c', 'import torch, onnx']).status !== 0) {
      skipBecause(this, `${DEBIAN_PYTHON} lacks torch or onnx (install python3-torch python3-onnx)`);
    }
    const env = { ...process.env };
    delete env.SAM_PYTHON;
    const sam = join(dir, 'sam_ffhq_aging.pt');
    const { code, stdout, stderr } = await bin(['export', '--sam', sam, '--out', join(dir, 'models')], { env });
    assert.equal(stderr, `error: --sam file not found: ${sam} (expected the SAM aging checkpoint (sam_ffhq_aging.pt))\n`);
    assert.equal(code, 2);
    assert.equal(stdout, '');
  });
});
