// Every default a node's editor offers is the default its lib module owns: the editor files
// (nodes/*/*.html) are run in a sandbox with a stand-in RED that records registerType, and
// each field's default is compared with the lib constant it mirrors.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { ALIGN_DEFAULTS } from '../lib/align/align';
import { FACE_DEFAULTS } from '../lib/face/face-ops';
import { OPTIMIZE_DEFAULTS } from '../lib/optimize/options';
import { RUNTIME_DEFAULTS } from '../lib/runtime/runtime';
import { WARM_UP_DEFAULTS } from '../lib/sam/warm';
import { ENCODE_DEFAULTS } from '../lib/sam/encode';
import { OUTPUT_DEFAULTS } from '../lib/sam/output-options';
import { REGRESS_DEFAULTS } from '../lib/sam/regress';
import { KIOSK_PAGE_DEFAULTS } from '../lib/kiosk/page';
import { ROOT } from './paths';

/** Per node, each editor field and the lib default it mirrors. */
const MIRRORS: Record<string, Record<string, unknown>> = {
  'age-runtime': {
    modelDir: RUNTIME_DEFAULTS.modelDir,
    provider: RUNTIME_DEFAULTS.provider,
    deviceId: RUNTIME_DEFAULTS.deviceId,
    threads: RUNTIME_DEFAULTS.threads,
    precision: RUNTIME_DEFAULTS.precision,
    queueLimit: RUNTIME_DEFAULTS.queueLimit,
    warmUp: WARM_UP_DEFAULTS.enabled,
  },
  'face-align': {
    size: ALIGN_DEFAULTS.size,
    mode: ALIGN_DEFAULTS.mode,
    minFaceSize: ALIGN_DEFAULTS.minFaceSize,
    maxPixels: ALIGN_DEFAULTS.maxPixels,
    resample: ALIGN_DEFAULTS.resample,
    detector: FACE_DEFAULTS.detector,
    minConfidence: FACE_DEFAULTS.minConfidence,
  },
  'age-encode': { ...ENCODE_DEFAULTS },
  'age-generate': { ...OUTPUT_DEFAULTS },
  'age-regress': { ...REGRESS_DEFAULTS },
  'kiosk-page': { ...KIOSK_PAGE_DEFAULTS },
  'path-optimize': {
    ages: OPTIMIZE_DEFAULTS.ages,
    ageWeight: OPTIMIZE_DEFAULTS.weights.age,
    identityWeight: OPTIMIZE_DEFAULTS.weights.identity,
    smoothnessWeight: OPTIMIZE_DEFAULTS.weights.smoothness,
    budget: OPTIMIZE_DEFAULTS.budget,
    ageBackend: OPTIMIZE_DEFAULTS.ageBackend,
    identityBackend: OPTIMIZE_DEFAULTS.identityBackend,
    seed: OPTIMIZE_DEFAULTS.seed,
  },
};
/** Fields that are the editor's own or the node's (thumbnails), not settings of the engine. */
const EDITOR_ONLY = new Set(['name', 'runtime', 'configVersion', 'preview']);

/** Anything: callable, and every property is another anything (jQuery, RED's helpers). */
function anything(): unknown {
  const target = function () {} as unknown as object;
  const proxy: unknown = new Proxy(target, { get: (_t, key) => (key === Symbol.toPrimitive ? () => '' : proxy), apply: () => proxy });
  return proxy;
}

/** What an editor file gives registerType, as far as this test reads it. */
interface EditorDefinition {
  defaults: Record<string, { value: unknown }>;
}

/** Runs the editor scripts of every node and returns what each registered. */
function editorDefinitions(): Map<string, EditorDefinition> {
  const registered = new Map<string, EditorDefinition>();
  const stub = anything();
  // RED as the editor has it: registerType records, everything else is a stand-in.
  const fallback = <T extends object>(known: T): T => new Proxy(known, { get: (t, key) => (key in t ? (t as Record<PropertyKey, unknown>)[key] : stub) });
  const RED = fallback({ nodes: fallback({ registerType: (type: string, def: EditorDefinition) => registered.set(type, def) }), _: (key: string) => key });
  // jQuery: only $.extend is used while registering (the shared script merges definitions).
  const jquery = fallback(Object.assign(() => stub, { extend: (target: object, ...sources: object[]) => Object.assign(target, ...sources) }));
  const context = vm.createContext({ RED, $: jquery, jQuery: jquery, console });
  vm.runInContext('var window = this;', context);
  // A shared editor script served from resources/ comes first, as the editor loads it first.
  const resources = join(ROOT, 'resources');
  if (existsSync(resources)) {
    for (const file of readdirSync(resources).filter((f) => f.endsWith('.js')).sort()) vm.runInContext(readFileSync(join(resources, file), 'utf8'), context, { filename: file });
  }
  for (const node of readdirSync(join(ROOT, 'nodes'))) {
    const html = join(ROOT, 'nodes', node, `${node}.html`);
    if (!existsSync(html)) continue;
    for (const [, code] of readFileSync(html, 'utf8').matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) vm.runInContext(code, context, { filename: html });
  }
  return registered;
}

describe('editor defaults', function () {
  it('every field of every node editor defaults to the lib default it mirrors', function () {
    const definitions = editorDefinitions();
    assert.deepEqual([...definitions.keys()].sort(), Object.keys(MIRRORS).sort(), 'every node registers in its editor file');
    for (const [type, { defaults }] of definitions) {
      const fields = Object.keys(defaults).filter((f) => !EDITOR_ONLY.has(f));
      assert.deepEqual(fields.sort(), Object.keys(MIRRORS[type]).sort(), `${type}: each editor field mirrors a lib default (add new ones to MIRRORS)`);
      for (const field of fields) assert.equal(defaults[field].value, MIRRORS[type][field], `${type}.${field}`);
    }
  });
});
