// Small JPEG pictures of a result, for the flow editor to show under a node: the aligned face,
// a rendered age, a strip, or a face with its measured age written on it.
import sharp from 'sharp';
import { labelOverlay } from '../sam/labels';

/** Every default of thumbnails, in one place. */
export const THUMBNAIL_DEFAULTS = {
  /** Tallest thumbnail, px (what node-red-contrib-image-output users are used to). */
  height: 160,
  /** Widest thumbnail, px: a strip of ages keeps its row, smaller. */
  maxWidth: 480,
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
 * Makes a thumbnail of an image (the first frame of an animation): at most
 * {@link THUMBNAIL_DEFAULTS}.height high and maxWidth wide, never enlarged, JPEG.
 * @param image an encoded image sharp reads (PNG, JPEG, WebP, GIF, ...)
 * @param label text written on a band near the bottom (e.g. a measured age)
 */
export async function makeThumbnail(image: Buffer, label?: string): Promise<Thumbnail> {
  const { height: tallest, maxWidth, quality } = THUMBNAIL_DEFAULTS;
  const meta = await sharp(image).metadata();
  const pageHeight = meta.pageHeight ?? meta.height ?? tallest;
  const scale = Math.min(1, tallest / pageHeight, maxWidth / (meta.width ?? maxWidth));
  const width = Math.max(1, Math.round((meta.width ?? maxWidth) * scale));
  const height = Math.max(1, Math.round(pageHeight * scale));
  let pipeline = sharp(image).rotate().resize(width, height, { fit: 'fill' }).flatten({ background: '#ffffff' });
  if (label !== undefined) {
    // The label band is drawn for a square tile of the thumbnail's width.
    const side = Math.min(width, height);
    const band = await labelOverlay([label], side);
    pipeline = sharp(await pipeline.png().toBuffer()).composite([{ ...band, left: Math.round((width - side) / 2), top: band.top + (height - side) }]);
  }
  const jpeg = await pipeline.jpeg({ quality }).toBuffer();
  return { jpeg, width, height };
}
