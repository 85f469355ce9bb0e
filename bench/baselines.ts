import { selectionMatrix } from '../src/compress/interpolation.ts';
import { readTensors } from '../src/compress/space-tensors.ts';
import type { SpaceDecision } from '../src/compress/surgery.ts';
import { neuronCount, neuronsOf } from '../src/compress/units.ts';
import type { Analysis } from '../src/graph/analysis.ts';
import type { Matrix } from '../src/linalg/matrix.ts';
import type { ChannelSpace, ConstantSlice } from '../src/graph/types.ts';
import { readFloatTensor } from '../src/onnx/tensor.ts';

/** The channels `keep`, dropped from the consumers with no correction. */
export function uncorrected(space: ChannelSpace, keep: number[]): SpaceDecision {
  const t = selectionMatrix(neuronCount(space), neuronsOf(keep, space.unit));
  return { space, keep, interpolation: new Map(readTensors(space).map((r) => [r, t])) };
}

/**
 * Adds to each channel's total Σ |w| over its entries of a constant slice, each entry's sum scaled by
 * `scale(channel, entry within the channel's block)`.
 */
function addAbsoluteSums(
  totals: Float64Array,
  analysis: Analysis,
  slice: ConstantSlice,
  scale: (channel: number, local: number) => number = () => 1,
): void {
  const weight = readFloatTensor(analysis.index.constants.get(analysis.index.nodes[slice.node].input[slice.input])!);
  const outer = weight.dims.slice(0, slice.axis).reduce((a, b) => a * b, 1);
  const size = weight.dims[slice.axis];
  const after = weight.dims.slice(slice.axis + 1).reduce((a, b) => a * b, 1);
  for (let c = 0; c < totals.length; c++) {
    for (let local = 0; local < slice.block; local++) {
      const e = (slice.offset ?? 0) + c * slice.block + local;
      let sum = 0;
      for (let o = 0; o < outer; o++)
        for (let p = 0; p < after; p++) sum += Math.abs(weight.data[(o * size + e) * after + p]);
      totals[c] += sum * scale(c, local);
    }
  }
}

/** Channels (or heads) with the largest L1 norm of the producer weights (the usual magnitude criterion). */
export function magnitudeKeep(analysis: Analysis, space: ChannelSpace, k: number): number[] {
  const norms = new Float64Array(space.channels);
  for (const slice of space.slices.filter((s) => space.producers.includes(s.node) && s.input === 1))
    addAbsoluteSums(norms, analysis, slice);
  return topK(norms, k);
}

/**
 * Wanda-sp: channels (or heads) with the largest Σ |W| · ‖x‖ over the weights that read them, ‖x‖
 * the calibration norm of each input neuron (from the Gram matrix of the tensor the layer reads).
 */
export function wandaKeep(
  analysis: Analysis,
  space: ChannelSpace,
  k: number,
  gramOf: (tensor: string) => Matrix,
): number[] {
  const scores = new Float64Array(space.channels);
  for (const consumer of space.consumers) {
    const gram = gramOf(consumer.reads);
    const block = consumer.weight.block;
    const norm = (c: number, local: number) => {
      const neuron = space.unit === 1 ? c : c * space.unit + Math.floor((local * space.unit) / block);
      return Math.sqrt(Math.max(0, gram.data[neuron * gram.cols + neuron]));
    };
    addAbsoluteSums(scores, analysis, consumer.weight, norm);
  }
  return topK(scores, k);
}

export function randomKeep(channels: number, k: number, seed: number): number[] {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return topK(Float64Array.from({ length: channels }, next), k);
}

/** The indices of the k largest scores, in increasing order. */
export function topK(scores: Float64Array, k: number): number[] {
  return Array.from(scores.keys())
    .sort((a, b) => scores[b] - scores[a])
    .slice(0, k)
    .sort((a, b) => a - b);
}
