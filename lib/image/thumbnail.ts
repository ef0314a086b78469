// Small JPEG pictures of a result, for the flow editor to show under a node: the aligned face,
// a rendered age, a strip, or a face with its measured age written on it.
import sharp from 'sharp';
import { labelOverlay } from '../sam/labels';

/** Every default of thumbnails, in one place (the example layout test reserves this space under a node). */
export const THUMBNAIL_DEFAULTS = {
  /** Tallest thumbnail, px (what node-red-contrib-image-output users are used to). */
  height: 160,
  /** Widest thumbnail of one picture (a face, a photo with the face pasted back), px. */
  width: 160,
  /** Widest thumbnail of a strip of ages, px: the row is kept, smaller. */
  stripWidth: 480,
  /** JPEG quality: a thumbnail is looked at, not kept. */
  quality: 70,
} as const;

/** A thumbnail and its size. */
export interface Thumbnail {
  jpeg: Buffer;
  width: number;
  height: number;
}

/**
 * The size of the thumbnail of a `width` x `height` picture: at most
 * {@link THUMBNAIL_DEFAULTS}.height high and .width wide (.stripWidth for a strip), never enlarged.
 */
export function thumbnailSize(width: number, height: number, strip = false): { width: number; height: number } {
  const widest = strip ? THUMBNAIL_DEFAULTS.stripWidth : THUMBNAIL_DEFAULTS.width;
  const scale = Math.min(1, THUMBNAIL_DEFAULTS.height / height, widest / width);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Makes a JPEG thumbnail of an image (the first frame of an animation), as large as
 * {@link thumbnailSize} allows.
 * @param image an encoded image sharp reads (PNG, JPEG, WebP, GIF, ...)
 * @param options `label`: text written on a band near the bottom (e.g. a measured age);
 *   `strip`: the image is a strip of ages (a wider thumbnail keeps its row)
 */
export async function makeThumbnail(image: Buffer, options: { label?: string; strip?: boolean } = {}): Promise<Thumbnail> {
  const { label, strip } = options;
  const meta = await sharp(image).metadata();
  const pageHeight = meta.pageHeight ?? meta.height ?? THUMBNAIL_DEFAULTS.height;
  const { width, height } = thumbnailSize(meta.width ?? THUMBNAIL_DEFAULTS.width, pageHeight, strip);
  let pipeline = sharp(image).rotate().resize(width, height, { fit: 'fill' }).flatten({ background: '#ffffff' });
  if (label !== undefined) {
    // The label band is drawn for a square tile of the thumbnail's width.
    const side = Math.min(width, height);
    const band = await labelOverlay([label], side);
    pipeline = sharp(await pipeline.png().toBuffer()).composite([{ ...band, left: Math.round((width - side) / 2), top: band.top + (height - side) }]);
  }
  const jpeg = await pipeline.jpeg({ quality: THUMBNAIL_DEFAULTS.quality }).toBuffer();
  return { jpeg, width, height };
}
