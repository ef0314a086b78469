import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { ALIGN_DEFAULTS, alignImage, validateAlignOptions, type AlignedFace, type AlignMode, type AlignOptions, type AlignResample } from '../../lib/align/align';
import { runtimeDetector, type DetectorOptions } from '../../lib/face/detector';
import { FACE_DEFAULTS } from '../../lib/face/face-ops';
import { migrateConfig } from '../shared/config-version';
import { serveInput, statusBusy, statusDone, settingsError } from '../shared/node-kit';
import { nodePreview } from '../shared/preview';

interface FaceAlignDef extends NodeDef {
  runtime: string;
  size: string | number;
  mode: AlignMode;
  resample?: AlignResample;
  detector: DetectorOptions['detector'];
  minConfidence: string | number;
  minFaceSize: string | number;
  maxPixels: string | number;
  preview: boolean;
}

/** What the node puts in msg.face. */
interface FaceInfo {
  score: number;
  box: AlignedFace['box'];
  landmarks: AlignedFace['landmarks'];
  quad: AlignedFace['quad'];
  transform: AlignedFace['transform'];
  size: number;
  /** Faces found in the image (after the minimum size filter), whichever were sent. */
  found: number;
}

/** Reads the editor's settings (strings from the form) once; a bad one stops the node at deploy. */
function settingsFrom(RED: NodeAPI, config: FaceAlignDef): { align: AlignOptions; detector: DetectorOptions } {
  const num = (value: string | number | undefined, fallback: number): number => (value === undefined || value === '' ? fallback : Number(value));
  const align = validateAlignOptions({
    size: num(config.size, ALIGN_DEFAULTS.size),
    mode: config.mode || ALIGN_DEFAULTS.mode,
    resample: config.resample || ALIGN_DEFAULTS.resample,
    minFaceSize: num(config.minFaceSize, ALIGN_DEFAULTS.minFaceSize),
    maxPixels: num(config.maxPixels, ALIGN_DEFAULTS.maxPixels),
  });
  const detector = config.detector || FACE_DEFAULTS.detector;
  if (detector !== 'ssd' && detector !== 'tiny') throw new TypeError(RED._('face-align.errors.detector', { detector: String(detector) }));
  const minConfidence = num(config.minConfidence, FACE_DEFAULTS.minConfidence);
  if (!(minConfidence >= 0 && minConfidence <= 1)) throw new TypeError(RED._('face-align.errors.minConfidence', { value: String(config.minConfidence) }));
  return { align, detector: { detector, minConfidence } };
}

function faceInfo(face: AlignedFace, found: number): FaceInfo {
  const { score, box, landmarks, quad, transform, size } = face;
  return { score, box, landmarks, quad, transform, size, found };
}

export = function (RED: NodeAPI): void {
  function FaceAlignNode(this: Node, saved: FaceAlignDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrateConfig(RED, node, saved);
    let settings: ReturnType<typeof settingsFrom>;
    try {
      settings = settingsFrom(RED, config);
    } catch (err) {
      settingsError(node, RED._('face-align.status.badConfig'), RED._('face-align.errors.settings', { message: (err as Error).message }));
      return;
    }
    const preview = nodePreview(RED, node, config.preview !== false);

    serveInput(RED, node, config.runtime, async (msg: NodeMessage & { face?: FaceInfo | null; original?: unknown }, send, engine) => {
      const { lease } = engine;
      statusBusy(node, RED._('face-align.status.aligning'));
      const started = Date.now();
      const input = msg.payload;
      const result = await alignImage(input, runtimeDetector(lease.runtime, settings.detector), { ...settings.align, name: 'msg.payload' });
      const ms = Date.now() - started;
      if (result.faces.length === 0) {
        node.status({ fill: 'yellow', shape: 'ring', text: RED._('face-align.status.noFace', { ms }) });
        msg.face = null;
        send([null, msg]);
        return;
      }
      statusDone(node, RED._('face-align.status.found', { count: result.faces.length, found: result.found, ms }), engine);
      if (settings.align.mode === 'largest') {
        msg.original = input;
        msg.face = faceInfo(result.faces[0]!, result.found);
        msg.payload = result.faces[0]!.image;
        send([msg, null]);
        preview.show(result.faces[0]!.image);
        return;
      }
      // A sequence the core join node can rebuild into an array (as the split node makes it).
      const id = RED.util.generateId();
      const count = result.faces.length;
      const messages = result.faces.map((face, index) => {
        const out: NodeMessage & Record<string, unknown> = { ...msg, payload: face.image, face: faceInfo(face, result.found), original: input };
        out.parts = { id, type: 'array', count, len: 1, index, ...(msg.parts ? { parts: msg.parts } : {}) };
        return out;
      });
      send([messages, null]);
      preview.show(result.faces[0]!.image);
    });
  }
  RED.nodes.registerType('face-align', FaceAlignNode);
};
