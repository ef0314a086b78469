import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { checkLatent, codeAt, LAYERS, STYLE } from '../../lib/sam/latent';
import { generate, type GenerateResult } from '../../lib/sam/output';
import { validateOutputOptions, type OutputOptions } from '../../lib/sam/output-options';
import { migrateConfig } from '../shared/config-version';
import { serveInput, statusBusy, statusDone, settingsError } from '../shared/node-kit';
import { nodePreview } from '../shared/preview';

interface AgeGenerateDef extends NodeDef {
  runtime: string;
  mode: OutputOptions['mode'];
  format: OutputOptions['format'];
  size: string | number;
  quality: OutputOptions['quality'];
  labels: boolean;
  animationFormat: OutputOptions['animationFormat'];
  frames: string | number;
  delay: string | number;
  loop: string | number;
  feather: string | number;
  mask?: OutputOptions['mask'];
  measure?: boolean;
  labelMeasures?: boolean;
  preview: boolean;
}

interface GenerateMessage extends NodeMessage {
  latent?: unknown;
  aligned?: unknown;
  original?: unknown;
  face?: unknown;
  parts?: Record<string, unknown>;
}

/** Reads the editor's settings (strings from the form) into checked output options. */
function optionsFrom(config: AgeGenerateDef): OutputOptions {
  const num = (value: string | number | undefined): number | undefined => (value === undefined || value === '' ? undefined : Number(value));
  return validateOutputOptions({
    mode: config.mode || undefined,
    format: config.format || undefined,
    size: num(config.size),
    quality: config.quality || undefined,
    labels: typeof config.labels === 'boolean' ? config.labels : undefined,
    animationFormat: config.animationFormat || undefined,
    frames: num(config.frames),
    delay: num(config.delay),
    loop: num(config.loop),
    feather: num(config.feather),
    mask: config.mask || undefined,
    measure: typeof config.measure === 'boolean' ? config.measure : undefined,
    labelMeasures: typeof config.labelMeasures === 'boolean' ? config.labelMeasures : undefined,
  });
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

/** The status text of a finished message. */
function doneText(RED: NodeAPI, options: OutputOptions, result: GenerateResult): string {
  const ms = Math.round(result.timings.total);
  if (options.mode === 'animation') return RED._('age-generate.status.animation', { frames: result.rendered, ms });
  if (options.mode === 'strip') return RED._('age-generate.status.strip', { count: result.rendered, ms });
  return RED._('age-generate.status.images', { count: result.images.length, ms });
}

export = function (RED: NodeAPI): void {
  function AgeGenerateNode(this: Node, saved: AgeGenerateDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrateConfig(RED, node, saved);
    let options: OutputOptions;
    try {
      options = optionsFrom(config);
    } catch (err) {
      settingsError(node, RED._('age-generate.status.badConfig'), err);
      return;
    }
    const preview = nodePreview(RED, node, config.preview !== false);

    serveInput(RED, node, config.runtime, async (msg: GenerateMessage, send, engine, signal) => {
      const { models } = engine;
      const latent = checkLatent(msg.latent);
      const count = latent.dims[0];
      const animation = options.mode === 'animation';
      const total = animation ? (count - 1) * (options.frames + 1) + 1 : count;
      statusBusy(node, RED._(animation ? 'age-generate.status.renderingFrames' : 'age-generate.status.rendering', { count: total }));
      const result = await generate(models, { latent, aligned: msg.aligned, original: msg.original, face: msg.face }, options, (done, all) => {
        if (done < all) statusBusy(node, RED._('age-generate.status.progress', { done, count: all }));
      }, signal);
      statusDone(node, doneText(RED, options, result), engine);
      const render = { mode: options.mode, rendered: result.rendered, resolution: result.resolution, ms: Math.round(result.timings.total), renderMs: Math.round(result.timings.render) };
      const measures = result.measures;
      const measured = (index?: number): Record<string, unknown> => {
        if (!measures) return {};
        const pick = (values: number[]): number | number[] => (index === undefined ? values.map(round2) : round2(values[index]));
        return { measuredAge: pick(measures.ages), ...(measures.identity ? { identity: pick(measures.identity) } : {}) };
      };
      if (!result.perAge) {
        msg.payload = result.images[0].payload;
        Object.assign(msg, { targetAge: result.images[0].ages, render, ...measured() });
        send(msg);
        preview.show(result.images[0].payload);
        return;
      }
      // One message per age, a sequence the core join node can rebuild; each carries its own code.
      const id = RED.util.generateId();
      result.images.forEach((image, index) => {
        const parts: Record<string, unknown> = { id, index, count: result.images.length, type: 'array', len: 1 };
        if (msg.parts) parts.parts = msg.parts;
        const code = { dims: [1, LAYERS, STYLE], data: codeAt(latent.data, index).slice(), ages: image.ages };
        const extra = image.border ? { paste: { borderBefore: round2(image.border.before), borderAfter: round2(image.border.after) } } : {};
        send({ ...msg, payload: image.payload, targetAge: image.ages[0], latent: code, parts, render, ...measured(index), ...extra } as NodeMessage);
      });
      preview.show(result.images[result.images.length - 1]!.payload);
    });
  }
  RED.nodes.registerType('age-generate', AgeGenerateNode);
};
