// The path-optimize node: thin wiring from a message to lib/optimize. Settings are read and
// checked once at deploy; each message runs one optimization with progress on the status;
// a redeploy or close aborts it between batches (serveInput waits for it, then releases).
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { ENCODER_SIZE } from '../../lib/sam/encode';
import { imageToTensor } from '../../lib/sam/image';
import { validateOptimizeOptions, type OptimizeInput } from '../../lib/optimize/options';
import { optimizePath } from '../../lib/optimize/optimize';
import type { OptimizeProgress } from '../../lib/optimize/state';
import { payloadImage, serveInput, statusBusy, statusDone, settingsError } from '../shared/node-kit';

interface PathOptimizeDef extends NodeDef {
  runtime: string;
  ages: string;
  ageWeight: string | number;
  identityWeight: string | number;
  smoothnessWeight: string | number;
  budget: string | number;
  ageBackend: string;
  identityBackend: string;
  seed: string | number;
}

interface OptimizeMessage extends NodeMessage {
  targetAge?: unknown;
}

/** Editor values are strings; '' means "use the default". */
const num = (value: string | number | undefined): number | undefined => (value === undefined || value === '' ? undefined : Number(value));

/** The node's settings as optimizer input (checked by validateOptimizeOptions). */
function settingsFrom(config: PathOptimizeDef): OptimizeInput {
  return {
    ages: config.ages || undefined,
    weights: { age: num(config.ageWeight), identity: num(config.identityWeight), smoothness: num(config.smoothnessWeight) },
    budget: num(config.budget),
    ageBackend: (config.ageBackend || undefined) as OptimizeInput['ageBackend'],
    identityBackend: (config.identityBackend || undefined) as OptimizeInput['identityBackend'],
    seed: num(config.seed),
  };
}

/** Shortest gap between two progress statuses, ms (a batch on small models takes a few ms). */
const STATUS_EVERY = 250;

export = function (RED: NodeAPI): void {
  function PathOptimizeNode(this: Node, config: PathOptimizeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let settings: OptimizeInput;
    try {
      settings = settingsFrom(config);
      validateOptimizeOptions(settings);
    } catch (err) {
      settingsError(node, RED._('path-optimize.status.badConfig'), err);
      return;
    }

    serveInput(RED, node, config.runtime, async (msg: OptimizeMessage, send, engine, signal) => {
      const { models } = engine;
      const face = payloadImage(msg, 'an aligned face image Buffer');
      const input = msg.targetAge === undefined ? settings : { ...settings, ages: msg.targetAge };
      // Checked before decoding, so a bad msg.targetAge gets its exact message.
      validateOptimizeOptions(input);
      const image = await imageToTensor(face, ENCODER_SIZE);
      let shown = 0;
      let where = '';
      const onProgress = (p: OptimizeProgress): void => {
        const now = Date.now();
        // A new phase or frame shows at once; evaluation counts within one at most every STATUS_EVERY ms.
        if (`${p.phase}:${p.frame}` === where && now - shown < STATUS_EVERY) return;
        shown = now;
        where = `${p.phase}:${p.frame}`;
        const key = p.phase === 'refine' ? 'path-optimize.status.frame' : `path-optimize.status.${p.phase}`;
        statusBusy(node, RED._(key, { frame: p.frame, frames: p.frames, evaluations: p.evaluations, budget: p.budget }));
      };
      statusBusy(node, RED._('path-optimize.status.starting'));
      // Closed or redeployed: the run rejects with an AbortError, which serveInput ends quietly.
      const { latent, report } = await optimizePath(models, image, input, { signal, onProgress });
      msg.latent = latent;
      msg.report = report;
      statusDone(node, RED._('path-optimize.status.done', { frames: report.frames.length, before: report.maeBefore.toFixed(1), after: report.maeAfter.toFixed(1), seconds: report.seconds.toFixed(1) }), engine);
      send(msg);
    });
  }
  RED.nodes.registerType('path-optimize', PathOptimizeNode);
};
