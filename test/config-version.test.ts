// configVersion: a flow saved before versions existed (or at an older one) is migrated on the
// runtime by the same table the editor uses, and keeps working; the editor's ages grammar
// reads ages exactly as the runtime does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import faceAlignNode from '../nodes/face-align/face-align';
import ageEncodeNode from '../nodes/age-encode/age-encode';
import ageGenerateNode from '../nodes/age-generate/age-generate';
import { currentVersion } from '../nodes/shared/config-version';
import { parseAges } from '../lib/sam/ages';
import { FIXTURES, ROOT, TINY_MODELS } from './paths';
import { helper, logged, next, text, useNodeRed } from './node-helpers';

interface SharedEditor {
  MIGRATIONS: Record<string, Array<{ to: number; fill: Record<string, unknown> }>>;
  migrate(type: string, saved: object): { config: Record<string, unknown>; from: number; to: number; changes: Record<string, unknown> };
  parseAges(text: string): { ages?: number[]; problem?: [string, object] };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const shared = require(join(ROOT, 'resources', 'age-editor.js')) as SharedEditor;
const TYPES = ['age-runtime', 'face-align', 'age-encode', 'age-generate', 'age-regress', 'path-optimize', 'kiosk-page'];

/** The flow of examples/lifespan-strip.json as 0.1.0 saved it when a user left fields empty: no configVersion, settings missing. */
function oldFlow(): TestFlows {
  return [
    { id: 'flow', type: 'tab' },
    { id: 'rt', z: 'flow', type: 'age-runtime', name: 'tiny', modelDir: TINY_MODELS, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
    { id: 'fa', z: 'flow', type: 'face-align', runtime: 'rt', wires: [['enc'], []] },
    { id: 'enc', z: 'flow', type: 'age-encode', runtime: 'rt', targetAge: '20,70', wires: [['gen']] },
    { id: 'gen', z: 'flow', type: 'age-generate', runtime: 'rt', mode: 'strip', size: '', wires: [['out']] },
    { id: 'out', z: 'flow', type: 'helper' },
  ] as TestFlows;
}

describe('configVersion', function () {
  describe('migrations', function () {
    it('every node type has a current version, and each step goes up', function () {
      for (const type of TYPES) {
        const steps = shared.MIGRATIONS[type];
        assert.ok(steps && steps.length > 0, `${type} has migrations`);
        steps.forEach((step, i) => assert.ok(step.to > (i === 0 ? 0 : steps[i - 1]!.to), `${type} step ${i} goes up`));
        assert.equal(currentVersion(type), steps.at(-1)!.to);
      }
    });

    it('fills what an unversioned node lacks with the values it ran with, and keeps what it has', function () {
      const { config, from, to, changes } = shared.migrate('age-generate', { id: 'g', type: 'age-generate', mode: 'strip', size: '', format: 'jpeg' });
      assert.equal(from, 0);
      assert.equal(to, 1);
      assert.equal(config.configVersion, 1);
      assert.equal(config.mode, 'strip');
      assert.equal(config.format, 'jpeg');
      assert.equal(config.size, 1024, 'an empty field ran as 1024 in 0.1.0');
      assert.equal(config.preview, true, 'thumbnails are on for old flows too');
      assert.deepEqual(Object.keys(changes).sort(), ['animationFormat', 'configVersion', 'delay', 'feather', 'frames', 'labels', 'loop', 'preview', 'quality', 'size']);
    });

    it('leaves a current node as it is', function () {
      const saved = { id: 'f', type: 'face-align', configVersion: 1, size: 512, preview: false };
      const { config, changes } = shared.migrate('face-align', saved);
      assert.deepEqual(changes, {});
      assert.deepEqual(config, saved);
    });
  });

  describe('an old saved flow on the runtime', function () {
    this.timeout(60000);
    useNodeRed();

    it('runs as 0.1.0 ran it: strip of 1024 px PNG tiles, the input face first', async function () {
      await helper.load([ageRuntimeNode, faceAlignNode, ageEncodeNode, ageGenerateNode], oldFlow());
      const got = next<NodeMessage & { payload: Buffer; targetAge: number[] }>(helper.getNode('out'));
      helper.getNode('fa').receive({ payload: readFileSync(join(FIXTURES, 'astronaut.png')) });
      const msg = await got;
      const meta = await sharp(msg.payload).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 3 * 1024, 1024]);
      assert.deepEqual(msg.targetAge, [20, 70]);
    });

    it('runs a node saved by a newer version as it is, with one warning', async function () {
      const flow = oldFlow().map((n) => (n.id === 'enc' ? { ...n, configVersion: 99 } : n)) as TestFlows;
      await helper.load([ageRuntimeNode, faceAlignNode, ageEncodeNode, ageGenerateNode], flow);
      const warnings = logged('enc', 'warn');
      assert.deepEqual(warnings, [await text('node-red-contrib-sam-age/age-runtime:shared.errors.newerConfig', { package: 'node-red-contrib-sam-age', saved: 99, current: 1 })]);
      assert.match(warnings[0]!, /^saved by a newer version of node-red-contrib-sam-age \(configVersion 99, this version reads up to 1\)/);
    });
  });

  describe('the editor reads ages as the runtime does', function () {
    const cases = ['0:100:10', '20,40,60', '70', ' 5 : 25 : 5 ', '0:100', '10:0', '0:100:0', '0:200:10', '-5', '20,,40', 'abc', '', '0:1000:1', '12.5,30', '0:100:7'];
    for (const input of cases) {
      it(`"${input}"`, function () {
        let runtime: number[] | undefined;
        try {
          runtime = parseAges(input);
        } catch {
          runtime = undefined;
        }
        const editor = shared.parseAges(input);
        assert.deepEqual(editor.ages, runtime, `editor ${JSON.stringify(editor)} vs runtime ${JSON.stringify(runtime)}`);
        assert.equal(editor.problem === undefined, runtime !== undefined);
      });
    }
  });
});
