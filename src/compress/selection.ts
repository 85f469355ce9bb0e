import { addInPlace, type Matrix, multiply, trace, transpose, zeros } from '../linalg/matrix.ts';
import { pivotedBlockCholesky } from '../linalg/block-pivoting.ts';
import type { ChannelSpan } from './tensor-ops.ts';
import { pivotedCholesky } from '../linalg/pivoted-cholesky.ts';
import { javascriptProducts, type MatrixProducts } from '../linalg/products.ts';

/** A space's channels ranked by pivoted Cholesky, with the error of keeping each prefix. */
export interface ChannelRanking {
  order: number[];
  /** relativeError[k]: ‖Z − Z_S T‖²_F / ‖Z‖²_F when keeping the first k of `order`; length C + 1. */
  relativeError: Float64Array;
  rank: number;
}

/**
 * Ranks channels on all read points of a space together: their Gram matrices are summed after
 * scaling each to unit trace, so that no read point dominates by its magnitude alone. Channels that
 * are units of several neurons (Gram matrices over neurons) are ranked as blocks.
 */
export async function rankChannels(
  grams: readonly Matrix[],
  unit = 1,
  products: MatrixProducts = javascriptProducts,
): Promise<ChannelRanking> {
  const n = grams[0].rows;
  const combined = zeros(n, n);
  for (const g of grams) {
    const t = trace(g);
    if (t > 0) addInPlace(combined, g, 1 / t);
  }
  const { order, residual, rank } =
    unit === 1 ? await pivotedCholesky(combined, undefined, products) : pivotedBlockCholesky(combined, unit);
  const total = residual[0];
  const relativeError = residual.map((r) => (total > 0 ? r / total : 0));
  return { order, relativeError, rank };
}

/**
 * The metric a consumer puts on the channels it reads: M = Σ W_oᵀ W_o over every index of its
 * weight other than the channel (output channels, kernel taps, flattened block entries), so that
 * tr(M · E) is the squared error at the consumer's output caused by an input error with Gram E
 * (exact for a 1×1 Conv or a Gemm; for wider kernels and flattened blocks it ignores the
 * correlation between neighbouring taps / positions).
 */
export async function consumerMetric(
  weight: { dims: number[]; data: ArrayLike<number> },
  span: Required<ChannelSpan>,
  products: MatrixProducts = javascriptProducts,
): Promise<Matrix> {
  const { axis, block, offset, channels } = span;
  const dims = weight.dims;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const after = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const inner = block * after;
  const row = dims[axis] * after;
  // Rows: every (outer, inner) index; columns: the channels. M is their Gram matrix.
  const rows = zeros(outer * inner, channels);
  const w = weight.data;
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < channels; a++) {
      const from = o * row + offset * after + a * inner;
      for (let p = 0; p < inner; p++) rows.data[(o * inner + p) * channels + a] = w[from + p];
    }
  }
  return products.multiply(transpose(rows), rows);
}

/**
 * Ranks channels by the error they cause at the consumers' outputs rather than at their input:
 * greedily keeps the channel whose interpolation most reduces Σ_r tr(M_r E_r) / tr(M_r G_r), where
 * for read point r, G_r is its Gram matrix, M_r its consumers' metric and E_r the residual Gram
 * (Schur complement) of the channels kept so far. With `order` given, the channels are kept in that
 * order and only the error curve is computed. relativeError[k] averages the read points' relative
 * output errors, so relativeError[0] = 1.
 */
export function rankChannelsWeighted(
  grams: readonly Matrix[],
  metrics: readonly Matrix[],
  order?: readonly number[],
  relTol = 1e-12,
): ChannelRanking {
  const n = grams[0].rows;
  const points: WeightedPoint[] = grams.map((g, r) => {
    const e = Float64Array.from(g.data);
    const m = Float64Array.from(metrics[r].data);
    // u[i] = (E M E)[i, i]: the output error removed by keeping channel i next.
    const me = multiply(metrics[r], { rows: n, cols: n, data: e }).data;
    const u = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += e[i * n + k] * me[k * n + i];
      u[i] = s;
      total += me[i * n + i];
    }
    let maxDiag = 0;
    for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, e[i * n + i]);
    return { e, m, u, total, current: total, threshold: relTol * maxDiag };
  });
  const live = points.filter((p) => p.total > 0);
  const relative = () =>
    live.length === 0 ? 0 : live.reduce((s, p) => s + Math.max(p.current, 0) / p.total, 0) / live.length;
  // The points' E, M and u are held on the channels not yet kept (E is zero on the kept ones'
  // rows and columns): repacked as that set shrinks, so that step k works on about (n − k)²
  // entries instead of n².
  let channelAt = Array.from({ length: n }, (_, i) => i);
  let indexOf = Int32Array.from(channelAt);
  let taken = new Uint8Array(n);
  let width = n;
  const chosen: number[] = [];
  const relativeError = new Float64Array(n + 1);
  let rank = n;
  for (let step = 0; step < n; step++) {
    if (n - step < REPACK_FRACTION * width) {
      const keep = channelAt.flatMap((_, j) => (taken[j] ? [] : [j]));
      for (const p of points) repack(p, width, keep);
      channelAt = keep.map((j) => channelAt[j]);
      indexOf = new Int32Array(n).fill(-1);
      channelAt.forEach((channel, j) => {
        indexOf[channel] = j;
      });
      width = keep.length;
      taken = new Uint8Array(width);
    }
    relativeError[step] = relative();
    let pick = -1;
    if (order) pick = indexOf[order[step]];
    else {
      let best = -Infinity;
      for (let j = 0; j < width; j++) {
        if (taken[j]) continue;
        let score = 0;
        for (const p of live) {
          const d = p.e[j * width + j];
          if (d > p.threshold) score += p.u[j] / d / p.total;
        }
        if (score > best) {
          best = score;
          pick = j;
        }
      }
      if (best <= 0 && rank === n) rank = step;
    }
    chosen.push(channelAt[pick]);
    taken[pick] = 1;
    for (const p of points) keepChannel(p, width, pick, taken);
  }
  relativeError[n] = 0;
  return { order: chosen, relativeError, rank };
}

/** Repack when the channels not yet kept fall below this fraction of the packed width. */
const REPACK_FRACTION = 0.85;

/** One read point of the weighted ranking, on the packed channels (see rankChannelsWeighted). */
interface WeightedPoint {
  e: Float64Array;
  m: Float64Array;
  u: Float64Array;
  total: number;
  current: number;
  threshold: number;
}

/** The point's matrices and u restricted to the packed indices `keep` (of `width`). */
function repack(p: WeightedPoint, width: number, keep: readonly number[]): void {
  const k = keep.length;
  const e = new Float64Array(k * k);
  const m = new Float64Array(k * k);
  const u = new Float64Array(k);
  keep.forEach((from, i) => {
    u[i] = p.u[from];
    for (let j = 0; j < k; j++) {
      e[i * k + j] = p.e[from * width + keep[j]];
      m[i * k + j] = p.m[from * width + keep[j]];
    }
  });
  Object.assign(p, { e, m, u });
}

/**
 * Keeps packed channel `pick`: E' = E − c cᵀ / d with c = E[:, pick], d = c[pick]; u and the error
 * follow without forming E M E again. Channels the point cannot tell apart (d at its threshold) leave it unchanged.
 */
function keepChannel(p: WeightedPoint, width: number, pick: number, taken: Uint8Array): void {
  const d = p.e[pick * width + pick];
  if (!(d > p.threshold)) return;
  const col = new Float64Array(width);
  for (let i = 0; i < width; i++) col[i] = taken[i] && i !== pick ? 0 : p.e[i * width + pick];
  const v = new Float64Array(width); // M c
  for (let i = 0; i < width; i++) {
    let s = 0;
    for (let k = 0; k < width; k++) s += p.m[i * width + k] * col[k];
    v[i] = s;
  }
  const w = new Float64Array(width); // E M c
  let eMe = 0;
  for (let i = 0; i < width; i++) {
    let s = 0;
    for (let k = 0; k < width; k++) s += p.e[i * width + k] * v[k];
    w[i] = s;
    eMe += col[i] * v[i];
  }
  for (let i = 0; i < width; i++) p.u[i] += (-2 * col[i] * w[i]) / d + (col[i] * col[i] * eMe) / (d * d);
  p.current -= eMe / d;
  for (let i = 0; i < width; i++) {
    const ci = col[i] / d;
    if (ci === 0) continue;
    for (let k = 0; k < width; k++) p.e[i * width + k] -= ci * col[k];
  }
}
