// Age labels on strip tiles and animation frames: a translucent pill with the age, drawn as an
// SVG band that libvips composites; with the machine's fonts where they render, else with a
// built-in pixel font.
import sharp from 'sharp';
import { escapeMarkup } from '../markup';

/** How an age reads on a label: whole years as they are, others to one decimal. */
export function ageLabel(age: number): string {
  return Number.isInteger(age) ? String(age) : age.toFixed(1);
}

/** Fonts tried for labels, in order; librsvg picks the first one fontconfig has. */
const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

/**
 * A 5x7 pixel font for the characters labels use, drawn as SVG rectangles where the machine
 * has no usable font (a bare container): labels then still show.
 */
const PIXEL_GLYPHS: Record<string, string[]> = {
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11111', '00010', '00100', '00010', '00001', '10001', '01110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  '.': ['00000', '00000', '00000', '00000', '00000', '01100', '01100'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
  i: ['00100', '00000', '01100', '00100', '00100', '00100', '01110'],
  n: ['00000', '00000', '10110', '11001', '10001', '10001', '10001'],
  p: ['00000', '00000', '11110', '10001', '10001', '11110', '10000'],
  u: ['00000', '00000', '10001', '10001', '10001', '10011', '01101'],
  t: ['01000', '01000', '11100', '01000', '01000', '01001', '00110'],
  D: ['11110', '10001', '10001', '10001', '10001', '10001', '11110'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  M: ['10001', '11011', '10101', '10101', '10001', '10001', '10001'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
};

/** Text of the mark on every image the designed demo models make. */
export const DEMO_MARK = 'DEMO';

/**
 * The "DEMO" mark for the bottom-right corner of an image: white pixel-font letters on a dark
 * box, about 1/20 of the shorter side high (the demo generator draws the same mark into
 * each render; paste-back, which keeps only the face of a render, adds it to the photo).
 * @returns a sharp composite input
 */
export function demoMarkOverlay(width: number, height: number): { input: Buffer; left: number; top: number } {
  const unit = Math.max(1, Math.round(Math.min(width, height) / 128));
  const pad = 2 * unit;
  const markWidth = (DEMO_MARK.length * 6 - 1) * unit + 2 * pad;
  const markHeight = 7 * unit + 2 * pad;
  const rects: string[] = [];
  [...DEMO_MARK].forEach((ch, i) =>
    PIXEL_GLYPHS[ch].forEach((row, r) => {
      for (let c = 0; c < 5; c++) if (row[c] === '1') rects.push(`<rect x="${pad + (i * 6 + c) * unit}" y="${pad + r * unit}" width="${unit}" height="${unit}"/>`);
    }),
  );
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${markWidth}" height="${markHeight}"><rect width="${markWidth}" height="${markHeight}" fill="#000" fill-opacity="0.6"/><g fill="#fff">${rects.join('')}</g></svg>`;
  const margin = 2 * unit;
  return { input: Buffer.from(svg), left: Math.max(0, width - markWidth - margin), top: Math.max(0, height - markHeight - margin) };
}

let fontCheck: Promise<boolean> | undefined;

/**
 * Whether SVG text really renders here: draws digits with {@link FONT_FAMILY} once and looks
 * for ink. Without any font, librsvg draws nothing and labels would silently vanish.
 */
export function svgTextRenders(): Promise<boolean> {
  fontCheck ??= (async () => {
    try {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="30" font-family="${FONT_FAMILY}" font-size="28" fill="#fff">0123456789</text></svg>`;
      const { data } = await sharp(Buffer.from(svg)).extractChannel(3).raw().toBuffer({ resolveWithObject: true });
      let ink = 0;
      for (const a of data) if (a > 128) ink++;
      return ink > 100;
    } catch {
      return false;
    }
  })();
  return fontCheck;
}

/** Where labels sit in a tile of side `size`: a band of `height` rows starting at row `top`. */
function labelBandOf(size: number): { top: number; height: number } {
  const height = Math.max(12, Math.round(size * 0.11));
  const bottom = size - Math.max(2, Math.round(size * 0.035));
  return { top: bottom - height, height };
}

/**
 * SVG markup of one label: a translucent dark pill with white text, centred in a band of
 * `height` rows over a tile of side `size` whose left edge is at `left`.
 */
function labelMarkup(text: string, left: number, size: number, height: number, fonts: boolean): string {
  const fontSize = Math.round(height * 0.7);
  const unit = fontSize / 9; // pixel font: 7 units a glyph, 6 units an advance
  const textWidth = fonts ? text.length * fontSize * 0.64 : text.length * 6 * unit - unit;
  const width = Math.min(size - 4, Math.round(textWidth + height * 0.9));
  const x = left + Math.round((size - width) / 2);
  const centre = left + size / 2;
  let glyphs: string;
  if (fonts) {
    glyphs = `<text x="${centre}" y="${height / 2}" dominant-baseline="central" text-anchor="middle" font-family="${FONT_FAMILY}" font-weight="bold" font-size="${fontSize}" fill="#fff">${escapeMarkup(text)}</text>`;
  } else {
    const rects: string[] = [];
    let gx = centre - textWidth / 2;
    const gy = (height - 7 * unit) / 2;
    for (const ch of text) {
      (PIXEL_GLYPHS[ch] ?? []).forEach((row, r) => {
        for (let c = 0; c < 5; c++) {
          if (row[c] === '1') rects.push(`<rect x="${(gx + c * unit).toFixed(2)}" y="${(gy + r * unit).toFixed(2)}" width="${unit.toFixed(2)}" height="${unit.toFixed(2)}"/>`);
        }
      });
      gx += 6 * unit;
    }
    glyphs = `<g fill="#fff">${rects.join('')}</g>`;
  }
  return `<rect x="${x}" y="0" width="${width}" height="${height}" rx="${height / 2}" fill="#000" fill-opacity="0.55"/>${glyphs}`;
}

/**
 * The labels of a row of tiles, as an SVG band to composite at row `top` (only the band is
 * drawn: cheap even for 1024 px frames).
 * @param labels one per tile of side `size`; null leaves that tile bare
 * @param fonts draw with the machine's fonts (default: when {@link svgTextRenders} says they work), else with the built-in pixel font
 * @returns the SVG and the row it goes at
 */
export async function labelOverlay(labels: Array<string | null>, size: number, fonts?: boolean): Promise<{ input: Buffer; top: number; left: number }> {
  fonts ??= await svgTextRenders();
  const { top, height } = labelBandOf(size);
  const body = labels.map((text, i) => (text === null ? '' : labelMarkup(text, i * size, size, height, fonts))).join('');
  return { input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${labels.length * size}" height="${height}">${body}</svg>`), top, left: 0 };
}
