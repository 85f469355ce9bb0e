import { IdpruneError } from '../errors.ts';
import type { ImageLayout } from './image-layout.ts';
import type { ImageOptions, Preset } from './read-options.ts';

/** x = (pixel · scale − mean[c]) / std[c], per channel of the model's input (the torchvision convention). */
export interface Normalization {
  scale: number;
  mean: number[];
  std: number[];
}

/** Presets, with their means and deviations in RGB order. */
export const PRESETS: Record<Preset, Normalization> = {
  imagenet: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  '0-1': { scale: 1 / 255, mean: [0], std: [1] },
  '-1-1': { scale: 1 / 255, mean: [0.5], std: [0.5] },
};

/**
 * The normalization for the model's channels: a preset, with --scale, --mean and --std overriding its
 * parts. A preset's RGB means are reversed for BGR input; given values are taken in the model's order.
 */
export function normalization(
  options: ImageOptions,
  layout: Pick<ImageLayout, 'colour' | 'channels'>,
  source: string,
): Normalization {
  const preset = PRESETS[options.preprocess ?? '0-1'];
  const inModelOrder = (values: number[]) => (layout.colour === 'bgr' ? [...values].reverse() : values);
  const scale = options.scale ?? preset.scale;
  const mean = perChannel(options.mean ?? inModelOrder(preset.mean), layout.channels, 'mean', source);
  const std = perChannel(options.std ?? inModelOrder(preset.std), layout.channels, 'std', source);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new IdpruneError(`${source}: --scale must be a positive number`);
  if (std.some((s) => !(s > 0) || !Number.isFinite(s)))
    throw new IdpruneError(`${source}: --std values must be positive`);
  if (mean.some((m) => !Number.isFinite(m))) throw new IdpruneError(`${source}: --mean values must be finite`);
  return { scale, mean, std };
}

function perChannel(values: number[], channels: number, name: string, source: string): number[] {
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length === channels) return values;
  throw new IdpruneError(
    `${source}: ${values.length} values of ${name} for ${channels} channel${channels === 1 ? '' : 's'} ` +
      '(give one, or one per channel)',
  );
}

/**
 * Gray from RGB as PIL's convert('L') computes it (ITU-R 601-2 luma, rounded), which training pipelines mostly used.
 */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/**
 * Writes one decoded image (8-bit RGB, interleaved, already at the layout's size) into `out` at
 * `offset`, in the layout's channel order and axis order. Float outputs are normalized; a uint8
 * output takes the pixels as they are.
 */
export function writePixels(
  rgb: Uint8Array,
  layout: ImageLayout,
  norm: Normalization,
  out: Float32Array | Uint8Array,
  offset: number,
): void {
  const { height, width, channels } = layout;
  const plane = height * width;
  if (rgb.length !== plane * 3) throw new Error(`expected ${plane * 3} RGB values, got ${rgb.length}`);
  const raw = out instanceof Uint8Array;
  const factor = norm.std.map((s) => norm.scale / s);
  const shift = norm.mean.map((m, c) => m / norm.std[c]);
  const order = layout.colour === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const channelStride = layout.layout === 'nchw' ? plane : 1;
  const pixelStride = layout.layout === 'nchw' ? 1 : channels;
  for (let p = 0; p < plane; p++) {
    const base = offset + p * pixelStride;
    for (let c = 0; c < channels; c++) {
      const value = channels === 1 ? luma(rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]) : rgb[3 * p + order[c]];
      out[base + c * channelStride] = raw ? value : value * factor[c] - shift[c];
    }
  }
}
