// One way to run our nodes in a real Node-RED runtime for tests: node-red-node-test-helper,
// with our message catalogs loaded into Node-RED's own i18n, so node texts read as a user
// reads them and a missing key or a wrong placeholder fails the test that met it.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import helper, { type TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { requireNodeRed, ROOT } from './paths';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import faceAlignNode from '../nodes/face-align/face-align';
import ageEncodeNode from '../nodes/age-encode/age-encode';
import ageGenerateNode from '../nodes/age-generate/age-generate';
import ageRegressNode from '../nodes/age-regress/age-regress';
import pathOptimizeNode from '../nodes/path-optimize/path-optimize';
import kioskPageNode from '../nodes/kiosk-page/kiosk-page';

// Tests copy model folders to the system's temporary folder: allow it beside the user directory.
helper.init(requireNodeRed.resolve('node-red'), { ageModelRoots: [tmpdir()] } as never);

/** Node-RED's own catch node, so tests see errors the way a flow's Catch node does. */
export const catchNode = requireNodeRed('@node-red/nodes/core/common/25-catch.js') as (RED: unknown) => void;

/** A message received by a helper node, with what a Catch node adds. */
export type CaughtMessage = NodeMessage & { error: { message: string; source?: { id: string } } };

/** The next message a helper node receives. */
export function next<T = NodeMessage>(node: Node): Promise<T> {
  return new Promise((resolve) => node.once('input', (msg: T) => resolve(msg)));
}

const PACKAGE = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string }).name;

/** Our node modules by node-set name, as package.json's node-red section names them. */
const OUR_NODES = new Map<unknown, string>([
  [ageRuntimeNode, 'age-runtime'],
  [faceAlignNode, 'face-align'],
  [ageEncodeNode, 'age-encode'],
  [ageGenerateNode, 'age-generate'],
  [ageRegressNode, 'age-regress'],
  [pathOptimizeNode, 'path-optimize'],
  [kioskPageNode, 'kiosk-page'],
]);

interface I18n {
  init(settings: { lang?: string }): void;
  registerMessageCatalog(namespace: string, dir: string, file: string): Promise<void>;
  catalog(namespace: string, lang?: string): Record<string, unknown> | null;
  _(key: string, subs?: Record<string, unknown>): string;
}
const i18n = (requireNodeRed('@node-red/util') as { i18n: I18n }).i18n;

let catalogs: Promise<void> | undefined;
/** Registers every node's en-US catalog under the namespace Node-RED gives it (`<package>/<node>`). */
export function loadCatalogs(): Promise<void> {
  catalogs ??= (async () => {
    i18n.init({ lang: 'en-US' });
    for (const name of OUR_NODES.values()) {
      await i18n.registerMessageCatalog(`${PACKAGE}/${name}`, join(ROOT, 'nodes', name, 'locales'), `${name}.json`);
    }
  })();
  return catalogs;
}

/** Texts asked for that the catalogs lack or that were given the wrong placeholders. */
const problems: string[] = [];

/** The catalog text at a key (`ns:a.b.c`), or undefined. */
function rawText(namespace: string, key: string): unknown {
  return key.split('.').reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], i18n.catalog(namespace, 'en-US') ?? undefined);
}

/**
 * RED._ as Node-RED gives it to a node set: keys without a namespace are looked up in the
 * set's own catalog. Also checks that the text exists and that every placeholder it has is
 * given a value; what is wrong is kept for {@link i18nProblems}.
 */
function translator(name: string): (key: string, subs?: Record<string, unknown>) => string {
  return (key, subs = {}) => {
    const full = key.includes(':') ? key : `${PACKAGE}/${name}:${key}`;
    const [namespace, path] = full.split(':') as [string, string];
    const raw = rawText(namespace, path);
    if (typeof raw !== 'string') {
      problems.push(`no message "${full}"`);
      return full;
    }
    // A placeholder without its value shows as "__name__" to the user; extra values are harmless.
    const missing = [...raw.matchAll(/__(\w+)__/g)].map((m) => m[1]!).filter((name) => !(name in subs));
    if (missing.length > 0) problems.push(`"${full}" needs [${missing.join(', ')}] but was given [${Object.keys(subs).join(', ')}]`);
    return i18n._(full, subs);
  };
}

/** Hands each of our node modules a RED whose `_` speaks its own catalog; other modules get RED as it is. */
function withCatalog(module: unknown): unknown {
  const name = OUR_NODES.get(module);
  if (!name) return module;
  return (RED: NodeAPI) => (module as (red: NodeAPI) => void)(Object.assign(Object.create(RED) as NodeAPI, { _: translator(name) }));
}

const rawLoad = helper.load.bind(helper);
/** helper.load, with our nodes translated through their catalogs. */
helper.load = (async (nodes: unknown, flow: TestFlows, ...rest: unknown[]) => {
  await loadCatalogs();
  const list = (Array.isArray(nodes) ? nodes : [nodes]).map(withCatalog);
  return (rawLoad as (...args: unknown[]) => Promise<void>)(list, flow, ...rest);
}) as typeof helper.load;

/** The i18n problems seen since the last call, cleared. */
export function i18nProblems(): string[] {
  return problems.splice(0);
}

/**
 * mocha hooks: a fresh Node-RED server around each test, flows unloaded after it; a test
 * whose nodes asked for a missing text, or gave a text the wrong placeholders, fails.
 */
/** Node-RED's levels for node.error, node.warn and node.log. */
const LOG_LEVELS = { error: 20, warn: 30, info: 40 } as const;

/** What Node-RED logged from node `id` at `level` (node.error, node.warn, node.log), as text. */
export function logged(id: string, level: keyof typeof LOG_LEVELS): string[] {
  const log = helper.log() as unknown as { args: Array<[{ level: number; id: string; msg: unknown }]> };
  return log.args.filter(([e]) => e.level === LOG_LEVELS[level] && e.id === id).map(([e]) => String(e.msg));
}

export function useNodeRed(): void {
  beforeEach(function (done) {
    i18nProblems();
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    const seen = i18nProblems();
    if (seen.length > 0) throw new Error(`i18n: ${seen.join('; ')}`);
  });
}

/** The text a node shows for a key of its catalog, for assertions (`face-align.status.noFace`). */
export async function text(key: string, subs: Record<string, unknown> = {}): Promise<string> {
  await loadCatalogs();
  const name = key.split('.')[0]!;
  return translator(name)(key, subs);
}

/** A pattern for a catalog text whose placeholders may hold anything (for texts with timings). */
export async function textPattern(key: string): Promise<RegExp> {
  await loadCatalogs();
  const name = key.split('.')[0]!;
  const raw = rawText(`${PACKAGE}/${name}`, key);
  if (typeof raw !== 'string') throw new Error(`no message "${key}" in the ${name} catalog`);
  const parts = raw.split(/__\w+__/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.+?')}$`);
}

export { helper };
