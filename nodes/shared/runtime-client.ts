// How a node gets its AgeRuntime: from the age-runtime config node it names, or, when it
// names none, from one default runtime shared by all such nodes, so a node dropped into a
// flow works without editing.
import { isAbsolute, join } from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import { AgeRuntime, RUNTIME_DEFAULTS } from '../../lib/runtime/runtime';

/** What the age-runtime config node offers its client nodes. */
export interface AgeRuntimeConfigNode extends Node {
  /** Returns the config's runtime, starting it on first use. */
  register(client: Node): AgeRuntime;
  /** The last client out closes the runtime. */
  deregister(client: Node): Promise<void>;
}

/** A node's hold on a runtime. */
export interface RuntimeLease {
  runtime: AgeRuntime;
  release(): Promise<void>;
}

let defaultRuntime: { runtime: AgeRuntime; clients: Set<Node> } | undefined;

/** Resolves a model folder setting: relative paths are taken from Node-RED's user directory. */
export function modelFolder(RED: NodeAPI, folder: string): string {
  if (isAbsolute(folder)) return folder;
  const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
  return join(userDir, folder);
}

/**
 * The folders model files must resolve inside (settings.js): the user directory and
 * `ageModelRoots`, unless `ageConfineModels: false` (on by default). See RuntimeOptions.modelRoots.
 */
export function modelRoots(RED: NodeAPI): string[] {
  const settings = RED.settings as { userDir?: string; ageConfineModels?: unknown; ageModelRoots?: unknown };
  if (settings.ageConfineModels === false) return [];
  const extra = Array.isArray(settings.ageModelRoots) ? settings.ageModelRoots.filter((r): r is string => typeof r === 'string' && r !== '') : [];
  return [settings.userDir ?? process.cwd(), ...extra.map((root) => modelFolder(RED, root))];
}

/**
 * Gives a node a runtime lease.
 * @param runtimeId id of an age-runtime config node, or '' for the shared default runtime
 * @throws {Error} when the id names no deployed config node, or the runtime cannot start
 */
export function connectRuntime(RED: NodeAPI, node: Node, runtimeId: string | undefined): RuntimeLease {
  if (runtimeId) {
    const config = RED.nodes.getNode(runtimeId) as AgeRuntimeConfigNode | null;
    if (!config) throw new Error(`age-runtime config node ${runtimeId} is not deployed`);
    const runtime = config.register(node);
    return { runtime, release: () => config.deregister(node) };
  }
  if (!defaultRuntime || defaultRuntime.runtime.closed) {
    const runtime = AgeRuntime.create({ modelDir: modelFolder(RED, RUNTIME_DEFAULTS.modelDir), modelRoots: modelRoots(RED) });
    for (const warning of runtime.warnings) node.warn(warning);
    defaultRuntime = { runtime, clients: new Set() };
  }
  const held = defaultRuntime;
  held.clients.add(node);
  return {
    runtime: held.runtime,
    release: async () => {
      held.clients.delete(node);
      if (held.clients.size === 0) {
        if (defaultRuntime === held) defaultRuntime = undefined;
        await held.runtime.close();
      }
    },
  };
}
