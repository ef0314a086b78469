// A Node-RED runtime in a child process of its own, as a user runs it: a user directory with
// settings.js and flows.json, the editor API on a free loopback port. The fleet and package
// tests start several of these; they are real processes, so a test can kill one.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port';
import { NODE_RED_MODULES, ROOT } from './paths';

/** What a Node-RED test process takes. */
export interface NodeRedOptions {
  /** The user directory (created if needed). */
  userDir: string;
  /** The flows to deploy at start. */
  flows: unknown[];
  /** red.js of the Node-RED to run (default: the project's dev dependency). */
  redJs?: string;
  /** The node binary (default: this one). */
  nodeBin?: string;
  /** A name for the log lines. */
  name?: string;
  /** Extra environment for the process (flows read MQTT_HOST and the like). */
  env?: Record<string, string>;
  /** Extra settings.js entries. */
  settings?: Record<string, unknown>;
  /** Link this checkout into the user directory's node_modules, as `npm start` does. */
  linkPackage?: boolean;
}

/** A running Node-RED process. */
export interface NodeRedProcess {
  child: ChildProcess;
  port: number;
  base: string;
  /** Everything it printed so far. */
  output(): string;
  /** Stops it (SIGINT, then SIGKILL after 10 s) and waits for the exit. */
  stop(): Promise<void>;
  /** Kills it at once, as a crash would. */
  kill(): Promise<void>;
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts Node-RED and resolves once its admin API answers and the flows are started. */
export async function startNodeRed(options: NodeRedOptions): Promise<NodeRedProcess> {
  const { userDir } = options;
  mkdirSync(join(userDir, 'node_modules'), { recursive: true });
  if (options.linkPackage) {
    const linked = join(userDir, 'node_modules', 'node-red-contrib-sam-age');
    if (!existsSync(linked)) symlinkSync(ROOT, linked, 'dir');
  }
  const port = await freePort();
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    userDir,
    credentialSecret: false,
    logging: { console: { level: 'info', metrics: false, audit: false } },
    editorTheme: { tours: false },
    ...options.settings,
  };
  writeFileSync(join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(options.flows));
  const redJs = options.redJs ?? join(NODE_RED_MODULES, 'node-red', 'red.js');
  const child = spawn(options.nodeBin ?? process.execPath, [redJs, '--userDir', userDir, '--settings', join(userDir, 'settings.js')], { stdio: ['ignore', 'pipe', 'pipe'], cwd: userDir, env: { ...process.env, ...options.env } });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const started = Date.now();
  while (!/Started flows/.test(log)) {
    assert.ok(Date.now() - started < 90_000, `${options.name ?? 'Node-RED'} did not start:\n${log}`);
    assert.equal(child.exitCode, null, `${options.name ?? 'Node-RED'} exited:\n${log}`);
    await wait(200);
  }
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, port, base, output: () => log, stop: () => end('SIGINT'), kill: () => end('SIGKILL') };
}
