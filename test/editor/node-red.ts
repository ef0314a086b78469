// Helpers for the browser test of the editor: start Node-RED the way `npm start` does, on a
// free port with a temporary user directory, and launch Debian's Chromium without letting
// Playwright download anything.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from '../paths';
import { freePort } from '../free-port';

/** Debian's Chromium (`apt-get install chromium`); CI installs it. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags for a quiet headless Chromium that reaches nothing outside the test. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches Debian's Chromium headless, with `extraArgs` after the usual flags. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** Whether the browser test can run here; a reason when it cannot. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  return `Chromium is missing at ${CHROMIUM}: install Debian's package with \`apt-get install -y chromium\` (.ci/run does this on CI)`;
}

/** A Node-RED started by tools/start.mjs. */
export interface NodeRed {
  /** The editor's address, ending in a slash. */
  base: string;
  /** Everything Node-RED printed so far. */
  output(): string;
  /** Stops Node-RED and removes its user directory. */
  stop(): Promise<void>;
}

/**
 * Starts Node-RED through tools/start.mjs with a fresh user directory and waits until the
 * admin API answers. `flows` replaces the example flow (start.mjs keeps an existing
 * flows.json), so the editor opens on exactly what the test wants.
 */
export async function startNodeRed(flows: unknown[], timeoutMs = 60000): Promise<NodeRed> {
  const userDir = mkdtempSync(join(tmpdir(), 'age-editor-'));
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flows));
  // Answered already: the editor's opening question about update notifications (which would
  // cover the workspace) stays away, and nothing is sent anywhere.
  writeFileSync(join(userDir, '.config.runtime.json'), JSON.stringify({ telemetryEnabled: false }));
  const port = await freePort();
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'tools', 'start.mjs')], {
    env: { ...process.env, PORT: String(port), NODE_RED_USER_DIR: userDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const red: NodeRed = {
    base: `http://127.0.0.1:${port}/`,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const ended = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await ended;
      }
      rmSync(userDir, { recursive: true, force: true });
    },
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) {
      await red.stop();
      throw new Error(`Node-RED exited with ${child.exitCode}:\n${output}`);
    }
    if (Date.now() - started > timeoutMs) {
      await red.stop();
      throw new Error(`Node-RED did not answer within ${timeoutMs} ms:\n${output}`);
    }
    try {
      const res = await fetch(`${red.base}nodes`, { headers: { Accept: 'application/json' } });
      if (res.ok) return red;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Lets `page` load only from `base` (the Node-RED under test): nothing leaves the machine. */
export async function keepLocal(page: Page, base: string): Promise<void> {
  await page.route('**/*', (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
}

/** Node-RED running `flows` and a Chromium page of `viewport` that loads only from it, collecting page errors. */
export interface EditorSession {
  red: NodeRed;
  browser: Browser;
  page: Page;
  /** Page errors seen so far (stacks). */
  problems: string[];
  /** Closes the browser and stops Node-RED. */
  close(): Promise<void>;
}

/** Starts Node-RED with `flows` and opens a local-only page for it (not yet navigated). */
export async function openEditor(flows: unknown[], viewport: { width: number; height: number }): Promise<EditorSession> {
  const red = await startNodeRed(flows);
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport });
  await keepLocal(page, red.base);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.stack || err.message));
  return { red, browser, page, problems, close: async () => { await browser.close(); await red.stop(); } };
}
