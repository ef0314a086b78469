import { basename } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { KIOSK_PAGE_DEFAULTS, KioskPage, KioskPageError, validateKioskPageOptions } from '../../lib/kiosk/page';
import { migrateConfig } from '../shared/config-version';
import { settingsError, statusError } from '../shared/node-kit';

interface KioskPageDef extends NodeDef {
  file: string;
  endpoint: string;
}

interface PageMessage extends NodeMessage {
  headers?: Record<string, string>;
  statusCode?: number;
}

/** File system codes with a text of their own in the catalog (kiosk-page.reasons). */
const REASONS = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'EEMPTY']);

export = function (RED: NodeAPI): void {
  function KioskPageNode(this: Node, saved: KioskPageDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrateConfig(RED, node, saved);
    let page: KioskPage | undefined;
    let startError: Error | undefined;
    try {
      // Node-RED always sets userDir; the fallback is for runtimes embedded without one.
      page = new KioskPage(validateKioskPageOptions(config), (RED.settings as { userDir?: string }).userDir ?? process.cwd());
    } catch (err) {
      startError = err as Error;
      settingsError(node, RED._('kiosk-page.status.badConfig'), err);
    }
    let warnedNoTag = false;

    // Requests still get done(err) with bad settings, so the flow's Catch node can answer them.
    node.on('input', (msg: PageMessage, send, done) => {
      if (!page) {
        done(startError);
        return;
      }
      const served = page;
      served.read().then(
        ({ html, filled }) => {
          if (!filled && served.options.endpoint !== KIOSK_PAGE_DEFAULTS.endpoint && !warnedNoTag) {
            warnedNoTag = true;
            node.warn(RED._('kiosk-page.errors.noEndpointTag', { path: served.path }));
          }
          msg.payload = html;
          msg.headers = { ...(isHeaders(msg.headers) ? msg.headers : {}), 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' };
          msg.statusCode = 200;
          node.status({ fill: 'green', shape: 'dot', text: RED._('kiosk-page.status.served', { page: served.shipped ? RED._('kiosk-page.status.shipped') : basename(served.path) }) });
          send(msg);
          done();
        },
        (err: unknown) => {
          const failure = translated(err);
          statusError(node, failure);
          done(failure);
        },
      );
    });
  }

  /** The lib's error in the catalog's words, its code kept for Catch nodes. */
  function translated(err: unknown): Error {
    if (!(err instanceof KioskPageError)) return err as Error;
    const reason = REASONS.has(err.reason) ? RED._(`kiosk-page.reasons.${err.reason}`) : err.reason;
    return Object.assign(new Error(RED._('kiosk-page.errors.unreadable', { path: err.path, reason })), { code: err.code, reason: err.reason });
  }

  RED.nodes.registerType('kiosk-page', KioskPageNode);
};

function isHeaders(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
