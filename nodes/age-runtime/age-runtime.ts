import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { PrecisionChoice } from '../../lib/contracts/contracts';
import { AgeRuntime, RUNTIME_DEFAULTS, validateRuntimeOptions, type ProviderChoice, type RuntimeOptions } from '../../lib/runtime/runtime';
import { SamModels } from '../../lib/sam/models';
import { warmUp, WARM_UP_DEFAULTS, type WarmReport } from '../../lib/sam/warm';
import { migrateConfig } from '../shared/config-version';
import { modelFolder, modelRoots, type AgeRuntimeConfigNode } from '../shared/runtime-client';

interface AgeRuntimeDef extends NodeDef {
  modelDir: string;
  provider: ProviderChoice;
  deviceId: string | number;
  threads: string | number;
  /** Absent in flows saved before it existed: the default applies. */
  precision?: PrecisionChoice;
  queueLimit: string | number;
  /** Absent in flows saved before it existed: the default (off) applies. */
  warmUp?: boolean;
}

/** Where a runtime's warm-up stands, for the editor. */
type WarmState = { state: 'off' } | { state: 'warming' } | ({ state: 'ready' } & WarmReport) | { state: 'failed'; error: string };

/** Reads the editor's settings (strings from the form) into runtime options. */
function optionsFrom(RED: NodeAPI, config: AgeRuntimeDef): RuntimeOptions {
  const int = (value: string | number | undefined): number | undefined => (value === undefined || value === '' ? undefined : Number(value));
  return validateRuntimeOptions({
    modelDir: modelFolder(RED, config.modelDir || RUNTIME_DEFAULTS.modelDir),
    provider: config.provider || undefined,
    deviceId: int(config.deviceId),
    threads: int(config.threads),
    precision: config.precision || undefined,
    queueLimit: int(config.queueLimit),
    modelRoots: modelRoots(RED),
  });
}

export = function (RED: NodeAPI): void {
  function AgeRuntimeNode(this: AgeRuntimeConfigNode, saved: AgeRuntimeDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrateConfig(RED, node, saved);
    const clients = new Set<Node>();
    let runtime: AgeRuntime | undefined;
    let optionsError: Error | undefined;
    let options: RuntimeOptions | undefined;
    try {
      options = optionsFrom(RED, config);
    } catch (err) {
      optionsError = err as Error;
      node.error(RED._('age-runtime.errors.settings', { message: optionsError.message }));
    }

    const warmWanted = config.warmUp ?? WARM_UP_DEFAULTS.enabled;
    /** The warm-up of the current runtime (its callbacks ignore a runtime that has ended). */
    let warm: WarmState = { state: 'off' };

    /** Loads and runs every model once the runtime starts, so a kiosk's first visitor waits no longer than the next. */
    function startWarmUp(started: AgeRuntime): void {
      warm = { state: 'warming' };
      // The sessions stay open in this holder until the runtime closes.
      warmUp(new SamModels(started)).then(
        (report) => {
          if (runtime !== started) return;
          warm = { state: 'ready', ...report };
          node.log(RED._('age-runtime.log.warm', { models: report.models.join(', '), nets: report.faceNets.join(', '), seconds: (report.ms / 1000).toFixed(1) }));
        },
        (err: Error) => {
          // A runtime closed during its warm-up (a redeploy) ends it; nothing went wrong.
          if (runtime !== started || started.closed) return;
          warm = { state: 'failed', error: err.message };
          node.warn(RED._('age-runtime.errors.warm', { message: err.message }));
        },
      );
    }

    node.register = (client: Node): AgeRuntime => {
      if (optionsError || !options) throw optionsError;
      if (!runtime || runtime.closed) {
        runtime = AgeRuntime.create(options);
        for (const warning of runtime.warnings) node.warn(warning);
        runtime.on('warning', (message: string) => node.warn(message));
        if (warmWanted) startWarmUp(runtime);
      }
      clients.add(client);
      return runtime;
    };

    node.deregister = async (client: Node): Promise<void> => {
      clients.delete(client);
      if (clients.size === 0 && runtime) {
        const ending = runtime;
        runtime = undefined;
        await ending.close();
      }
    };

    /** State for the editor and the admin API. */
    (node as AgeRuntimeConfigNode & { describe(): Promise<object> }).describe = async () => ({
      provider: runtime?.provider ?? null,
      requested: options?.provider ?? null,
      precision: options?.precision ?? RUNTIME_DEFAULTS.precision,
      models: runtime?.modelPrecisions ?? {},
      modelDir: options?.modelDir ?? null,
      clients: clients.size,
      warnings: runtime?.warnings ?? [],
      // Each runtime starts its own warm-up; without a runtime there is none.
      warmUp: runtime ? warm : { state: 'off' },
      stats: runtime && !runtime.closed ? await runtime.stats() : null,
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      const ending = runtime;
      runtime = undefined;
      clients.clear();
      if (!ending) return done();
      ending.close().then(done, done);
    });
  }

  RED.nodes.registerType('age-runtime', AgeRuntimeNode);

  // The editor asks which provider a deployed runtime really uses.
  RED.httpAdmin.get('/age-runtime/:id', RED.auth.needsPermission('age-runtime.read'), (req, res) => {
    const node = RED.nodes.getNode(String(req.params.id)) as (Node & { describe?: () => Promise<object> }) | null;
    if (!node || typeof node.describe !== 'function') {
      res.status(404).json({ error: RED._('age-runtime.errors.notDeployed') });
      return;
    }
    node.describe().then(
      (state) => res.json(state),
      (err: Error) => res.status(500).json({ error: err.message }),
    );
  });
};
