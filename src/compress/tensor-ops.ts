import type { Matrix } from '../linalg/matrix.ts';
import { javascriptProducts, type MatrixProducts } from '../linalg/products.ts';
import type { FloatArray } from '../onnx/tensor.ts';

/**
 * Where a space's channels lie on one axis of a constant: channel c occupies entries
 * [offset + c·block, offset + (c+1)·block); entries outside belong to other spaces and are kept.
 */
export interface ChannelSpan {
  axis: number;
  block: number;
  offset?: number;
  /** The space's channel count; by default the whole axis (less the offset) is the space. */
  channels?: number;
}

/** dims around the axis: outer · (before | channels · block | after) · inner. */
function geometry(dims: readonly number[], span: ChannelSpan) {
  const { axis, block } = span;
  const offset = span.offset ?? 0;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const size = dims[axis];
  const channels = span.channels ?? (size - offset) / block;
  const after = size - offset - channels * block;
  if (!Number.isInteger(channels) || after < 0) {
    throw new Error(
      `axis ${axis} of [${dims}] does not hold ${channels} channels of ${block} entries at offset ${offset}`,
    );
  }
  return { outer, inner, size, offset, channels, after, block };
}

/**
 * target[to…] = source[from…], `length` entries. A weight read along its last axis (a Gemm's
 * [outputs, inputs]) moves one entry at a time, and a million subarray copies of one entry cost
 * far more than a loop.
 */
function copyRun(source: Float64Array, from: number, target: Float64Array, to: number, length: number): void {
  if (length >= 32) {
    target.set(source.subarray(from, from + length), to);
    return;
  }
  for (let e = 0; e < length; e++) target[to + e] = source[from + e];
}

/** Rewrites the span of every outer row with `k` channels filled by `fill` (entries outside are copied). */
function rewriteSpan(
  t: FloatArray,
  span: ChannelSpan,
  k: number,
  fill: (
    source: FloatArray['data'],
    from: number,
    target: Float64Array,
    to: number,
    g: ReturnType<typeof geometry>,
    outer: number,
  ) => void,
): FloatArray {
  const g = geometry(t.dims, span);
  const newSize = g.offset + k * g.block + g.after;
  const dims = [...t.dims];
  dims[span.axis] = newSize;
  const data = new Float64Array(g.outer * newSize * g.inner);
  for (let o = 0; o < g.outer; o++) {
    const from = o * g.size * g.inner;
    const to = o * newSize * g.inner;
    data.set(t.data.subarray(from, from + g.offset * g.inner), to);
    const tail = (g.offset + g.channels * g.block) * g.inner;
    data.set(t.data.subarray(from + tail, from + g.size * g.inner), to + (g.offset + k * g.block) * g.inner);
    fill(t.data, from + g.offset * g.inner, data, to + g.offset * g.inner, g, o);
  }
  return { dims, data };
}

/** Keeps channels `keep` (in that order) of the span. */
export function sliceChannels(t: FloatArray, span: ChannelSpan, keep: readonly number[]): FloatArray {
  return rewriteSpan(t, span, keep.length, (source, from, target, to, g) => {
    const run = g.block * g.inner;
    keep.forEach((c, i) => {
      copyRun(source, from + c * run, target, to + i * run, run);
    });
  });
}

/**
 * Folds an interpolation matrix T (k × C) into a weight read along the span's axis:
 * W_new[…, i, …] = Σ_c T[i, c] · W[…, c, …], block-wise (T ⊗ I_block). One matrix product:
 * T times the span laid out as C rows of every other index.
 */
export async function mixChannels(
  t: FloatArray,
  span: ChannelSpan,
  mix: Matrix,
  products: MatrixProducts = javascriptProducts,
): Promise<FloatArray> {
  const g = geometry(t.dims, span);
  if (mix.cols !== g.channels) throw new Error(`interpolation has ${mix.cols} columns for ${g.channels} channels`);
  const run = g.block * g.inner;
  const width = g.outer * run;
  const columns = new Float64Array(g.channels * width);
  for (let o = 0; o < g.outer; o++) {
    const from = o * g.size * g.inner + g.offset * g.inner;
    for (let c = 0; c < g.channels; c++) copyRun(t.data, from + c * run, columns, c * width + o * run, run);
  }
  const mixed = (await products.multiply(mix, { rows: g.channels, cols: width, data: columns })).data;
  return rewriteSpan(t, span, mix.rows, (_, __, target, to, ___, o) => {
    for (let i = 0; i < mix.rows; i++) copyRun(mixed, i * width + o * run, target, to + i * run, run);
  });
}
