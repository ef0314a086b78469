// Thumbnails for the flow editor: made after the message has gone, published on the comms
// channel only while an editor says it shows them, and not at all when a node has them off.
// The editor's side (drawing under the node) is checked in Chromium by editor-preview.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import faceAlignNode from '../nodes/face-align/face-align';
import ageRegressNode from '../nodes/age-regress/age-regress';
import { PREVIEW_TOPIC, SHOWING_TOPIC } from '../nodes/shared/preview';
import { makeThumbnail, THUMBNAIL_DEFAULTS } from '../lib/image/thumbnail';
import { FIXTURES, requireNodeRed, TINY_MODELS } from './paths';
import { helper, next, useNodeRed } from './node-helpers';

/** Node-RED's runtime event bus: comms messages from editors arrive on it, RED.comms.publish goes out through it. */
const events = (requireNodeRed('@node-red/util') as { events: import('node:events').EventEmitter }).events;

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
type Published = { topic: string; data: { image: string | null; width?: number; height?: number }; retain?: boolean };

function flow(preview: boolean): TestFlows {
  return [
    { id: 'flow', type: 'tab' },
    { id: 'rt', z: 'flow', type: 'age-runtime', name: 'tiny', modelDir: TINY_MODELS, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
    { id: 'fa', z: 'flow', type: 'face-align', runtime: 'rt', configVersion: 1, preview, wires: [['reg'], []] },
    { id: 'reg', z: 'flow', type: 'age-regress', runtime: 'rt', configVersion: 1, backend: 'faceapi', input: 'aligned', preview, wires: [['out']] },
    { id: 'out', z: 'flow', type: 'helper' },
  ] as TestFlows;
}

/** Everything published on our topic while `run` runs, and a little after. */
async function publishedDuring(run: () => Promise<void>, settle = 1500): Promise<Published[]> {
  const seen: Published[] = [];
  const listener = (event: Published) => {
    if (event.topic.startsWith(`${PREVIEW_TOPIC}/`)) seen.push(event);
  };
  events.on('comms', listener);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, settle));
  } finally {
    events.off('comms', listener);
  }
  return seen;
}

async function decoded(image: string): Promise<Metadata> {
  assert.match(image, /^data:image\/jpeg;base64,/);
  return sharp(Buffer.from(image.slice(image.indexOf(',') + 1), 'base64')).metadata();
}

describe('editor thumbnails', function () {
  this.timeout(60000);

  describe('makeThumbnail', function () {
    it('shrinks a face to 160 px JPEG, a strip to a row at most 480 px wide and any other picture into 160 px square', async function () {
      const face = await makeThumbnail(photo);
      const meta = await sharp(face.jpeg).metadata();
      assert.deepEqual([meta.format, meta.height, face.height], ['jpeg', THUMBNAIL_DEFAULTS.height, THUMBNAIL_DEFAULTS.height]);
      const strip = await sharp({ create: { width: 12 * 256, height: 256, channels: 3, background: '#808080' } }).png().toBuffer();
      const row = await makeThumbnail(strip, { strip: true });
      assert.deepEqual([row.width, row.height], [480, 40]);
      // Any other wide picture (a group photo with the faces pasted back) keeps to one square.
      const wide = await makeThumbnail(strip);
      assert.deepEqual([wide.width, wide.height], [THUMBNAIL_DEFAULTS.width, 13]);
      const photo43 = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080' } }).png().toBuffer();
      const pasted = await makeThumbnail(photo43);
      assert.deepEqual([pasted.width, pasted.height], [160, 120]);
    });

    it('writes a label on the picture', async function () {
      const grey = await sharp({ create: { width: 256, height: 256, channels: 3, background: '#808080' } }).png().toBuffer();
      const plain = await sharp((await makeThumbnail(grey)).jpeg).raw().toBuffer();
      const labelled = await sharp((await makeThumbnail(grey, { label: '34.2' })).jpeg).raw().toBuffer();
      let changed = 0;
      for (let i = 0; i < plain.length; i++) if (Math.abs(plain[i]! - labelled[i]!) > 40) changed++;
      assert.ok(changed > 300, `the label changed ${changed} bytes`);
    });
  });

  describe('nodes', function () {
    useNodeRed();
    afterEach(function () {
      events.emit('comms:connection-removed', { session: 'editor-1' });
    });

    it('face-align and age-regress publish their last output while an editor shows thumbnails', async function () {
      await helper.load([ageRuntimeNode, faceAlignNode, ageRegressNode], flow(true));
      events.emit(`comms:message:${SHOWING_TOPIC}`, { session: 'editor-1', data: { showing: true } });
      let measured = 0;
      const seen = await publishedDuring(async () => {
        const out = next<{ age: number }>(helper.getNode('out'));
        helper.getNode('fa').receive({ payload: photo });
        measured = (await out).age;
      });
      const topics = seen.map((p) => p.topic);
      assert.deepEqual(topics.sort(), [`${PREVIEW_TOPIC}/fa`, `${PREVIEW_TOPIC}/reg`]);
      for (const p of seen) {
        assert.equal(p.retain, true, 'kept for editors opened later');
        const meta = await decoded(p.data.image!);
        assert.deepEqual([meta.width, meta.height, p.data.width, p.data.height], [160, 160, 160, 160]);
      }
      assert.ok(measured > 0);
    });

    it('publishes nothing while no editor shows thumbnails', async function () {
      await helper.load([ageRuntimeNode, faceAlignNode, ageRegressNode], flow(true));
      events.emit(`comms:message:${SHOWING_TOPIC}`, { session: 'editor-1', data: { showing: true } });
      events.emit('comms:connection-removed', { session: 'editor-1' });
      const seen = await publishedDuring(async () => {
        const out = next(helper.getNode('out'));
        helper.getNode('fa').receive({ payload: photo });
        await out;
      });
      assert.deepEqual(seen, []);
    });

    it('with the setting off, only clears an earlier thumbnail', async function () {
      const seen = await publishedDuring(async () => {
        await helper.load([ageRuntimeNode, faceAlignNode, ageRegressNode], flow(false));
        events.emit(`comms:message:${SHOWING_TOPIC}`, { session: 'editor-1', data: { showing: true } });
        const out = next(helper.getNode('out'));
        helper.getNode('fa').receive({ payload: photo });
        await out;
      });
      assert.deepEqual(seen.map((p) => [p.topic, p.data.image, p.retain]).sort(), [
        [`${PREVIEW_TOPIC}/fa`, null, false],
        [`${PREVIEW_TOPIC}/reg`, null, false],
      ]);
    });
  });
});
