import { batchAxis, type InputSpec } from '../onnx/shapes.ts';
import { type Dataset, type SampleTransform, samplesOf } from './dataset.ts';

/*
 * Few calibration images, more information: each image and its left-right mirror. A mirrored photo
 * is as plausible an input as the photo, and its activations add rows the statistics and the refits
 * lack. Measured (docs/benchmarks.md): with 16 calibration images, ResNet-style fixture at 0.7 FLOPs
 * 89.4 → 94.9% agreement on 5000 test images, every fixture row better; with 256 images or more, no
 * gain for twice the time.
 */

/** Calibration sets smaller than this get mirrored copies under `augment: 'auto'`. */
export const MIRROR_BELOW_SAMPLES = 128;

export type Augment = 'auto' | 'mirror' | 'none';
export const AUGMENTS: readonly Augment[] = ['auto', 'mirror', 'none'];

const FLOAT_TYPES = new Set(['float32', 'float16', 'float64']);

/**
 * The width axis of an input that takes images: float [batch, 1|3, height, width] (axis 3) or
 * [batch, height, width, 1|3] (axis 2), at least 8 × 8; undefined for any other input.
 */
export function imageWidthAxis(input: InputSpec, shape: readonly number[]): number | undefined {
  if (!FLOAT_TYPES.has(input.type) || batchAxis(input) !== 0 || shape.length !== 4) return undefined;
  const image = (channels: number, h: number, w: number) => (channels === 1 || channels === 3) && h >= 8 && w >= 8;
  if (image(shape[1], shape[2], shape[3])) return 3;
  if (image(shape[3], shape[1], shape[2])) return 2;
  return undefined;
}

/** Whether `augment` mirrors this dataset: some input takes images, and under 'auto' the samples are few. */
export function mirrors(dataset: Dataset, augment: Augment = 'auto'): boolean {
  if (augment === 'none') return false;
  if (augment === 'auto' && dataset.count >= MIRROR_BELOW_SAMPLES) return false;
  // A fixed batch of several samples would split an image from its mirror (see mirrorOrder).
  if (dataset.inputs.some((input) => batchAxis(input) === 0 && (input.dims[0] ?? 1) > 1)) return false;
  return dataset.inputs.some((input) => imageWidthAxis(input, dataset.arrays[input.name].shape) !== undefined);
}

/**
 * Where each sample and its mirror image go: in blocks of two samples then their two mirror
 * images, so that an image and its mirror always share the parity of their index (the refits
 * validate on the samples of odd index, fitted on the even ones: see correction.ts). With an odd
 * count the last sample has no mirror image.
 */
export function mirrorOrder(count: number): { sample: number; mirror: boolean }[] {
  const order: { sample: number; mirror: boolean }[] = [];
  for (let i = 0; i + 1 < count; i += 2) {
    order.push(
      { sample: i, mirror: false },
      { sample: i + 1, mirror: false },
      { sample: i, mirror: true },
      { sample: i + 1, mirror: true },
    );
  }
  if (count % 2 === 1) order.push({ sample: count - 1, mirror: false });
  return order;
}

/** The dataset positions (see mirrorOrder) of a sample and of its mirror image, where it has one. */
export function mirrorPositions(sample: number, count: number): number[] {
  const block = 4 * Math.floor(sample / 2) + (sample % 2);
  return sample === count - 1 && count % 2 === 1 ? [block] : [block, block + 2];
}

/** The samples with their mirror images, flipped left to right (other inputs repeated), in mirrorOrder. */
export function withMirrors(dataset: Dataset): Dataset {
  const order = mirrorOrder(dataset.count);
  const widthAxes = new Map(
    dataset.inputs.map((input) => [input.name, imageWidthAxis(input, dataset.arrays[input.name].shape)]),
  );
  const mirror: SampleTransform = (input, position, values) => {
    const axis = widthAxes.get(input.name);
    return order[position].mirror && axis !== undefined
      ? mirrored(values as Float32Array, dataset.arrays[input.name].shape, axis)
      : values;
  };
  const picked = samplesOf(
    dataset,
    order.map((o) => o.sample),
    mirror,
  );
  return { ...picked, source: `${dataset.source} (and mirrored)` };
}

/** One sample flipped along `axis` of the array's shape (2 or 3, with the batch axis first). */
function mirrored(values: Float32Array, shape: readonly number[], axis: number): Float32Array {
  const out = new (values.constructor as new (length: number) => Float32Array)(values.length);
  const width = shape[axis];
  // Elements between consecutive steps along the width axis, and the span of one row of widths.
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const row = width * inner;
  for (let start = 0; start < values.length; start += row) {
    for (let x = 0; x < width; x++) {
      const from = start + x * inner;
      const to = start + (width - 1 - x) * inner;
      for (let j = 0; j < inner; j++) out[to + j] = values[from + j];
    }
  }
  return out;
}
