// `age-transform export`: runs the Python exporter shipped in this package (tools/export) with
// a Python that has torch and onnx, so an installed package can turn the official checkpoints
// into a model folder. The exporter checks its own arguments and prints its own one-line
// errors; this command finds the Python, passes the arguments and the output through, and
// returns the exporter's exit code.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT, type CliIO, type Command } from './command';

/** The exporter, found from this file (dist/lib/cli/) so it works from an installed package. */
export const EXPORTER = join(__dirname, '..', '..', '..', 'tools', 'export', 'export.py');
/** Debian's own Python, where apt's python3-torch and python3-onnx install. */
export const DEBIAN_PYTHON = '/usr/bin/python3';
/** What the exporter needs from Python. */
const MODULES = ['torch', 'onnx'];
const APT = 'on Debian or Ubuntu: apt-get install python3-torch python3-onnx';
const INSTALL = `${APT} (for ${DEBIAN_PYTHON}); elsewhere: python3 -m pip install torch onnx`;

const USAGE = `age-transform export --sam sam_ffhq_aging.pt [--dex dex_age_classifier.pth] [--arcface model_ir_se50.pth] --out DIR [--verify]
  --sam FILE        the official SAM aging checkpoint: inversion, aging, generator, generator-256, mapping
  --dex FILE        the DEX VGG age classifier: age.onnx (optional)
  --arcface FILE    the IR-SE50 ArcFace model: identity.onnx (optional)
  --out DIR         the model folder to create or replace (written beside it, renamed at the end)
  --verify          also write verify.json: every model's parity, PyTorch against onnxruntime-node
Runs the exporter shipped in this package (tools/export/export.py) with a Python that has torch
and onnx: $SAM_PYTHON when set, else ${DEBIAN_PYTHON} (Debian's), else python3 on PATH.
To install them ${INSTALL}.
exit codes: 0 done, 1 failure (no Python with torch and onnx, a failed parity check), 2 bad arguments or checkpoint`;

/** What one Python lacks: the modules it has not, or why it cannot be run. */
interface PythonCheck {
  python: string;
  missing: string[];
  error?: string;
}

/** Asks a Python which of the exporter's modules it lacks (find_spec: nothing is imported). */
function checkPython(python: string): Promise<PythonCheck> {
  const probe = `import importlib.util; print(' '.join(m for m in ${JSON.stringify(MODULES)} if importlib.util.find_spec(m) is None))`;
  return new Promise((resolve) => {
    execFile(python, ['-c', probe], { timeout: 60_000 }, (err, stdout) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        resolve({ python, missing: MODULES, error: code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : `failed (${err.message.split('\n')[0]})` });
      } else {
        resolve({ python, missing: stdout.trim().split(/\s+/).filter(Boolean) });
      }
    });
  });
}

function describe(check: PythonCheck): string {
  return `${check.python}: ${check.error ?? `has no ${check.missing.join(', ')}`}`;
}

/**
 * The Python to run the exporter with: $SAM_PYTHON when set (and only it), else Debian's, else
 * python3 on PATH; the first that has torch and onnx.
 * @throws {CliError} EXIT.FAILURE saying what each candidate lacks and exactly what to install
 */
export async function findPython(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const chosen = env.SAM_PYTHON;
  if (chosen) {
    const check = await checkPython(chosen);
    if (check.missing.length === 0) return chosen;
    throw new CliError(
      `SAM_PYTHON=${describe(check)}; the exporter needs a Python with ${MODULES.join(' and ')}: ` +
        `${check.error ? 'point SAM_PYTHON to one' : `install them for it (${chosen} -m pip install ${check.missing.join(' ')})`}, or unset SAM_PYTHON to use ${DEBIAN_PYTHON} (${APT})`,
      EXIT.FAILURE,
    );
  }
  const checks: PythonCheck[] = [];
  for (const python of [DEBIAN_PYTHON, 'python3']) {
    const check = await checkPython(python);
    if (check.missing.length === 0) return python;
    checks.push(check);
  }
  throw new CliError(`no Python with ${MODULES.join(' and ')} found (${checks.map(describe).join('; ')}); ${INSTALL}; or set SAM_PYTHON to a Python that has them`, EXIT.FAILURE);
}

/** `age-transform export`: see USAGE. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'export the official SAM checkpoints to an ONNX model folder (needs Python with torch and onnx)',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    if (!existsSync(EXPORTER)) throw new CliError(`the exporter is missing from this install: ${EXPORTER}`, EXIT.FAILURE);
    const python = await findPython();
    // --verify runs the exported models in onnxruntime-node: with this node unless told otherwise.
    const args = [EXPORTER, ...argv, ...(argv.includes('--node') ? [] : ['--node', process.execPath])];
    const child = spawn(python, args, { stdio: ['inherit', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', io.stdout);
    child.stderr.setEncoding('utf8').on('data', io.stderr);
    // Ctrl-C reaches the exporter too; wait for it to clean up and say so, rather than leave it behind.
    const ignore = (): void => {};
    process.on('SIGINT', ignore);
    try {
      return await new Promise<number>((resolve, reject) => {
        child.on('error', (err) => reject(new CliError(`cannot run ${python}: ${err.message}`, EXIT.FAILURE)));
        child.on('close', (code) => resolve(code ?? EXIT.FAILURE));
      });
    } finally {
      process.off('SIGINT', ignore);
    }
  },
};
