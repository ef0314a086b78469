import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/** The project root (tests run from dist/test). */
export const ROOT = resolve(__dirname, '..', '..');
/** Fixtures committed with the project. */
export const FIXTURES = join(ROOT, 'test', 'fixtures');
/** The tiny designed models. */
export const TINY_MODELS = join(FIXTURES, 'models', 'tiny');
/** Real photos shared beside the project; absent on some machines. */
export const SHARED_TESTDATA = resolve(ROOT, '..', 'shared', 'testdata');
/** Whether the shared photos are there. */
export const HAVE_SHARED = existsSync(SHARED_TESTDATA);
/**
 * The node_modules folder Node-RED is taken from: the project's own (Node-RED 4, the dev
 * dependency), or SAM_NODE_RED_MODULES for another (tools/test-nr5.mjs: Node-RED 5 on Node 22).
 */
export const NODE_RED_MODULES = process.env.SAM_NODE_RED_MODULES ? resolve(process.env.SAM_NODE_RED_MODULES) : join(ROOT, 'node_modules');
/** require() from that Node-RED: its core nodes (`@node-red/nodes/core/...`) and internals. */
export const requireNodeRed = createRequire(join(NODE_RED_MODULES, 'node-red', 'package.json'));
