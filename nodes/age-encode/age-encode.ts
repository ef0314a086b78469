import type { NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { parseAges } from '../../lib/sam/ages';
import { ENCODER_SIZE, encodeAges, stylesFor, validateEncodeOptions, type EncodeOptions, type EncodeSettings } from '../../lib/sam/encode';
import { imageToTensor } from '../../lib/sam/image';
import { migrateConfig } from '../shared/config-version';
import { payloadImage, serveInput, statusBusy, statusDone, settingsError } from '../shared/node-kit';

interface AgeEncodeDef extends NodeDef {
  runtime: string;
  targetAge: string;
  mixing: EncodeOptions['mixing'];
  layers: string;
  alpha: string | number;
  variants: string | number;
  seed: string | number;
}

interface EncodeMessage extends NodeMessage {
  targetAge?: unknown;
  reference?: unknown;
  aligned?: Buffer;
}

export = function (RED: NodeAPI): void {
  function AgeEncodeNode(this: import('node-red').Node, saved: AgeEncodeDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrateConfig(RED, node, saved);
    let settings: EncodeSettings;
    try {
      settings = validateEncodeOptions(config);
    } catch (err) {
      settingsError(node, RED._('age-encode.status.badConfig'), err);
      return;
    }

    serveInput(RED, node, config.runtime, async (msg: EncodeMessage, send, engine) => {
      const { models } = engine;
      const face = payloadImage(msg, 'an aligned face image Buffer');
      const ages = msg.targetAge === undefined ? settings.ages : parseAges(msg.targetAge);
      const started = Date.now();
      statusBusy(node, RED._('age-encode.status.encoding', { count: ages.length }));
      const image = await imageToTensor(face, ENCODER_SIZE);
      const styles = await stylesFor(models, settings.mixing, msg.reference, ages, 'msg.reference');
      msg.latent = await encodeAges(models, image, ages, styles);
      msg.aligned = face;
      statusDone(node, RED._('age-encode.status.done', { count: ages.length, ms: Date.now() - started, provider: models.runtime.inUse }), engine);
      send(msg);
    });
  }
  RED.nodes.registerType('age-encode', AgeEncodeNode);
};
