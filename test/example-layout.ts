// The layout of a flow as the Node-RED editor draws it, computed from the flow file: each
// node's box, each wire's curve, and the thumbnail our nodes draw under themselves. The example
// test checks every example with it; to see what is wrong with a flow you are laying out:
//   npm run build && node dist/test/example-layout.js examples/lifespan-strip.json
// (no file: every example). test/editor-layout.test.ts checks in Chromium that the editor's
// real boxes fit inside the ones computed here.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { thumbnailSize, THUMBNAIL_DEFAULTS } from '../lib/image/thumbnail';
import { parseAges } from '../lib/sam/ages';
import { ROOT } from './paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the editor script is a plain CommonJS/browser file
const editor = require(join(ROOT, 'resources', 'age-editor.js')) as { STATUS_GAP: number };

/** A node of a flow file. */
export type FlowNode = { id: string; type: string; x?: number; y?: number; z?: string; wires?: string[][]; [key: string]: unknown };

/** A rectangle on the canvas, px. */
export interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Node-RED's editor grid, px. */
export const GRID = 20;
/**
 * The widest a flow may be, px: the editor's workspace on a 1920 px wide screen, between the
 * palette and the sidebar, so nothing of an example is off-canvas there.
 */
export const CANVAS_WIDTH = 1400;
/** Space kept free between two boxes, px. */
export const MARGIN = 10;
/** Our nodes that draw a thumbnail of their last output under themselves (setting `preview`). */
export const PREVIEW_TYPES = ['face-align', 'age-generate', 'age-regress'];
/** Types whose label the editor hides (a 30 px square). */
const LINK_TYPES = ['link in', 'link out', 'link call', 'junction'];

/* eslint-disable @typescript-eslint/no-require-imports -- the package's node list and catalogs */
const ourTypes = Object.keys((require(join(ROOT, 'package.json')) as { 'node-red': { nodes: Record<string, string> } })['node-red'].nodes);
/* eslint-enable @typescript-eslint/no-require-imports */

/** The label the editor shows: our nodes' label.node text from their catalog, else the name (inject adds its once/repeat mark), file name, URL, topic or type (http response: "http"). */
export function editorLabel(node: FlowNode): string {
  if (!node.name && ourTypes.includes(node.type)) {
    const locale = JSON.parse(readFileSync(join(ROOT, 'nodes', node.type, 'locales', 'en-US', `${node.type}.json`), 'utf8')) as Record<string, { label: { node: string } }>;
    return locale[node.type]!.label.node.replace(/__(\w+)__/g, (_, key: string) => String(node[key === 'ages' && node.type === 'age-encode' ? 'targetAge' : key] ?? ''));
  }
  if (!node.name && node.type === 'http response') return node.statusCode ? `http (${String(node.statusCode)})` : 'http';
  const label = String(node.name || node.filename || node.url || node.topic || node.type);
  if (node.type !== 'inject') return label;
  if ((node.repeat && node.repeat !== '0') || node.crontab) return `${label}\t↻`;
  return node.once ? `${label} ¹` : label;
}

/**
 * Advance widths of the editor's node label font (14 px) as Debian's Chromium draws it (DejaVu
 * Sans; Helvetica and Arial are narrower), px, measured in Chromium; others count 9.
 */
const CHAR_WIDTHS: Array<[number, string]> = [
  [0, '\t'], [3.8, "'"], [3.9, 'ijl'], [4.1, 'IJ'], [4.5, ' ,.'], [4.7, '/:;\\|'], [4.9, 'f'], [5.1, '-'], [5.5, '()[]t'], [5.6, '!¹'], [5.8, 'r'],
  [6.4, '"'], [7.0, '*_`'], [7.3, 'sz'], [7.4, '?'], [7.7, 'c'], [7.8, 'L'], [8.1, 'Fk'], [8.3, 'vxy'], [8.4, 'P'], [8.6, 'TYaeo'], [8.8, 'E'],
  [8.9, '$0123456789Sbdghnpqu{}'], [9.2, 'K'], [9.6, 'ABVXZ'], [9.7, 'R'], [9.8, 'C'], [10.2, 'U'], [10.5, 'HN'], [10.8, 'DG'], [10.9, '&'],
  [11, 'OQ↻'], [11.5, 'w'], [11.7, '#+<=>^~'], [12.1, 'M'], [13.3, '%'], [13.6, 'm'], [13.8, 'W'], [14, '@'],
];
const charWidth = new Map(CHAR_WIDTHS.flatMap(([width, chars]) => [...chars].map((c) => [c, width] as const)));

/** Width of a label in the editor's node font, px. */
export function labelWidth(text: string): number {
  let width = 0;
  for (const c of text) width += charWidth.get(c) ?? 9;
  return width;
}

/** Core node types without an input port (the editor leaves no room for one). */
const NO_INPUT = ['inject', 'catch', 'status', 'complete', 'comment', 'http in', 'mqtt in', 'link in', 'tcp in', 'udp in', 'websocket in', 'watch'];

/**
 * The box a node takes on the canvas, as the editor sizes it: (x, y) is its centre; the
 * width is the label (less 0.75 px: the table above is rounded), the icon (50) and an
 * input port's room (7) rounded up to whole grid
 * cells, at least 100 (30 for link nodes, which hide their label); the height 30, or 15 per
 * output port.
 */
export function nodeBox(node: FlowNode): Box {
  const hidden = node.l === false || (LINK_TYPES.includes(node.type) && node.l !== true);
  const width = hidden ? 30 : Math.max(100, GRID * Math.ceil((labelWidth(editorLabel(node)) - 0.75 + 50 + (NO_INPUT.includes(node.type) ? 0 : 7)) / GRID));
  const height = Math.max(30, (node.wires?.length ?? 0) * 15);
  const x = node.x as number;
  const y = node.y as number;
  return { left: x - width / 2, right: x + width / 2, top: y - height / 2, bottom: y + height / 2 };
}

/** Core node types with a button beside the box: inject's on the left, debug's on the right. */
const BUTTON_LEFT = ['inject'];
const BUTTON_RIGHT = ['debug'];

/** The box a node takes with its button (the editor draws it 25 px out to the left, or 26 px out to the right). */
export function nodeArea(node: FlowNode): Box {
  const box = nodeBox(node);
  return { ...box, left: box.left - (BUTTON_LEFT.includes(node.type) ? 25 : 0), right: box.right + (BUTTON_RIGHT.includes(node.type) ? 26 : 0) };
}

/** The age-encode nodes wired into `node`. */
const feeders = (flow: FlowNode[], node: FlowNode): FlowNode[] => flow.filter((n) => n.type === 'age-encode' && (n.wires ?? []).flat().includes(node.id));

/**
 * Where a node's thumbnail is drawn under it (resources/age-editor.js draws the picture at
 * the node's left edge, STATUS_GAP below it, under the status line; lib/image/thumbnail.ts
 * sizes it), or undefined for a node that shows none. A strip's size follows the ages of the
 * age-encode wired into it (without the input tile, the taller case); with no such node it
 * may be as large as a strip's thumbnail can be.
 */
export function thumbnailBox(flow: FlowNode[], node: FlowNode): Box | undefined {
  if (!PREVIEW_TYPES.includes(node.type) || node.preview === false) return undefined;
  let size: { width: number; height: number } = { width: THUMBNAIL_DEFAULTS.width, height: THUMBNAIL_DEFAULTS.height };
  if (node.type === 'age-generate' && node.mode === 'strip') {
    const ages = feeders(flow, node).map((n) => parseAges(n.targetAge).length);
    size = ages.length > 0 ? thumbnailSize(Math.min(...ages) * 256, 256, true) : { width: THUMBNAIL_DEFAULTS.stripWidth, height: THUMBNAIL_DEFAULTS.height };
  }
  const box = nodeBox(node);
  return { left: box.left, right: box.left + size.width, top: box.bottom + editor.STATUS_GAP, bottom: box.bottom + editor.STATUS_GAP + size.height };
}

/** Points along the wire from output `port` of `from` to `to`, on the editor's curve (a cubic Bézier with handles 75 px out, shorter for close nodes). */
export function wirePoints(from: FlowNode, port: number, to: FlowNode): Array<[number, number]> {
  const a = nodeBox(from);
  const b = nodeBox(to);
  const ports = from.wires?.length ?? 1;
  const x1 = a.right;
  const y1 = a.top + (a.bottom - a.top) / 2 + (port - (ports - 1) / 2) * 13;
  const x2 = b.left;
  const y2 = (b.top + b.bottom) / 2;
  const distance = Math.hypot(x2 - x1, y2 - y1);
  const handle = 100 * (distance < 100 ? 0.75 - 0.75 * ((100 - distance) / 100) : 0.75);
  const points: Array<[number, number]> = [];
  for (let i = 0; i <= 40; i++) {
    const t = i / 40;
    const u = 1 - t;
    const x = u * u * u * x1 + 3 * u * u * t * (x1 + handle) + 3 * u * t * t * (x2 - handle) + t * t * t * x2;
    const y = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2;
    points.push([x, y]);
  }
  return points;
}

const apart = (a: Box, b: Box, gap: number): boolean => a.right + gap <= b.left || b.right + gap <= a.left || a.bottom + gap <= b.top || b.bottom + gap <= a.top;
const inside = ([x, y]: [number, number], box: Box): boolean => x > box.left && x < box.right && y > box.top && y < box.bottom;

/**
 * What is wrong with a flow's layout, in words (empty when nothing): nodes off the grid or
 * off the canvas, boxes that overlap (a thumbnail's space counts as a box), wires that run
 * right to left or cross a thumbnail.
 */
export function layoutProblems(flow: FlowNode[]): string[] {
  const problems: string[] = [];
  const placed = flow.filter((n) => typeof n.x === 'number' && typeof n.y === 'number');
  const byId = new Map(placed.map((n) => [n.id, n]));
  const name = (n: FlowNode): string => `"${editorLabel(n).replace('\t', ' ')}"`;
  const boxes = placed.map((node) => ({ node, box: nodeArea(node), thumbnail: thumbnailBox(flow, node) }));
  const areas = boxes.flatMap(({ node, box, thumbnail }) => [{ node, thumbnail: false, what: name(node), box }, ...(thumbnail ? [{ node, thumbnail: true, what: `the thumbnail of ${name(node)}`, box: thumbnail }] : [])]);

  for (const { node } of boxes) {
    const box = nodeBox(node);
    if (box.left % GRID !== 0 && !LINK_TYPES.includes(node.type)) problems.push(`${name(node)} starts off the grid (left edge ${box.left})`);
    if ((node.y as number) % GRID !== 0) problems.push(`${name(node)} sits off a grid row (y ${String(node.y)})`);
  }
  for (const { what, box } of areas) {
    if (box.left < 0 || box.top < 0 || box.right > CANVAS_WIDTH) problems.push(`${what} is off the canvas (${box.left}..${box.right} x ${box.top}..${box.bottom}; the canvas is ${CANVAS_WIDTH} px wide)`);
  }
  for (let i = 0; i < areas.length; i++) {
    for (let j = i + 1; j < areas.length; j++) {
      const a = areas[i]!;
      const b = areas[j]!;
      // A node and its own thumbnail touch by design; each tab is a canvas of its own.
      if (a.node !== b.node && a.node.z === b.node.z && !apart(a.box, b.box, MARGIN)) problems.push(`${a.what} and ${b.what} overlap`);
    }
  }
  for (const node of placed) {
    (node.wires ?? []).forEach((targets, port) => {
      for (const target of targets) {
        const to = byId.get(target);
        if (!to) {
          problems.push(`${name(node)} is wired to ${target}, which is not on the canvas`);
          continue;
        }
        if (nodeBox(to).left < nodeBox(node).right + GRID) problems.push(`the wire ${name(node)} -> ${name(to)} does not run left to right`);
        const points = wirePoints(node, port, to);
        // No wire runs over a thumbnail, its own nodes' included.
        for (const area of areas) {
          if (area.thumbnail && area.node.z === node.z && points.some((p) => inside(p, area.box))) problems.push(`the wire ${name(node)} -> ${name(to)} crosses ${area.what}`);
        }
      }
    });
  }
  return problems;
}

/** The example flow files, sorted. */
export const exampleFiles = (): string[] =>
  readdirSync(join(ROOT, 'examples'))
    .filter((f) => f.endsWith('.json'))
    .sort();

if (require.main === module) {
  const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => resolve(f)) : exampleFiles().map((f) => join(ROOT, 'examples', f));
  let bad = 0;
  for (const file of files) {
    const problems = layoutProblems(JSON.parse(readFileSync(file, 'utf8')) as FlowNode[]);
    bad += problems.length;
    console.log(`${file}: ${problems.length ? problems.length + ' problems' : 'laid out well'}`);
    for (const problem of problems) console.log(`  ${problem}`);
  }
  process.exitCode = bad ? 1 : 0;
}
