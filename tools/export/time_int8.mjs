// Per-graph speed, int8 against float32, in onnxruntime-node (used by test_full.py).
//
// usage: node tools/export/time_int8.mjs <model-folder> <threads> [<rejected-folder>]
// Times every <name>.int8.onnx of the folder (and of the rejected folder: variants that missed a
// quality threshold run at the same speed) against <name>.onnx: batch 1, one warm-up run, the
// median of 3. Prints one JSON object: name -> { fp32_ms, int8_ms, speedup, written }.
import * as ort from 'onnxruntime-node';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const [folder, threadsArg, rejected] = process.argv.slice(2);
if (!folder || !threadsArg) {
  console.error('usage: node tools/export/time_int8.mjs <model-folder> <threads> [<rejected-folder>]');
  process.exit(2);
}
const threads = Number(threadsArg);
const RUNS = 3;

function feedsFor(session) {
  const feeds = {};
  for (const meta of session.inputMetadata) {
    const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = meta.name === 'age' ? 40 : Math.sin(i * 0.37) * 0.5;
    feeds[meta.name] = new ort.Tensor('float32', data, dims);
  }
  return feeds;
}

async function median(file) {
  const options = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1 };
  const session = await ort.InferenceSession.create(file, options);
  const feeds = feedsFor(session);
  await session.run(feeds);
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  await session.release();
  return times.sort((a, b) => a - b)[RUNS >> 1];
}

const found = [];
for (const [dir, written] of [[folder, true], [rejected, false]]) {
  if (!dir || !existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.int8.onnx')) found.push({ name: f.slice(0, -'.int8.onnx'.length), file: join(dir, f), written });
}
const result = {};
for (const { name, file, written } of found) {
  const fp32 = await median(join(folder, `${name}.onnx`));
  const int8 = await median(file);
  result[name] = { fp32_ms: Math.round(fp32), int8_ms: Math.round(int8), speedup: Math.round((fp32 / int8) * 100) / 100, written };
}
console.log(JSON.stringify(result));
