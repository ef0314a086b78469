import { existsSync } from 'node:fs';
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
