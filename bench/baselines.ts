import type { SpaceDecision } from '../src/compress/surgery.ts';
import type { Analysis } from '../src/graph/analysis.ts';
import type { ChannelSpace } from '../src/graph/types.ts';
import { selectionMatrix } from '../src/compress/interpolation.ts';
import { readFloatTensor } from '../src/onnx/tensor.ts';
import { readTensors } from '../src/compress/pipeline.ts';

export function uncorrected(space: ChannelSpace, keep: number[]): SpaceDecision {
  const t = selectionMatrix(space.channels, keep);
  return { space, keep, interpolation: new Map(readTensors(space).map((r) => [r, t])) };
}

/** Channels with the largest L1 norm of the producer weights (the usual magnitude criterion). */
export function magnitudeKeep(analysis: Analysis, space: ChannelSpace, k: number): number[] {
  const norms = new Float64Array(space.channels);
  for (const producer of space.producers) {
    const slice = space.slices.find((s) => s.node === producer)!;
    const weight = readFloatTensor(analysis.index.constants.get(analysis.index.nodes[producer].input[slice.input])!);
    const outer = weight.dims.slice(0, slice.axis).reduce((a, b) => a * b, 1);
    const inner = weight.dims.slice(slice.axis + 1).reduce((a, b) => a * b, 1);
    for (let o = 0; o < outer; o++)
      for (let c = 0; c < space.channels; c++)
        for (let p = 0; p < inner; p++) norms[c] += Math.abs(weight.data[(o * space.channels + c) * inner + p]);
  }
  return topK(norms, k);
}

export function randomKeep(channels: number, k: number, seed: number): number[] {
  let state = seed >>> 0;
  const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return topK(Float64Array.from({ length: channels }, next), k);
}

function topK(scores: Float64Array, k: number): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]).slice(0, k).sort((a, b) => a - b);
}
