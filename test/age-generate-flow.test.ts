// The whole chain in a real Node-RED runtime: photo -> face-align -> age-encode -> age-generate,
// on the tiny models. Checks the contract between the nodes: msg.face.transform and
// msg.original reach paste-back, msg.aligned reaches the strip.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import faceAlignNode from '../nodes/face-align/face-align';
import ageEncodeNode from '../nodes/age-encode/age-encode';
import ageGenerateNode from '../nodes/age-generate/age-generate';
import { FIXTURES, TINY_MODELS } from './paths';
import { helper, next, useNodeRed } from './node-helpers';

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));

type Face = { box: { x: number; y: number; width: number; height: number }; transform: [[number, number, number], [number, number, number]]; size: number };
type Generated = NodeMessage & { payload: Buffer; face: Face; original: Buffer; aligned: Buffer; targetAge: number | number[] };

/** runtime; face-align -> age-encode -> age-generate (paste-back) -> out; age-encode -> age-generate (strip) -> strip. */
async function load(): Promise<{ fa: Node; out: Node; strip: Node }> {
  const flow = [
    { id: 'flow', type: 'tab' },
    { id: 'rt', z: 'flow', type: 'age-runtime', name: 'tiny', modelDir: TINY_MODELS, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
    { id: 'fa', z: 'flow', type: 'face-align', runtime: 'rt', size: 256, mode: 'largest', detector: 'ssd', minConfidence: 0.5, minFaceSize: 20, maxPixels: 40000000, wires: [['enc'], []] },
    { id: 'enc', z: 'flow', type: 'age-encode', runtime: 'rt', targetAge: '20,70', mixing: 'none', layers: '8-17', alpha: 1, variants: 3, seed: 0, wires: [['paste', 'strips']] },
    { id: 'paste', z: 'flow', type: 'age-generate', runtime: 'rt', mode: 'paste-back', format: 'png', size: 256, wires: [['out']] },
    { id: 'strips', z: 'flow', type: 'age-generate', runtime: 'rt', mode: 'strip', format: 'png', size: 256, labels: true, wires: [['strip']] },
    { id: 'out', z: 'flow', type: 'helper' },
    { id: 'strip', z: 'flow', type: 'helper' },
  ] as TestFlows;
  await helper.load([ageRuntimeNode, faceAlignNode, ageEncodeNode, ageGenerateNode], flow);
  return { fa: helper.getNode('fa'), out: helper.getNode('out'), strip: helper.getNode('strip') };
}

describe('face-align -> age-encode -> age-generate', function () {
  useNodeRed();

  it('pastes each age back onto the face of the photo and strips the aligned input', async function () {
    const { fa, out, strip } = await load();
    const pasted: Generated[] = [];
    const both = new Promise<void>((resolve) =>
      out.on('input', (msg: NodeMessage) => {
        pasted.push(msg as Generated);
        if (pasted.length === 2) resolve();
      }),
    );
    const stripped = next<Generated>(strip);
    fa.receive({ payload: photo });
    await both;

    const source = await sharp(photo).removeAlpha().raw().toBuffer();
    const { transform, size, box } = pasted[0].face;
    // The aligned square's corners in the photo bound everything paste-back may touch.
    const corners = [[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]].map(([x, y]) => [transform[0][0] * x + transform[0][1] * y + transform[0][2], transform[1][0] * x + transform[1][1] * y + transform[1][2]]);
    const xs = corners.map((c) => c[0]);
    const ys = corners.map((c) => c[1]);
    for (const msg of pasted) {
      assert.equal(msg.original, photo, 'face-align keeps the photo in msg.original');
      const { data, info } = await sharp(msg.payload).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [512, 512], 'the photo keeps its size');
      let outside = 0;
      let inFace = 0;
      let faceCount = 0;
      for (let y = 0; y < info.height; y++) {
        for (let x = 0; x < info.width; x++) {
          const i = (y * info.width + x) * 3;
          const d = Math.abs(data[i] - source[i]) + Math.abs(data[i + 1] - source[i + 1]) + Math.abs(data[i + 2] - source[i + 2]);
          if (x < Math.min(...xs) - 1 || x > Math.max(...xs) + 1 || y < Math.min(...ys) - 1 || y > Math.max(...ys) + 1) outside += d;
          else if (x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height) {
            inFace += d;
            faceCount++;
          }
        }
      }
      assert.equal(outside, 0, 'nothing changes away from the face');
      assert.ok(inFace / faceCount > 20, `the detected face changes (${(inFace / faceCount).toFixed(1)} per pixel)`);
    }
    assert.deepEqual(pasted.map((m) => m.targetAge), [20, 70]);

    const s = await stripped;
    const meta = await sharp(s.payload).metadata();
    assert.deepEqual([meta.width, meta.height], [3 * 256, 256], 'input face and two ages');
    const first = await sharp(s.payload).extract({ left: 0, top: 0, width: 256, height: 200 }).raw().toBuffer();
    const aligned = await sharp(s.aligned).removeAlpha().extract({ left: 0, top: 0, width: 256, height: 200 }).raw().toBuffer();
    let diff = 0;
    for (let i = 0; i < first.length; i++) diff += Math.abs(first[i] - aligned[i]);
    assert.ok(diff / first.length < 2, 'the strip starts with the aligned face age-encode read');
  });
});
