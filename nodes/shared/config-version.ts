// The runtime's side of configVersion: a node started from a flow saved at an older version
// (or before versions existed) is migrated by the same table the editor uses
// (resources/age-editor.js), so an old saved flow runs as it did.
import type { Node, NodeAPI, NodeDef } from 'node-red';

/** What the shared editor script offers the runtime. */
interface SharedEditor {
  PACKAGE: string;
  currentVersion(type: string): number;
  migrate<T extends object>(type: string, saved: T): { config: T & { configVersion: number }; from: number; to: number; changes: Partial<T> };
}

// The build copies resources/ into dist/resources, beside dist/nodes.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const shared = require('../../resources/age-editor.js') as SharedEditor;

/** The configVersion nodes of `type` are saved with now. */
export const currentVersion = (type: string): number => shared.currentVersion(type);

/**
 * Brings a node's saved settings to the current configVersion. A flow saved by a newer
 * version of the package is run as it is, with one warning.
 * @returns the settings to start the node with
 */
export function migrateConfig<T extends NodeDef>(RED: NodeAPI, node: Node, config: T): T {
  const { config: migrated, from, to } = shared.migrate(config.type, config);
  if (from > to) {
    node.warn(RED._(`${shared.PACKAGE}/age-runtime:shared.errors.newerConfig`, { package: shared.PACKAGE, saved: from, current: to }));
    return config;
  }
  return migrated;
}
