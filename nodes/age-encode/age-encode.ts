import type { NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { parseAges } from '../../lib/sam/ages';
import { ENCODER_SIZE, encodeAges, type StyleMixing } from '../../lib/sam/encode';
import { imageToTensor } from '../../lib/sam/image';
import { checkLatent, codeAt, parseLayers } from '../../lib/sam/latent';
import type { SamModels } from '../../lib/sam/models';
import { payloadImage, serveInput, statusBusy, statusDone, settingsError } from '../shared/node-kit';

interface AgeEncodeDef extends NodeDef {
  runtime: string;
  targetAge: string;
  mixing: 'none' | 'reference' | 'random';
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

/** Reads the mixing settings once; a bad one stops the node at deploy. */
function mixingFrom(config: AgeEncodeDef): Omit<StyleMixing, 'reference'> & { mode: AgeEncodeDef['mixing'] } {
  const mode = config.mixing || 'none';
  if (!['none', 'reference', 'random'].includes(mode)) throw new RangeError(`Expected style mixing none, reference or random but received "${mode}"`);
  const alpha = config.alpha === undefined || config.alpha === '' ? 1 : Number(config.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`Expected a mixing alpha between 0 and 1 but received ${JSON.stringify(config.alpha)}`);
  const count = config.variants === undefined || config.variants === '' ? 3 : Number(config.variants);
  if (!Number.isInteger(count) || count < 1 || count > 16) throw new RangeError(`Expected 1 to 16 random style variants but received ${JSON.stringify(config.variants)}`);
  const seed = Number(config.seed || 0);
  if (!Number.isInteger(seed)) throw new RangeError(`Expected an integer seed but received ${JSON.stringify(config.seed)}`);
  return { mode, layers: parseLayers(config.layers || '8-17'), alpha, random: mode === 'random' ? { count, seed } : undefined };
}

/** The codes to inject from msg.reference: a latent (its first code) or an aligned face image, encoded at the same ages. */
async function referenceCodes(models: SamModels, reference: unknown, ages: number[]): Promise<Float32Array> {
  if (Buffer.isBuffer(reference)) {
    return (await encodeAges(models, await imageToTensor(reference, ENCODER_SIZE), ages)).data;
  }
  if (reference === undefined) throw new TypeError('Expected msg.reference (a latent or an aligned face image) for reference style mixing');
  const latent = checkLatent(reference, 'msg.reference');
  return latent.dims[0] === ages.length ? latent.data : codeAt(latent.data, 0).slice();
}

export = function (RED: NodeAPI): void {
  function AgeEncodeNode(this: import('node-red').Node, config: AgeEncodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let defaultAges: number[];
    let mixing: ReturnType<typeof mixingFrom>;
    try {
      defaultAges = parseAges(config.targetAge ?? '0:100:10');
      mixing = mixingFrom(config);
    } catch (err) {
      settingsError(node, RED._('age-encode.status.badConfig'), err);
      return;
    }

    serveInput(RED, node, config.runtime, async (msg: EncodeMessage, send, engine) => {
      const { models } = engine;
      const face = payloadImage(msg, 'an aligned face image Buffer');
      const ages = msg.targetAge === undefined ? defaultAges : parseAges(msg.targetAge);
      const started = Date.now();
      statusBusy(node, RED._('age-encode.status.encoding', { count: ages.length }));
      let image;
      try {
        image = await imageToTensor(face, ENCODER_SIZE);
      } catch (err) {
        throw new Error(`Cannot decode msg.payload as an image: ${(err as Error).message}`);
      }
      const styles: StyleMixing | undefined =
        mixing.mode === 'none' ? undefined : { ...mixing, reference: mixing.mode === 'reference' ? await referenceCodes(models, msg.reference, ages) : undefined };
      msg.latent = await encodeAges(models, image, ages, styles);
      msg.aligned = face;
      statusDone(node, RED._('age-encode.status.done', { count: ages.length, ms: Date.now() - started, provider: models.runtime.inUse }), engine);
      send(msg);
    });
  }
  RED.nodes.registerType('age-encode', AgeEncodeNode);
};
