// A camera for the browser tests: Chromium's fake capture device plays a Y4M file, written
// here from a real photo, so getUserMedia on the kiosk page sees that photo.
import { renameSync, writeFileSync } from 'node:fs';
import sharp, { type SharpInput, type SharpOptions } from 'sharp';

/** Chromium flags that make the fake capture device play `file`. */
export function fakeCameraArgs(file: string): string[] {
  return ['--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${file}`];
}

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * Writes one frame of `image` as a Y4M file (4:2:0, BT.601 full range, as C420jpeg says),
 * `width` x `height`, the photo letterboxed to fit. Written beside and renamed, so a browser
 * opening the camera never reads half a file: each new getUserMedia reads the file again,
 * which lets one browser show different scenes to different pages.
 */
export async function writeY4m(image: SharpInput | SharpOptions, file: string, width = 640, height = 480): Promise<void> {
  const input = typeof image === 'object' && !Buffer.isBuffer(image) && 'create' in image ? sharp(image as SharpOptions) : sharp(image as SharpInput);
  const rgb = await input.resize(width, height, { fit: 'contain', background: '#000000' }).removeAlpha().raw().toBuffer();
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width * height) / 4);
  const v = Buffer.alloc((width * height) / 4);
  for (let i = 0; i < width * height; i++) y[i] = clamp(0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]);
  for (let row = 0; row < height / 2; row++) {
    for (let col = 0; col < width / 2; col++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const i = 3 * ((2 * row + dy) * width + 2 * col + dx);
        r += rgb[i] / 4;
        g += rgb[i + 1] / 4;
        b += rgb[i + 2] / 4;
      }
      u[row * (width / 2) + col] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
      v[row * (width / 2) + col] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    }
  }
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\nFRAME\n`);
  writeFileSync(`${file}.part`, Buffer.concat([header, y, u, v]));
  renameSync(`${file}.part`, file);
}
