// `npm run bench`: every benchmark, one JSON report on stdout. Figures worth keeping go to
// BENCHMARKS.md with the machine they were measured on.
import { cpus } from 'node:os';
import { benchAlign } from './align';
import { benchInference } from './inference';
import { benchKiosk } from './kiosk';
import { benchOptimize } from './optimize';

const BENCHES: Record<string, () => Promise<object>> = {
  align: benchAlign,
  inference: () => benchInference(),
  optimize: benchOptimize,
  kiosk: benchKiosk,
};

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
  const report: Record<string, unknown> = {
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
    date: new Date().toISOString(),
  };
  for (const [name, run] of Object.entries(BENCHES)) {
    if (only.length > 0 && !only.includes(name)) continue;
    process.stderr.write(`bench ${name}...\n`);
    report[name] = await run();
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exitCode = 1;
});
