import { tmpdir } from 'node:os';
import helper from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import { requireNodeRed } from './paths';

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

/** mocha hooks: a fresh Node-RED server around each test, flows unloaded after it. */
export function useNodeRed(): void {
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  });
}

export { helper };
