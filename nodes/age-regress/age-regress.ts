import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { measureImageAge, validateRegressOptions, type RegressOptions } from '../../lib/sam/regress';
import { migrateConfig } from '../shared/config-version';
import { payloadImage, serveInput, statusBusy, statusDone, settingsError } from '../shared/node-kit';
import { nodePreview } from '../shared/preview';

interface AgeRegressDef extends NodeDef {
  runtime: string;
  backend: RegressOptions['backend'];
  input: RegressOptions['input'];
  preview: boolean;
}

interface RegressMessage extends NodeMessage {
  face?: unknown;
  latent?: unknown;
  targetAge?: unknown;
  age?: number;
  ageError?: number;
}

export = function (RED: NodeAPI): void {
  function AgeRegressNode(this: Node, saved: AgeRegressDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrateConfig(RED, node, saved);
    let settings: RegressOptions;
    try {
      settings = validateRegressOptions(config);
    } catch (err) {
      settingsError(node, RED._('age-regress.status.badConfig'), err);
      return;
    }
    const preview = nodePreview(RED, node, config.preview !== false);

    serveInput(RED, node, config.runtime, async (msg: RegressMessage, send, engine) => {
      const { models } = engine;
      const image = payloadImage(msg);
      const started = Date.now();
      // Images that come from face-align (msg.face) or age-generate (msg.latent) are aligned already.
      const aligned = settings.input === 'aligned' || (settings.input === 'auto' && (isObject(msg.face) || isObject(msg.latent)));
      const measured = await measureImageAge(models, image, {
        backend: settings.backend,
        aligned,
        name: 'msg.payload',
        onStage: (s) => statusBusy(node, s.stage === 'detecting' ? RED._('age-regress.status.detecting') : RED._('age-regress.status.measuring', { backend: s.backend })),
      });
      if (!measured) throw new Error(RED._('age-regress.errors.noFace'));
      const { age, backend, face } = measured;
      msg.age = age;
      if (typeof msg.targetAge === 'number') msg.ageError = age - msg.targetAge;
      statusDone(node, RED._('age-regress.status.done', { age: age.toFixed(1), backend, ms: Date.now() - started }), engine);
      send(msg);
      preview.show(face, { label: age.toFixed(1) });
    });
  }
  RED.nodes.registerType('age-regress', AgeRegressNode);
};

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}
