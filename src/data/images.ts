import sharp, { type Sharp } from 'sharp';
import type { NdArray } from './npy.ts';
import type { Progress } from '../progress.ts';
import { IdpruneError } from '../errors.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { type ImageLayout, imageLayout } from './image-layout.ts';
import { normalization, writePixels } from './normalize.ts';
import type { ImageOptions } from './read-options.ts';
import { allocate } from './decoded-array.ts';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff'];

/**
 * Decodes image files, one at a time, into one array of samples for the model's image input:
 * resized to its size (cover and centre-crop, or stretch), in its layout and channel order,
 * normalized. Everything the model's shape contradicts is refused before the first file is read.
 */
export async function readImages(
  files: string[],
  input: InputSpec,
  options: ImageOptions,
  progress: Progress,
  source: string,
): Promise<NdArray> {
  const layout = imageLayout(input, options, source);
  const raw = input.type === 'uint8';
  if (raw && (options.scale !== undefined || options.mean || options.std || options.preprocess)) {
    throw new IdpruneError(
      `${source}: model input "${input.name}" takes uint8 pixels as they are; ` +
        '--scale, --mean, --std and --preprocess do not apply',
    );
  }
  const norm = normalization(options, layout, source);
  const perSample = layout.sample.reduce((a, b) => a * b, 1);
  const data = allocate(
    raw ? 'uint8' : 'float32',
    files.length * perSample,
    `${files.length} images of ${layout.height}×${layout.width}`,
    source,
  ) as Float32Array | Uint8Array;
  progress.begin('reading images', files.length);
  try {
    for (let i = 0; i < files.length; i++) {
      writePixels(await decode(files[i], layout), layout, norm, data, i * perSample);
      progress.advance(i + 1);
    }
  } finally {
    progress.end();
  }
  return { dtype: raw ? 'uint8' : 'float32', shape: [files.length, ...layout.sample], data };
}

/**
 * 8-bit sRGB pixels at the layout's size; alpha is dropped (as PIL's convert('RGB') does), EXIF rotation not applied.
 */
async function decode(file: string, layout: ImageLayout): Promise<Uint8Array> {
  let decoded: Awaited<ReturnType<Sharp['toUint8Array']>>;
  try {
    decoded = await sharp(file)
      .removeAlpha()
      .toColourspace('srgb')
      .resize(layout.width, layout.height, { fit: layout.resize === 'crop' ? 'cover' : 'fill', position: 'centre' })
      .raw({ depth: 'uchar' })
      .toUint8Array();
  } catch (err) {
    throw new IdpruneError(`${file}: cannot read the image (${decoderMessage(err)})`);
  }
  const { width, height, channels } = decoded.info;
  if (width !== layout.width || height !== layout.height || channels !== 3) {
    throw new IdpruneError(
      `${file}: decoded to ${width}×${height}×${channels}, expected ${layout.width}×${layout.height}×3`,
    );
  }
  return decoded.data;
}

/** The decoder's message is cut beyond this: what went wrong comes first. */
const MESSAGE_LENGTH = 300;

/**
 * libvips reports a broken file over several lines, often the same ones twice ("VipsJpeg: premature
 * end of JPEG image" after each attempt): its lines, in order, on one line, less those an earlier one holds.
 */
function decoderMessage(err: unknown): string {
  const lines = String(err instanceof Error ? err.message : err)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const distinct = lines.filter((line, i) => !lines.slice(0, i).some((earlier) => earlier.includes(line)));
  const message = distinct.join('; ');
  return message.length > MESSAGE_LENGTH ? `${message.slice(0, MESSAGE_LENGTH - 1)}…` : message;
}
