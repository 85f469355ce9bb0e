import type { Matrix } from '../linalg/matrix.ts';
import type { FloatArray } from '../onnx/tensor.ts';

/** Splits dims around `axis` whose extent is channels × block: outer · channels · (block · inner). */
function geometry(dims: readonly number[], axis: number, block: number) {
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = block * dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = dims[axis] / block;
  if (!Number.isInteger(channels)) throw new Error(`axis ${axis} of [${dims}] is not a multiple of block ${block}`);
  return { outer, inner, channels };
}

/** Keeps channels `keep` (in that order) along `axis`, each channel a block of `block` entries. */
export function sliceChannels(t: FloatArray, axis: number, block: number, keep: readonly number[]): FloatArray {
  const { outer, inner, channels } = geometry(t.dims, axis, block);
  const dims = [...t.dims];
  dims[axis] = keep.length * block;
  const data = new Float64Array(outer * keep.length * inner);
  for (let o = 0; o < outer; o++) {
    keep.forEach((c, i) => {
      const from = (o * channels + c) * inner;
      data.set(t.data.subarray(from, from + inner), (o * keep.length + i) * inner);
    });
  }
  return { dims, data };
}

/**
 * Folds an interpolation matrix T (k × C) into a weight read along `axis`:
 * W_new[…, i, …] = Σ_c T[i, c] · W[…, c, …], block-wise (T ⊗ I_block).
 */
export function mixChannels(t: FloatArray, axis: number, block: number, mix: Matrix): FloatArray {
  const { outer, inner, channels } = geometry(t.dims, axis, block);
  if (mix.cols !== channels) throw new Error(`interpolation has ${mix.cols} columns for ${channels} channels`);
  const k = mix.rows;
  const dims = [...t.dims];
  dims[axis] = k * block;
  const data = new Float64Array(outer * k * inner);
  const source = t.data;
  const weights = mix.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < k; i++) {
      const to = (o * k + i) * inner;
      for (let c = 0; c < channels; c++) {
        const w = weights[i * channels + c];
        if (w === 0) continue;
        const from = (o * channels + c) * inner;
        for (let p = 0; p < inner; p++) data[to + p] += w * source[from + p];
      }
    }
  }
  return { dims, data };
}

