import { copyOut, subtractLowerProduct } from './blocks.ts';
import { dot } from './kernels.ts';
import type { Matrix } from './matrix.ts';
import { javascriptProducts, type MatrixProducts } from './products.ts';

export interface PivotedCholesky {
  /** All channels, most informative first: the first k are the channels to keep. */
  order: number[];
  /** |R[j,j]| in pivot order (zero past the numerical rank). */
  diagonal: Float64Array;
  /**
   * residual[k] = ‖Z − Z[:, order[:k]] T‖²_F for the least-squares T: the trace of the Schur
   * complement after k pivots. residual[0] = trace(G); length C + 1.
   */
  residual: Float64Array;
  rank: number;
}

/**
 * Pivot steps per panel. The trailing matrix is updated once per panel by a rank-PANEL product
 * (run by `products`); within a panel each new column subtracts the panel's earlier columns by dot
 * products in JavaScript, work that grows as n² · PANEL / 4.
 */
const PANEL = 64;

/**
 * Pivoted Cholesky of a symmetric positive semi-definite Gram matrix G = ZᵀZ.
 * Its pivots and R equal those of the column-pivoted QR of Z (up to sign), so the data matrix is
 * never needed. Pivots whose remaining diagonal falls below `relTol · max diag(G)` are treated as
 * exactly representable (dead or duplicated channels). Of equal remaining diagonals the channel of
 * lowest index is taken.
 *
 * Blocked as LAPACK's dpstrf: the pivot is swapped to the front of the working copy (position j),
 * the remaining diagonal is downdated every step, and the trailing matrix only once per panel.
 */
export async function pivotedCholesky(
  g: Matrix,
  relTol = 1e-12,
  products: MatrixProducts = javascriptProducts,
): Promise<PivotedCholesky> {
  const n = g.rows;
  if (g.cols !== n) throw new Error('pivotedCholesky: matrix must be square');
  const d = new Float64Array(n);
  let maxDiag = 0;
  for (let i = 0; i < n; i++) {
    d[i] = g.data[i * n + i];
    if (!Number.isFinite(d[i])) throw new Error('pivotedCholesky: non-finite Gram matrix');
    maxDiag = Math.max(maxDiag, d[i]);
  }
  const threshold = relTol * maxDiag;
  // Lower triangle of s, by position: the factor's row left of the diagonal, the not yet updated
  // Schur complement from it on. channel[q] is the channel at position q, d[q] its remaining diagonal.
  const s = Float64Array.from(g.data);
  const channel = Array.from({ length: n }, (_, i) => i);
  const diagonal = new Float64Array(n);
  const residual = new Float64Array(n + 1);

  for (let k0 = 0; k0 < n; k0 += PANEL) {
    const k1 = Math.min(n, k0 + PANEL);
    for (let j = k0; j < k1; j++) {
      const { pivot, trace } = choosePivot(d, channel, j);
      residual[j] = trace;
      if (!(d[pivot] > threshold)) {
        const order = [...channel.slice(0, j), ...restByEnergy(d, channel, j)];
        residual.fill(0, j);
        return { order, diagonal, residual, rank: j };
      }
      swapPositions(s, n, d, channel, j, pivot);
      diagonal[j] = Math.sqrt(d[j]);
      eliminateColumn(s, n, d, k0, j, diagonal[j]);
    }
    if (k1 < n) await subtractLowerProduct(products, s, n, k1, copyOut(s, n, k1, n, k0, k1));
  }
  residual[n] = 0;
  return { order: channel, diagonal, residual, rank: n };
}

/** The position ≥ j of largest remaining diagonal (ties: lowest channel), and the remaining trace. */
function choosePivot(d: Float64Array, channel: readonly number[], j: number): { pivot: number; trace: number } {
  let trace = 0;
  let pivot = j;
  let best = -Infinity;
  for (let q = j; q < d.length; q++) {
    const v = d[q];
    trace += Math.max(v, 0);
    if (v > best || (v === best && channel[q] < channel[pivot])) {
      best = v;
      pivot = q;
    }
  }
  return { pivot, trace };
}

/** The channels at positions ≥ j, which reconstruct exactly: by what little energy they have left, then by index. */
function restByEnergy(d: Float64Array, channel: readonly number[], j: number): number[] {
  const energy = new Map<number, number>();
  for (let q = j; q < channel.length; q++) energy.set(channel[q], d[q]);
  return channel
    .slice(j)
    .sort((a, b) => a - b)
    .sort((a, b) => energy.get(b)! - energy.get(a)!);
}

/**
 * Exchanges positions j < p of the symmetric matrix held in the lower triangle of s (rows and
 * columns both), with their remaining diagonals and channels.
 */
function swapPositions(s: Float64Array, n: number, d: Float64Array, channel: number[], j: number, p: number): void {
  if (p === j) return;
  const swap = (x: number, y: number) => {
    const t = s[x];
    s[x] = s[y];
    s[y] = t;
  };
  // Left of column j: two contiguous row segments (the factor so far).
  for (let q = 0; q < j; q++) swap(j * n + q, p * n + q);
  swap(j * n + j, p * n + p);
  // Between them, column j (below j) trades with row p (left of p); below p, columns j and p trade.
  for (let q = j + 1; q < p; q++) swap(q * n + j, p * n + q);
  for (let q = p + 1; q < n; q++) swap(q * n + j, q * n + p);
  [d[j], d[p]] = [d[p], d[j]];
  [channel[j], channel[p]] = [channel[p], channel[j]];
}

/**
 * Column j of the factor below the diagonal: what the trailing update left in it, less the
 * contributions of this panel's earlier columns (a dot product over each row's contiguous
 * stretch [k0, j)), over the pivot. Downdates the remaining diagonal.
 */
function eliminateColumn(s: Float64Array, n: number, d: Float64Array, k0: number, j: number, pivot: number): void {
  const rj = j * n;
  s[rj + j] = pivot;
  for (let i = j + 1; i < n; i++) {
    const ri = i * n;
    const l = (s[ri + j] - dot(s, ri + k0, rj + k0, j - k0)) / pivot;
    s[ri + j] = l;
    d[i] -= l * l;
  }
}
