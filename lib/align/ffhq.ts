// The FFHQ alignment recipe as plain arithmetic, step for step as NVlabs' download_ffhq.py
// (recreate_aligned_images) and SAM's scripts/align_all_parallel.py compute it: the oriented
// quad from 68 iBUG landmarks, then the shrink / crop / pad plan. No pixels here: align.ts
// runs the plan, and tests check every number of it by hand.

/** A point [x, y] in pixel-index coordinates (pixel centres at integers, as dlib reports them). */
export type Point = [number, number];

/** Four corners in the order PIL's QUAD transform wants them: NW, SW, SE, NE. */
export type Quad = [Point, Point, Point, Point];

/** A 2x3 affine matrix [[a, b, c], [d, e, f]]: x' = a x + b y + c, y' = d x + e y + f. */
export type Affine = [[number, number, number], [number, number, number]];

/** The recipe's constants, named as the official script uses them. */
export const FFHQ = {
  /** Quad half-size is max(EYE_SCALE x eye distance, MOUTH_SCALE x eye-to-mouth distance). */
  EYE_SCALE: 2.0,
  MOUTH_SCALE: 1.8,
  /** The centre sits this fraction of eye-to-mouth below the eye midpoint. */
  CENTER_SHIFT: 0.1,
  /** Crop border, as a fraction of the quad size (at least MIN_BORDER pixels). */
  BORDER: 0.1,
  MIN_BORDER: 3,
  /** Padding, as a fraction of the quad size, once any padding is needed. */
  PAD: 0.3,
  /** Gaussian sigma of the padded area, as a fraction of the quad size. */
  BLUR: 0.02,
  /** The official supersampled transform size. */
  TRANSFORM_SIZE: 4096,
} as const;

/** Output sizes the aligner offers. */
export const ALIGN_SIZES = [256, 512, 1024] as const;

/** The auxiliary vectors the recipe derives from the landmarks. */
export interface FaceGeometry {
  eyeLeft: Point;
  eyeRight: Point;
  eyeAvg: Point;
  eyeToEye: Point;
  mouthLeft: Point;
  mouthRight: Point;
  mouthAvg: Point;
  eyeToMouth: Point;
}

/** The oriented crop square in source pixels. */
export interface FfhqQuad {
  quad: Quad;
  /** Side length of the quad: 2 |x|. */
  qsize: number;
  center: Point;
  /** Half-side vectors of the square: x points right on the face, y down. */
  x: Point;
  y: Point;
  geometry: FaceGeometry;
}

/** numpy's rint: round half to even. */
export function rint(v: number): number {
  const r = Math.round(v);
  // Math.round takes halves up; numpy takes them to the even neighbour.
  return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

function mean(points: readonly Point[]): Point {
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  return [sx / points.length, sy / points.length];
}

/**
 * Eye centres, mouth corners and the vectors between them, from 68 iBUG landmarks
 * (36-41 one eye, 42-47 the other, 48 and 54 the mouth corners).
 * @throws {RangeError} unless there are 68 finite points
 */
export function faceGeometry(landmarks: readonly Point[]): FaceGeometry {
  if (!Array.isArray(landmarks) || landmarks.length !== 68) {
    throw new RangeError(`Expected 68 landmarks but received ${Array.isArray(landmarks) ? landmarks.length : typeof landmarks}`);
  }
  for (const p of landmarks) {
    if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
      throw new RangeError(`Expected each landmark to be [x, y] with finite numbers but received ${JSON.stringify(p)}`);
    }
  }
  const eyeLeft = mean(landmarks.slice(36, 42));
  const eyeRight = mean(landmarks.slice(42, 48));
  const eyeAvg: Point = [(eyeLeft[0] + eyeRight[0]) * 0.5, (eyeLeft[1] + eyeRight[1]) * 0.5];
  const eyeToEye: Point = [eyeRight[0] - eyeLeft[0], eyeRight[1] - eyeLeft[1]];
  const mouthLeft: Point = [landmarks[48]![0], landmarks[48]![1]];
  const mouthRight: Point = [landmarks[54]![0], landmarks[54]![1]];
  const mouthAvg: Point = [(mouthLeft[0] + mouthRight[0]) * 0.5, (mouthLeft[1] + mouthRight[1]) * 0.5];
  const eyeToMouth: Point = [mouthAvg[0] - eyeAvg[0], mouthAvg[1] - eyeAvg[1]];
  return { eyeLeft, eyeRight, eyeAvg, eyeToEye, mouthLeft, mouthRight, mouthAvg, eyeToMouth };
}

/**
 * The oriented crop square of the FFHQ recipe:
 * x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1], normalised, scaled by
 * max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|); y = flipud(x) * [-1, 1];
 * c = eye_avg + 0.1 eye_to_mouth; quad = [c - x - y, c - x + y, c + x + y, c + x - y].
 * @throws {RangeError} for bad landmarks or a degenerate face (all points equal)
 */
export function ffhqQuad(landmarks: readonly Point[]): FfhqQuad {
  const geometry = faceGeometry(landmarks);
  const { eyeToEye: e, eyeToMouth: m, eyeAvg } = geometry;
  // flipud([mx, my]) * [-1, 1] = [-my, mx]
  let x: Point = [e[0] + m[1], e[1] - m[0]];
  const len = Math.hypot(x[0], x[1]);
  if (!(len > 0)) throw new RangeError('Landmarks are degenerate: eyes and mouth coincide');
  const scale = Math.max(Math.hypot(e[0], e[1]) * FFHQ.EYE_SCALE, Math.hypot(m[0], m[1]) * FFHQ.MOUTH_SCALE);
  x = [(x[0] / len) * scale, (x[1] / len) * scale];
  const y: Point = [-x[1], x[0]];
  const c: Point = [eyeAvg[0] + m[0] * FFHQ.CENTER_SHIFT, eyeAvg[1] + m[1] * FFHQ.CENTER_SHIFT];
  const quad: Quad = [
    [c[0] - x[0] - y[0], c[1] - x[1] - y[1]],
    [c[0] - x[0] + y[0], c[1] - x[1] + y[1]],
    [c[0] + x[0] + y[0], c[1] + x[1] + y[1]],
    [c[0] + x[0] - y[0], c[1] + x[1] - y[1]],
  ];
  return { quad, qsize: Math.hypot(x[0], x[1]) * 2, center: c, x, y, geometry };
}

/** What the official script does to the image before the transform, as numbers. */
export interface AlignPlan {
  outputSize: number;
  /** Integer shrink factor (0 or 1 mean none). */
  shrink: number;
  /** Image size after the shrink (the source size when there is none). */
  shrunkSize: [number, number];
  /** Crop box [left, top, right, bottom] in shrunk pixels, or null when the crop keeps everything. */
  crop: [number, number, number, number] | null;
  /** Padding [left, top, right, bottom], or null when no padding is applied. */
  pad: [number, number, number, number] | null;
  border: number;
  /** Gaussian sigma for the padded area (qsize * 0.02 after the shrink). */
  blur: number;
  /** Quad size after the shrink. */
  qsize: number;
  /** Size of the image the quad is finally sampled from. */
  finalSize: [number, number];
  /** The quad in the final (shrunk, cropped, padded) image, before PIL's +0.5. */
  quad: Quad;
}

function bounds(quad: Quad): [number, number, number, number] {
  const xs = quad.map((p) => p[0]);
  const ys = quad.map((p) => p[1]);
  return [Math.floor(Math.min(...xs)), Math.floor(Math.min(...ys)), Math.ceil(Math.max(...xs)), Math.ceil(Math.max(...ys))];
}

function shifted(quad: Quad, dx: number, dy: number): Quad {
  return quad.map(([x, y]) => [x + dx, y + dy]) as Quad;
}

/**
 * The shrink, crop and pad steps of the official script, computed exactly as it does
 * (integer shrink = floor(qsize / output_size * 0.5), used only when > 1; border =
 * max(rint(0.1 qsize), 3); padding only when the quad comes within 4 pixels of an edge, then
 * at least rint(0.3 qsize) on every side).
 * @param width source width, @param height source height
 * @param enablePadding false skips the reflect padding (the official `--no-padding`)
 */
export function planAlignment(q: FfhqQuad, width: number, height: number, outputSize: number, enablePadding = true): AlignPlan {
  let quad = q.quad.map((p) => [p[0], p[1]]) as Quad;
  let qsize = q.qsize;
  let w = width;
  let h = height;

  const shrink = Math.floor((qsize / outputSize) * 0.5);
  if (shrink > 1) {
    w = rint(width / shrink);
    h = rint(height / shrink);
    quad = quad.map(([x, y]) => [x / shrink, y / shrink]) as Quad;
    qsize /= shrink;
  }
  const shrunkSize: [number, number] = [w, h];

  const border = Math.max(rint(qsize * FFHQ.BORDER), FFHQ.MIN_BORDER);
  const b = bounds(quad);
  const box: [number, number, number, number] = [Math.max(b[0] - border, 0), Math.max(b[1] - border, 0), Math.min(b[2] + border, w), Math.min(b[3] + border, h)];
  let crop: AlignPlan['crop'] = null;
  if (box[2] - box[0] < w || box[3] - box[1] < h) {
    crop = box;
    quad = shifted(quad, -box[0], -box[1]);
    w = box[2] - box[0];
    h = box[3] - box[1];
  }

  const p = bounds(quad);
  let pad: [number, number, number, number] = [Math.max(-p[0] + border, 0), Math.max(-p[1] + border, 0), Math.max(p[2] - w + border, 0), Math.max(p[3] - h + border, 0)];
  let padded: AlignPlan['pad'] = null;
  if (enablePadding && Math.max(...pad) > border - 4) {
    const least = rint(qsize * FFHQ.PAD);
    pad = pad.map((v) => Math.max(v, least)) as typeof pad;
    padded = pad;
    w += pad[0] + pad[2];
    h += pad[1] + pad[3];
    quad = shifted(quad, pad[0], pad[1]);
  }
  return { outputSize, shrink, shrunkSize, crop, pad: padded, border, blur: qsize * FFHQ.BLUR, qsize, finalSize: [w, h], quad };
}

/**
 * Where an output pixel centre lands in the final image: PIL's QUAD transform with the
 * official `quad + 0.5`, followed by the bilinear filter's `- 0.5`, leaves
 * p(u, v) = NW + (NE - NW) u + (SW - NW) v + (SE - SW - NE + NW) u v, u = (X + 0.5) / size.
 * For the FFHQ square the last term is zero, so this is affine.
 */
export function quadAffine(quad: Quad, size: number): Affine {
  const [nw, sw, , ne] = quad;
  const ax = (ne[0] - nw[0]) / size;
  const bx = (sw[0] - nw[0]) / size;
  const ay = (ne[1] - nw[1]) / size;
  const by = (sw[1] - nw[1]) / size;
  return [
    [ax, bx, nw[0] + 0.5 * (ax + bx)],
    [ay, by, nw[1] + 0.5 * (ay + by)],
  ];
}

/** Applies an affine matrix to a point. */
export function applyAffine(m: Affine, [x, y]: Point): Point {
  return [m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2]];
}

/** Inverts an affine matrix. @throws {RangeError} when it is singular */
export function invertAffine(m: Affine): Affine {
  const [[a, b, c], [d, e, f]] = m;
  const det = a * e - b * d;
  if (det === 0 || !Number.isFinite(det)) throw new RangeError('Affine matrix is singular');
  return [
    [e / det, -b / det, (b * f - c * e) / det],
    [-d / det, a / det, (c * d - a * f) / det],
  ];
}

/**
 * The affine map from aligned output pixels to source-image pixels (pixel-index
 * coordinates both sides), for pasting an edited face back. It follows the pixels actually
 * sampled: the final quad, moved back by the padding and crop, then through the shrink as
 * the resize really scaled the image (width / shrunk width, centre to centre), not by the
 * integer factor the script divides the quad by.
 */
export function alignedToSource(plan: AlignPlan, width: number, height: number): Affine {
  const [[a, b, c], [d, e, f]] = quadAffine(plan.quad, plan.outputSize);
  const dx = (plan.crop ? plan.crop[0] : 0) - (plan.pad ? plan.pad[0] : 0);
  const dy = (plan.crop ? plan.crop[1] : 0) - (plan.pad ? plan.pad[1] : 0);
  if (plan.shrink <= 1) return [[a, b, c + dx], [d, e, f + dy]];
  const sx = width / plan.shrunkSize[0];
  const sy = height / plan.shrunkSize[1];
  // source = (shrunk + 0.5) * s - 0.5
  return [
    [a * sx, b * sx, (c + dx + 0.5) * sx - 0.5],
    [d * sy, e * sy, (f + dy + 0.5) * sy - 0.5],
  ];
}
