import type { Matrix } from './matrix.ts';

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
 * Pivoted Cholesky of a symmetric positive semi-definite Gram matrix G = ZᵀZ.
 * Its pivots and R equal those of the column-pivoted QR of Z (up to sign), so the data matrix is
 * never needed. Pivots whose remaining diagonal falls below `relTol · max diag(G)` are treated as
 * exactly representable (dead or duplicated channels).
 */
export function pivotedCholesky(g: Matrix, relTol = 1e-12): PivotedCholesky {
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
  let remaining = Array.from({ length: n }, (_, i) => i);
  const order: number[] = [];
  const diagonal = new Float64Array(n);
  const residual = new Float64Array(n + 1);
  // factor[i][j]: row of channel i of the factor (its j-th column is the j-th pivot step), so the
  // dot products below run over contiguous memory.
  const factor = Array.from({ length: n }, () => new Float64Array(n));

  for (let j = 0; j < n; j++) {
    let trace = 0;
    let p = -1;
    let best = -Infinity;
    for (const i of remaining) {
      trace += Math.max(d[i], 0);
      if (d[i] > best) {
        best = d[i];
        p = i;
      }
    }
    residual[j] = trace;
    if (best <= threshold) {
      // The rest reconstruct exactly; order them by what little energy they have left.
      order.push(...remaining.sort((a, b) => d[b] - d[a]));
      residual.fill(0, j);
      return { order, diagonal, residual, rank: j };
    }
    const pivot = Math.sqrt(best);
    diagonal[j] = pivot;
    order.push(p);
    remaining = remaining.filter((i) => i !== p);
    const rowP = factor[p];
    rowP[j] = pivot;
    for (const i of remaining) {
      const rowI = factor[i];
      let s = g.data[i * n + p];
      for (let k = 0; k < j; k++) s -= rowI[k] * rowP[k];
      const l = s / pivot;
      rowI[j] = l;
      d[i] -= l * l;
    }
  }
  residual[n] = 0;
  return { order, diagonal, residual, rank: n };
}
