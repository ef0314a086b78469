// Runs the exporter's parity cases through onnxruntime-node.
//
// usage: node tools/export/verify.mjs <model-folder> <scratch-folder>
//
// <scratch>/cases.json: { "cases": [ { "id", "model", "inputs": { name: spec } } ] } where a spec is
//   { "file": "x.f32", "shape": [..] }            raw little-endian float32 written by the exporter, or
//   { "sum": [["caseId", "output"], ...] }        the element-wise sum of earlier cases' outputs
//                                                 (written back as <id>.in.<name>.f32 for the exporter).
// Writes every output as <id>.<output>.f32 and <scratch>/results.json with shapes and run times.
import * as ort from 'onnxruntime-node';
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const [folder, scratch] = process.argv.slice(2);
if (!folder || !scratch) {
  console.error('usage: node tools/export/verify.mjs <model-folder> <scratch-folder>');
  process.exit(2);
}

const readF32 = (file) => {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const writeF32 = (file, data) => writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));

const plan = JSON.parse(readFileSync(join(scratch, 'cases.json'), 'utf8'));
const outputs = new Map(); // "case/output" -> ort.Tensor
const results = {};

for (const c of plan.cases) {
  const feeds = {};
  const inputs = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    if (spec.file) {
      feeds[name] = new ort.Tensor('float32', readF32(join(scratch, spec.file)), spec.shape);
    } else {
      const parts = spec.sum.map(([id, out]) => outputs.get(`${id}/${out}`));
      if (parts.some((p) => p === undefined)) throw new Error(`case ${c.id}: input ${name} needs outputs not computed yet`);
      const data = new Float32Array(parts[0].data.length);
      for (const p of parts) for (let i = 0; i < data.length; i++) data[i] += p.data[i];
      feeds[name] = new ort.Tensor('float32', data, parts[0].dims);
      const file = `${c.id}.in.${name}.f32`;
      writeF32(join(scratch, file), data);
      inputs[name] = { file, shape: [...parts[0].dims] };
    }
  }
  const session = await ort.InferenceSession.create(join(folder, c.model));
  const start = performance.now();
  const out = await session.run(feeds);
  const ms = performance.now() - start;
  const shapes = {};
  for (const [name, tensor] of Object.entries(out)) {
    outputs.set(`${c.id}/${name}`, tensor);
    writeF32(join(scratch, `${c.id}.${name}.f32`), tensor.data);
    shapes[name] = [...tensor.dims];
  }
  results[c.id] = { ms: Math.round(ms), outputs: shapes, inputs };
  await session.release();
}
writeFileSync(join(scratch, 'results.json'), JSON.stringify(results, null, 2));
