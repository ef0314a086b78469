// What a user meets in the flow editor, checked in a real (headless) Chromium: the palette
// category with our nodes and their own icons, each node dropped into the workspace and
// its edit dialog, the help sidebar, the age-runtime config dialog, validation messages, an
// old saved node migrated in its dialog, and the thumbnails under the nodes of a running
// example. Each test deploys the flow it starts from and reloads the editor, so none depends
// on another; screenshots go to $EDITOR_SCREENSHOTS (a folder) when it is set.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { OUTPUT_DEFAULTS } from '../lib/sam/output-options';
import { ROOT } from './paths';
import { chromiumMissing, keepLocal, launchChromium, startNodeRed, type NodeRed } from './editor/node-red';
import { skipBecause } from './skip';

// The page's globals, as far as this test uses them. Module-scoped: the functions passed to
// page.evaluate run in the browser, where these exist.
interface PageElement {
  readonly textContent: string | null;
  readonly clientWidth: number;
  readonly classList: { contains(name: string): boolean };
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
}
interface EditorNode {
  id: string;
  type: string;
  runtime?: string;
  changed?: boolean;
  configVersion?: unknown;
  valid?: boolean;
  validationErrors?: string[];
  z?: string;
  _def: { outputs?: number; inputs?: number; inputLabels?: unknown; outputLabels?: unknown };
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  createElement(tag: 'canvas'): { getContext(kind: '2d'): { font: string; measureText(text: string): { width: number } } };
};
declare function getComputedStyle(el: PageElement): { font: string; paddingLeft: string; paddingRight: string };
declare const RED: {
  nodes: {
    node(id: string): EditorNode | null;
    filterNodes(filter: { type?: string }): EditorNode[];
    eachConfig(visit: (node: EditorNode) => void): void;
    getType(type: string): unknown;
    dirty(): boolean;
  };
  sidebar: { help: { show(type: string): void } };
  utils: { getNodeLabel(node: EditorNode, defaultLabel?: string): string };
};
declare class Image {
  src: string;
  onload: (() => void) | null;
  onerror: (() => void) | null;
}

const MODULE = 'node-red-contrib-sam-age';
/** Our palette nodes and the labels the palette shows for them. */
const PALETTE: Record<string, string> = {
  'face-align': 'face align',
  'age-encode': 'age encode',
  'age-generate': 'age generate',
  'age-regress': 'age regress',
  'path-optimize': 'path optimize',
  'kiosk-page': 'kiosk page',
};
const TYPES = Object.keys(PALETTE);
/** Nodes that run no model, so their dialog has no runtime field. */
const NO_RUNTIME = new Set(['kiosk-page']);
/** Where our icons live; Node-RED serves every node's icons under the module's name. */
const ICON_DIRS = readdirSync(join(ROOT, 'nodes')).map((name) => join(ROOT, 'nodes', name, 'icons')).filter((dir) => existsSync(dir));
/** The age-runtime dialog's texts, as its locale file has them. */
const RUNTIME_TEXT = JSON.parse(readFileSync(join(ROOT, 'nodes', 'age-runtime', 'locales', 'en-US', 'age-runtime.json'), 'utf8'))['age-runtime'];
/** Text that looks like an i18n key left untranslated: `age-encode.label.x`, `node-red:common.label.name`. */
const RAW_KEY = new RegExp(`(${[...TYPES, 'age-runtime', MODULE].join('|')})[:.][A-Za-z]|^[\\w-]+(:[\\w-]+)?(\\.[A-Za-z][\\w-]*){2,}$`);

/** Texts a user reads in a form: labels, tips, options, placeholders, hints. */
async function formTexts(page: Page, form: string): Promise<{ labels: string[]; texts: string[] }> {
  return page.evaluate((sel) => {
    const root = document.querySelector(sel);
    if (!root) throw new Error(`no ${sel}`);
    const text = (el: PageElement) => (el.textContent || '').replace(/\s+/g, ' ').trim();
    const labels = Array.from(root.querySelectorAll('.form-row label')).map(text);
    const texts = [
      ...Array.from(root.querySelectorAll('.form-row span, .form-tips, option')).map(text),
      ...Array.from(root.querySelectorAll('[placeholder]')).map((el) => el.getAttribute('placeholder') || ''),
    ];
    return { labels, texts };
  }, form);
}

/** Fails on empty labels and on any text that is still an i18n key. */
function assertTranslated(what: string, { labels, texts }: { labels: string[]; texts: string[] }): void {
  assert.ok(labels.length > 0, `${what}: the form has no labelled rows`);
  const empty = labels.filter((l) => l === '');
  assert.deepEqual(empty, [], `${what}: ${empty.length} form-row label(s) without text (labels: ${JSON.stringify(labels)})`);
  const raw = [...labels, ...texts].filter((t) => RAW_KEY.test(t));
  assert.deepEqual(raw, [], `${what}: untranslated i18n keys are visible`);
}


/** Where screenshots go, when asked for. */
const SHOTS = process.env.EDITOR_SCREENSHOTS;
if (SHOTS) mkdirSync(SHOTS, { recursive: true });
async function screenshot(page: Page, name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Our texts in the age-runtime catalog shared by every node's dialog. */
const SHARED_TEXT = JSON.parse(readFileSync(join(ROOT, 'nodes', 'age-runtime', 'locales', 'en-US', 'age-runtime.json'), 'utf8')).shared;
const TAB = { id: 'e0000000000000f1', type: 'tab', label: 'Flow 1' };
const RUNTIME = { id: 'e0000000000000a1', type: 'age-runtime', name: 'SAM models', modelDir: 'models/sam-ffhq', provider: 'auto', deviceId: 0, threads: 0, queueLimit: 50, configVersion: 1 };

describe('flow editor in Chromium', function () {
  this.timeout(120000);
  let red: NodeRed | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let problems: string[] = [];

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      // CI installs Chromium, so there a missing browser is a failure; locally it may be absent.
      if (!process.env.CI) skipBecause(this, missing);
      throw new Error(missing);
    }
    red = await startNodeRed([]);
    browser = await launchChromium();
  });

  after(async function () {
    await browser?.close();
    await red?.stop();
  });

  /**
   * Deploys `flows` and opens a fresh editor page on them, recording page errors, console
   * errors and failed requests for icons, locales or our module.
   */
  async function openWith(flows: object[]): Promise<void> {
    const base = red!.base;
    const res = await fetch(`${base}flows`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flows) });
    assert.ok(res.ok, `deploying the test flow answered ${res.status}`);
    await page?.close();
    problems = [];
    page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(15000);
    // Nothing leaves the machine: the palette manager's catalogue and the like are refused.
    await keepLocal(page, base);
    page.on('pageerror', (err) => problems.push(`page error: ${err.stack || err.message}`));
    page.on('console', (msg) => {
      const text = msg.text();
      const url = msg.location().url || '';
      const refusedOutside = url !== '' && !url.startsWith(base);
      if ((msg.type() === 'error' && !refusedOutside) || /Definition error/.test(text)) problems.push(`console ${msg.type()}: ${text} (${url})`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && (/\/(icons|locales|resources)\//.test(r.url()) || r.url().includes(MODULE))) problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('requestfailed', (req) => {
      if (req.url().startsWith(base)) problems.push(`failed ${req.url()}: ${req.failure()?.errorText}`);
    });
    await page.goto(base, { timeout: 60000 });
    await page.waitForSelector('#red-ui-palette-container-age_transform .red-ui-palette-node[data-palette-type="path-optimize"]', { timeout: 45000 });
    await page.waitForSelector('#red-ui-workspace-chart svg');
    await page.waitForFunction(() => typeof RED !== 'undefined' && !!RED.nodes.getType('age-runtime'));
  }

  afterEach(function () {
    // Each test's own page: errors it raised fail it (reported on its after-each hook).
    const seen = problems;
    problems = [];
    assert.deepEqual(seen, [], 'page errors, console errors or failed requests');
  });

  /** Drags a node from the palette into the workspace, as a user does; its id. */
  async function drop(type: string, at: { x: number; y: number }): Promise<string> {
    const before = await page.evaluate((t) => RED.nodes.filterNodes({ type: t }).map((n) => n.id), type);
    const paletteNode = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
    await paletteNode.scrollIntoViewIfNeeded();
    const from = await paletteNode.boundingBox();
    const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
    assert.ok(from && chart, 'palette node and workspace are on screen');
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(chart.x + at.x, chart.y + at.y, { steps: 12 });
    await page.mouse.up();
    const handle = await page.waitForFunction(
      ({ t, known }) => RED.nodes.filterNodes({ type: t }).map((n) => n.id).find((id) => known.indexOf(id) === -1),
      { t: type, known: before },
    );
    return (await handle.jsonValue()) as string;
  }

  async function openDialog(id: string, withRuntime = true): Promise<void> {
    await page.locator(`[id="${id}"] .red-ui-flow-node`).dblclick();
    await page.waitForSelector('#dialog-form #node-input-name');
    if (withRuntime) await page.waitForSelector('#node-input-runtime option', { state: 'attached' });
  }

  async function closeDialog(button: 'ok' | 'cancel'): Promise<void> {
    await page.locator(`#node-dialog-${button}`).click();
    await page.waitForSelector('#dialog-form', { state: 'detached' });
  }

  it('lists our nodes under "age transform", each with its own icon', async function () {
    await openWith([]);
    const palette = await page.evaluate(() => {
      const category = document.querySelector('#red-ui-palette-container-age_transform');
      if (!category) return null;
      return {
        header: (category.querySelector('.red-ui-palette-header')?.textContent || '').trim(),
        nodes: Array.from(category.querySelectorAll('.red-ui-palette-node')).map((n) => ({
          type: n.getAttribute('data-palette-type') || '',
          label: (n.querySelector('.red-ui-palette-label')?.textContent || '').replace(/\s+/g, ' ').trim(),
          icon: n.querySelector('.red-ui-palette-icon-container')?.getAttribute('data-palette-icon') || '',
        })),
      };
    });
    assert.ok(palette, 'the palette has no "age transform" category');
    assert.equal(palette.header, 'age transform');
    const labels = Object.fromEntries(palette.nodes.map((n) => [n.type, n.label]));
    assert.deepEqual(labels, PALETTE);
    assert.equal(await page.locator('.red-ui-palette-node[data-palette-type="age-runtime"]').count(), 0, 'the config node stays out of the palette');
    const icons = palette.nodes.map((n) => n.icon);
    assert.equal(new Set(icons).size, icons.length, `two nodes share an icon: ${icons.join(', ')}`);

    for (const node of palette.nodes) {
      assert.match(node.icon, new RegExp(`^icons/${MODULE}/[\\w-]+\\.svg$`), `${node.type} shows a fallback icon instead of its own: ${node.icon}`);
      const loaded = await page.evaluate(async (url) => {
        const res = await fetch(url);
        const body = await res.text();
        const decodes = await new Promise<boolean>((resolve) => {
          const img = new Image();
          img.onload = () => resolve(true);
          img.onerror = () => resolve(false);
          img.src = url;
        });
        return { status: res.status, type: res.headers.get('content-type') || '', body, decodes };
      }, node.icon);
      assert.equal(loaded.status, 200, `${node.type}: icon ${node.icon} answered ${loaded.status}`);
      assert.match(loaded.type, /^image\/svg\+xml/, `${node.type}: icon content type`);
      assert.ok(loaded.decodes, `${node.type}: icon ${node.icon} does not decode as an image`);
      // Our own file, not Node-RED's stand-in for an icon it cannot find.
      const file = node.icon.split('/').pop()!;
      const ours = ICON_DIRS.map((dir) => join(dir, file)).filter((path) => existsSync(path));
      assert.ok(ours.some((path) => readFileSync(path, 'utf8') === loaded.body), `${node.type}: ${node.icon} is not ${file} from nodes/*/icons`);
    }
    await page.locator('#red-ui-palette-container-age_transform').scrollIntoViewIfNeeded();
    await screenshot(page, 'palette');
  });

  TYPES.forEach((type) => {
    it(`${type}: drops into the workspace valid, with a translated dialog that fits, and help`, async function () {
      await openWith([]);
      const id = await drop(type, { x: 300, y: 120 });

      // Valid defaults: no red triangle, and labels that are words, not keys.
      const added = await page.evaluate((nodeId) => {
        const n = RED.nodes.node(nodeId)!;
        const call = (labels: unknown, i: number) => (typeof labels === 'function' ? String(labels.call(n, i)) : String(labels ?? ''));
        const outputs = Array.from({ length: n._def.outputs || 0 }, (_, i) => call(n._def.outputLabels, i));
        return {
          valid: n.valid,
          errors: n.validationErrors || [],
          triangleHidden: !!document.querySelector(`[id="${nodeId}"] .red-ui-flow-node-error`)?.classList.contains('hide'),
          label: RED.utils.getNodeLabel(n),
          ports: [...(n._def.inputs ? [call(n._def.inputLabels, 0)] : []), ...outputs],
          configVersion: n.configVersion,
          runtime: n.runtime,
        };
      }, id);
      assert.equal(added.valid, true, `${type} is invalid with its defaults: ${added.errors.join(', ')}`);
      assert.ok(added.triangleHidden, `${type} shows the red validation triangle`);
      assert.equal(added.configVersion, 1, 'a new node is saved at the current configVersion');
      const usesRuntime = !NO_RUNTIME.has(type);
      assert.equal(added.runtime, usesRuntime ? '' : undefined, 'no runtime exists: the shared default runtime is used');
      for (const text of [added.label, ...added.ports]) {
        assert.ok(text !== '' && !RAW_KEY.test(text), `${type}: node or port label ${JSON.stringify(text)}`);
      }

      await openDialog(id, usesRuntime);
      assertTranslated(`${type} dialog`, await formTexts(page, '#dialog-form'));
      if (usesRuntime) {
        const runtime = await page.locator('#node-input-runtime option').evaluateAll((options) => options.map((o) => (o.textContent || '').trim()));
        assert.deepEqual(runtime, ['Add new age-runtime...'], `${type}: the runtime field offers ${JSON.stringify(runtime)}`);
        assert.equal(await page.locator('#node-input-btn-runtime-add').count(), 1, `${type}: the runtime field has its add button`);
      }
      // Neither Node-RED's validators nor the browser's own (min, max, step) refuse a default.
      const refused = await page.locator('#dialog-form .input-error, #dialog-form input:invalid').evaluateAll((els) => els.map((e) => e.getAttribute('id') || ''));
      assert.deepEqual(refused, [], `${type}: the dialog marks its default values as errors`);
      // Every choice of every dropdown reads whole (text plus the arrow fit in the box).
      const cut = await page.evaluate(() => {
        const measure = document.createElement('canvas').getContext('2d');
        const out: string[] = [];
        for (const select of Array.from(document.querySelectorAll('#dialog-form select'))) {
          if (select.clientWidth === 0 || select.getAttribute('id') === 'node-input-runtime') continue;
          const style = getComputedStyle(select);
          measure.font = style.font;
          const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 16;
          for (const option of Array.from(select.querySelectorAll('option'))) {
            const text = (option.textContent || '').trim();
            if (measure.measureText(text).width > room) out.push(`${select.getAttribute('id')}: "${text}"`);
          }
        }
        return out;
      });
      assert.deepEqual(cut, [], `${type}: dropdown choices cut off`);
      await screenshot(page, `dialog-${type}`);

      // Help in the sidebar, with the sections Node-RED's own nodes have.
      await page.evaluate((t) => RED.sidebar.help.show(t), type);
      const help = page.locator('.red-ui-sidebar-help-stack .red-ui-help').first();
      await page.waitForFunction((title) => {
        const el = document.querySelector('.red-ui-sidebar-help-stack .red-ui-help');
        return !!el && (el.textContent || '').trim().startsWith(title) && !!el.querySelector('h3');
      }, PALETTE[type]);
      const headings = (await help.locator('h3').allTextContents()).map((h) => h.trim());
      for (const section of ['Inputs', 'Outputs', 'Details']) {
        assert.ok(headings.includes(section), `${type} help lacks "${section}" (headings: ${headings.join(', ')})`);
      }
      const helpText = ((await help.textContent()) || '').replace(/\s+/g, ' ');
      assert.ok(helpText.length > 300, `${type} help is nearly empty: ${helpText}`);
      await closeDialog('cancel');
    });
  });

  it('a node dropped from the palette picks the only age-runtime, and leaves the choice when there are two', async function () {
    await openWith([TAB, RUNTIME]);
    const one = await drop('face-align', { x: 300, y: 120 });
    assert.equal(await page.evaluate((id) => RED.nodes.node(id)!.runtime, one), RUNTIME.id);
    await openDialog(one);
    assert.equal(await page.locator('#node-input-runtime').inputValue(), RUNTIME.id);
    await closeDialog('cancel');

    await openWith([TAB, RUNTIME, { ...RUNTIME, id: 'e0000000000000a2', name: 'other models' }]);
    const two = await drop('age-encode', { x: 300, y: 120 });
    assert.equal(await page.evaluate((id) => RED.nodes.node(id)!.runtime, two), '');
  });

  it('age-runtime: the config dialog offers auto, CUDA and CPU with translated labels', async function () {
    await openWith([]);
    const id = await drop('age-encode', { x: 300, y: 120 });
    await openDialog(id);
    await page.locator('#node-input-btn-runtime-add').click();
    await page.waitForSelector('#node-config-dialog-edit-form #node-config-input-provider');

    assertTranslated('age-runtime dialog', await formTexts(page, '#node-config-dialog-edit-form'));
    const provider = await page.locator('#node-config-input-provider option').evaluateAll((options) =>
      options.map((o) => ({ value: o.getAttribute('value'), text: (o.textContent || '').trim() })),
    );
    assert.deepEqual(provider, [
      { value: 'auto', text: RUNTIME_TEXT.provider.auto },
      { value: 'cuda', text: RUNTIME_TEXT.provider.cuda },
      { value: 'cpu', text: RUNTIME_TEXT.provider.cpu },
    ]);
    assert.equal(await page.locator('#node-config-input-provider').inputValue(), 'auto');
    const precision = await page.locator('#node-config-input-precision option').evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, text: (e.textContent || '').trim() })));
    assert.deepEqual(precision, [
      { value: 'auto', text: RUNTIME_TEXT.precision.auto },
      { value: 'fp32', text: RUNTIME_TEXT.precision.fp32 },
      { value: 'int8', text: RUNTIME_TEXT.precision.int8 },
    ]);
    assert.equal(await page.locator('#node-config-input-precision').inputValue(), 'auto');
    const refused = await page.locator('#node-config-dialog-edit-form .input-error, #node-config-dialog-edit-form input:invalid').evaluateAll((els) => els.map((e) => e.getAttribute('id') || ''));
    assert.deepEqual(refused, [], 'the runtime dialog marks its default values as errors');
    // Not deployed yet: the dialog says so instead of a provider.
    await page.waitForFunction((text) => (document.querySelector('#node-config-input-state')?.textContent || '') === text, RUNTIME_TEXT.state.notDeployed);
    await screenshot(page, 'dialog-age-runtime');

    // Its help, as a config node's: what it is and the Details of its settings.
    await page.evaluate(() => RED.sidebar.help.show('age-runtime'));
    await page.waitForFunction(() => (document.querySelector('.red-ui-sidebar-help-stack .red-ui-help')?.textContent || '').trim().startsWith('age-runtime'));
    const headings = (await page.locator('.red-ui-sidebar-help-stack .red-ui-help').first().locator('h3').allTextContents()).map((h) => h.trim());
    assert.ok(headings.includes('Details'), `age-runtime help lacks "Details" (headings: ${headings.join(', ')})`);

    // Done with the defaults: a valid runtime at the current configVersion, chosen in the node's dialog.
    await page.locator('#node-config-dialog-ok').click();
    await page.waitForSelector('#node-config-dialog-edit-form', { state: 'detached' });
    const runtime = await page.evaluate(() => {
      let n: (EditorNode & Record<string, unknown>) | undefined;
      RED.nodes.eachConfig((c) => {
        if (c.type === 'age-runtime') n = c as EditorNode & Record<string, unknown>;
      });
      return n && { id: n.id, valid: n.valid, errors: n.validationErrors || [], provider: n.provider, precision: n.precision, deviceId: Number(n.deviceId), threads: Number(n.threads), queueLimit: Number(n.queueLimit), configVersion: Number(n.configVersion) };
    });
    assert.ok(runtime, 'Done added no age-runtime');
    const { id: runtimeId, ...settings } = runtime;
    assert.deepEqual(settings, { valid: true, errors: [], provider: 'auto', precision: 'auto', deviceId: 0, threads: 0, queueLimit: 50, configVersion: 1 });
    assert.equal(await page.locator('#node-input-runtime').inputValue(), runtimeId, 'the new runtime is selected in the node');
    await closeDialog('ok');
  });

  it('age-runtime: once deployed, its dialog shows the runtime state', async function () {
    const encode = { id: 'e0000000000000b1', type: 'age-encode', z: TAB.id, runtime: RUNTIME.id, targetAge: '0:100:10', configVersion: 1, x: 300, y: 120, wires: [[]] };
    await openWith([TAB, RUNTIME, encode]);
    await openDialog(encode.id);
    await page.locator('#node-input-btn-runtime-edit:not(.disabled)').click();
    await page.waitForSelector('#node-config-dialog-edit-form #node-config-input-state');
    // Asked from the deployed runtime: not started yet, or the provider and the precision of each opened model.
    const state = page.locator('#node-config-input-state');
    await page.waitForFunction(() => (document.querySelector('#node-config-input-state')?.textContent || '') !== '');
    const text = (await state.textContent()) || '';
    assert.ok(text === RUNTIME_TEXT.state.idle || new RegExp(`^(cpu|cuda) · ((int8|fp32): |${RUNTIME_TEXT.state.noModels}$)`).test(text), `the deployed runtime's state reads ${JSON.stringify(text)}`);
    await page.locator('#node-config-dialog-cancel').click();
    await page.waitForSelector('#node-config-dialog-edit-form', { state: 'detached' });
    await closeDialog('cancel');
  });

  it('a field the validator refuses says why', async function () {
    const encode = { id: 'e0000000000000b2', type: 'age-encode', z: TAB.id, name: '', runtime: '', targetAge: '0:200:10', mixing: 'none', layers: '8-17', alpha: 1, variants: 3, seed: 0, configVersion: 1, x: 300, y: 120, wires: [[]] };
    await openWith([TAB, encode]);
    await openDialog(encode.id);
    const field = page.locator('#node-input-targetAge');
    await page.waitForFunction(() => !!document.querySelector('#node-input-targetAge')?.classList.contains('input-error'));
    assert.deepEqual(await page.evaluate((id) => RED.nodes.node(id)!.validationErrors, encode.id), [SHARED_TEXT.validate.agesRange.replace('__max__', '100')], 'only the ages are refused, with their message');
    await field.hover();
    const tip = page.locator('.red-ui-popover').filter({ hasText: SHARED_TEXT.validate.agesRange.replace('__max__', '100') });
    await tip.waitFor();
    await screenshot(page, 'validation-message');
    await field.fill('0:100:25');
    await field.dispatchEvent('change');
    await page.waitForFunction(() => !document.querySelector('#node-input-targetAge')?.classList.contains('input-error'));
    await closeDialog('ok');
    assert.equal(await page.evaluate((id) => RED.nodes.node(id)!.valid, encode.id), true);
  });

  it('a node saved before configVersion opens migrated: its dialog shows the settings it ran with, Done saves them', async function () {
    // As 0.1.0 saved a face-align whose Max. pixels field was left empty.
    const old = { id: 'e0000000000000b3', type: 'face-align', z: TAB.id, name: '', runtime: '', size: 512, mode: 'largest', detector: 'tiny', minConfidence: 0.5, minFaceSize: 20, x: 300, y: 120, wires: [[], []] };
    await openWith([TAB, old]);
    await openDialog(old.id);
    const form = await page.evaluate(() => ({
      version: (document.querySelector('#node-input-configVersion') as unknown as { value: string }).value,
      maxPixels: (document.querySelector('#node-input-maxPixels') as unknown as { value: string }).value,
      detector: (document.querySelector('#node-input-detector') as unknown as { value: string }).value,
      preview: (document.querySelector('#node-input-preview') as unknown as { checked: boolean }).checked,
    }));
    assert.deepEqual(form, { version: '1', maxPixels: '40000000', detector: 'tiny', preview: true });
    await closeDialog('ok');
    const saved = await page.evaluate((id) => {
      const n = RED.nodes.node(id)! as EditorNode & Record<string, unknown>;
      return { configVersion: Number(n.configVersion), maxPixels: Number(n.maxPixels), size: Number(n.size), preview: n.preview, changed: n.changed, valid: n.valid };
    }, old.id);
    assert.deepEqual(saved, { configVersion: 1, maxPixels: 40000000, size: 512, preview: true, changed: true, valid: true });
  });

  it('a node saved without the settings added since shows their defaults, the ones it runs with', async function () {
    // As the examples of an earlier release saved a paste-back age-generate: no quality, measure or mask yet.
    const old = { id: 'e0000000000000b4', type: 'age-generate', z: TAB.id, name: '', runtime: '', mode: 'paste-back', format: 'jpeg', size: 1024, labels: false, animationFormat: 'gif', frames: 8, delay: 80, loop: 0, feather: 0.3, configVersion: 1, x: 300, y: 120, wires: [[]] };
    await openWith([TAB, old]);
    await openDialog(old.id);
    const form = await page.evaluate(() => ({
      quality: (document.querySelector('#node-input-quality') as unknown as { value: string }).value,
      measure: (document.querySelector('#node-input-measure') as unknown as { checked: boolean }).checked,
      mask: (document.querySelector('#node-input-mask') as unknown as { value: string }).value,
    }));
    assert.deepEqual(form, { quality: OUTPUT_DEFAULTS.quality, measure: OUTPUT_DEFAULTS.measure, mask: OUTPUT_DEFAULTS.mask });
    await closeDialog('ok');
    const saved = await page.evaluate((id) => {
      const n = RED.nodes.node(id)! as EditorNode & Record<string, unknown>;
      return { quality: n.quality, measure: n.measure, mask: n.mask, valid: n.valid };
    }, old.id);
    assert.deepEqual(saved, { quality: OUTPUT_DEFAULTS.quality, measure: OUTPUT_DEFAULTS.measure, mask: OUTPUT_DEFAULTS.mask, valid: true });
  });
});
