import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { alignImage } from '../../lib/align/align';
import { runtimeDetector } from '../../lib/face/detector';
import { imageToTensor } from '../../lib/sam/image';
import { AGE_SIZE, measureAges, type Backend } from '../../lib/sam/measure';
import type { SamModels } from '../../lib/sam/models';
import { payloadImage, serveInput, statusBusy, statusDone, settingsError } from '../shared/node-kit';

type BackendChoice = Backend | 'auto';
type InputKind = 'auto' | 'aligned' | 'photo';

interface AgeRegressDef extends NodeDef {
  runtime: string;
  backend: BackendChoice;
  input: InputKind;
}

interface RegressMessage extends NodeMessage {
  face?: unknown;
  latent?: unknown;
  targetAge?: unknown;
  age?: number;
  ageError?: number;
}

/** `auto` measures with the exported DEX model when the folder has it, else with face-api's age net. */
async function chooseBackend(models: SamModels, choice: BackendChoice): Promise<Backend> {
  if (choice !== 'auto') return choice;
  return (await models.optional('age').catch(() => undefined)) ? 'onnx' : 'faceapi';
}

export = function (RED: NodeAPI): void {
  function AgeRegressNode(this: Node, config: AgeRegressDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const backendChoice: BackendChoice = config.backend || 'auto';
    const inputKind: InputKind = config.input || 'auto';
    if (!['auto', 'onnx', 'faceapi'].includes(backendChoice) || !['auto', 'aligned', 'photo'].includes(inputKind)) {
      settingsError(node, RED._('age-regress.status.badConfig'), `Expected backend auto, onnx or faceapi and input auto, aligned or photo but received ${backendChoice} and ${inputKind}`);
      return;
    }

    serveInput(RED, node, config.runtime, async (msg: RegressMessage, send, engine) => {
      const { models } = engine;
      const image = payloadImage(msg);
      const started = Date.now();
      const backend = await chooseBackend(models, backendChoice);
      // Images that come from face-align (msg.face) or age-generate (msg.latent) are aligned already.
      const aligned = inputKind === 'aligned' || (inputKind === 'auto' && (isObject(msg.face) || isObject(msg.latent)));
      let face = image;
      if (!aligned) {
        statusBusy(node, RED._('age-regress.status.detecting'));
        const found = await alignImage(image, runtimeDetector(models.runtime));
        if (found.faces.length === 0) throw new Error('No face found in msg.payload');
        face = found.faces[0].image;
      }
      statusBusy(node, RED._('age-regress.status.measuring', { backend }));
      let tensor;
      try {
        tensor = await imageToTensor(face, AGE_SIZE);
      } catch (err) {
        throw new Error(`Cannot decode msg.payload as an image: ${(err as Error).message}`);
      }
      const [age] = await measureAges(models, tensor, backend);
      msg.age = age;
      if (typeof msg.targetAge === 'number') msg.ageError = age - msg.targetAge;
      statusDone(node, RED._('age-regress.status.done', { age: age.toFixed(1), backend, ms: Date.now() - started }), engine);
      send(msg);
    });
  }
  RED.nodes.registerType('age-regress', AgeRegressNode);
};

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}
