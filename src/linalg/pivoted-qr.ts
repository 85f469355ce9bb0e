import { type Matrix, transpose, zeros } from './matrix.ts';

export interface PivotedQR {
  /** m × n orthonormal columns (thin Q, n ≤ m assumed; otherwise m × m). */
  q: Matrix;
  /** r × n upper triangular, r = min(m, n). */
  r: Matrix;
  /** Column permutation: column j of A·P is column perm[j] of A. */
  perm: number[];
}

/**
 * Householder QR with column pivoting (Businger–Golub): A P = Q R with |R[k,k]| non-increasing.
 * Used for tall data matrices in tests and small problems; the pipeline works on Gram matrices
 * through the pivoted Cholesky factorisation, which yields the same pivots and R.
 */
export function pivotedQR(a: Matrix): PivotedQR {
  const m = a.rows;
  const n = a.cols;
  const steps = Math.min(m, n);
  // Column-major working copy: column j is w[j·m, (j+1)·m), so every loop below runs with stride 1.
  const w = transpose(a).data;
  const perm = Array.from({ length: n }, (_, j) => j);
  const reflectors: Float64Array[] = [];

  for (let k = 0; k < steps; k++) {
    // Recompute the remaining norms exactly: cheap at these sizes and avoids downdating drift.
    let best = k;
    let bestNorm = -1;
    for (let j = k; j < n; j++) {
      const s = sumOfSquares(w, j * m + k, m - k);
      if (s > bestNorm) {
        bestNorm = s;
        best = j;
      }
    }
    if (best !== k) {
      const column = w.slice(k * m, (k + 1) * m);
      w.copyWithin(k * m, best * m, (best + 1) * m);
      w.set(column, best * m);
      [perm[k], perm[best]] = [perm[best], perm[k]];
    }
    const v = new Float64Array(m);
    v.set(w.subarray(k * m + k, (k + 1) * m), k);
    const norm = Math.sqrt(sumOfSquares(v, k, m - k));
    if (norm === 0) {
      reflectors.push(v);
      continue;
    }
    const alpha = v[k] >= 0 ? -norm : norm;
    v[k] -= alpha;
    const vNorm2 = sumOfSquares(v, k, m - k);
    if (vNorm2 > 0) {
      for (let j = k; j < n; j++) reflect(v, w, j * m, k, m, vNorm2);
      const scale = 1 / Math.sqrt(vNorm2);
      for (let i = k; i < m; i++) v[i] *= scale;
    }
    reflectors.push(v);
  }

  const r = zeros(steps, n);
  for (let i = 0; i < steps; i++) for (let j = i; j < n; j++) r.data[i * n + j] = w[j * m + i];

  // Q = H_0 H_1 … H_{steps-1} applied to the first `steps` columns of the identity (column-major).
  const qc = new Float64Array(m * steps);
  for (let j = 0; j < steps; j++) qc[j * m + j] = 1;
  for (let k = steps - 1; k >= 0; k--) for (let j = 0; j < steps; j++) reflect(reflectors[k], qc, j * m, k, m, 1);
  return { q: transpose({ rows: steps, cols: m, data: qc }), r, perm };
}

function sumOfSquares(x: Float64Array, from: number, length: number): number {
  let s = 0;
  for (let i = from; i < from + length; i++) s += x[i] * x[i];
  return s;
}

/** The column at w[col, col + m) less 2 (v · column) / vNorm2 · v, over rows [k, m). */
function reflect(v: Float64Array, w: Float64Array, col: number, k: number, m: number, vNorm2: number): void {
  let dot = 0;
  for (let i = k; i < m; i++) dot += v[i] * w[col + i];
  const f = (2 * dot) / vNorm2;
  for (let i = k; i < m; i++) w[col + i] -= f * v[i];
}
