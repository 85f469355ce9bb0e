import { type Matrix, zeros } from './matrix.ts';

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
  const w = Float64Array.from(a.data);
  const perm = Array.from({ length: n }, (_, j) => j);
  const colNorm2 = new Float64Array(n);
  for (let j = 0; j < n; j++) for (let i = 0; i < m; i++) colNorm2[j] += w[i * n + j] ** 2;
  const reflectors: Float64Array[] = [];

  for (let k = 0; k < steps; k++) {
    // Recompute the remaining norms exactly: cheap at these sizes and avoids downdating drift.
    let best = k;
    let bestNorm = -1;
    for (let j = k; j < n; j++) {
      let s = 0;
      for (let i = k; i < m; i++) s += w[i * n + j] ** 2;
      colNorm2[j] = s;
      if (s > bestNorm) {
        bestNorm = s;
        best = j;
      }
    }
    if (best !== k) {
      for (let i = 0; i < m; i++) {
        const t = w[i * n + k];
        w[i * n + k] = w[i * n + best];
        w[i * n + best] = t;
      }
      [perm[k], perm[best]] = [perm[best], perm[k]];
    }
    const v = new Float64Array(m);
    let norm = 0;
    for (let i = k; i < m; i++) {
      v[i] = w[i * n + k];
      norm += v[i] * v[i];
    }
    norm = Math.sqrt(norm);
    if (norm === 0) {
      reflectors.push(v);
      continue;
    }
    const alpha = v[k] >= 0 ? -norm : norm;
    v[k] -= alpha;
    let vNorm2 = 0;
    for (let i = k; i < m; i++) vNorm2 += v[i] * v[i];
    if (vNorm2 > 0) {
      for (let j = k; j < n; j++) {
        let dot = 0;
        for (let i = k; i < m; i++) dot += v[i] * w[i * n + j];
        const f = (2 * dot) / vNorm2;
        for (let i = k; i < m; i++) w[i * n + j] -= f * v[i];
      }
      const scale = 1 / Math.sqrt(vNorm2);
      for (let i = k; i < m; i++) v[i] *= scale;
    }
    reflectors.push(v);
  }

  const r = zeros(steps, n);
  for (let i = 0; i < steps; i++) for (let j = i; j < n; j++) r.data[i * n + j] = w[i * n + j];

  // Q = H_0 H_1 … H_{steps-1} applied to the first `steps` columns of the identity.
  const q = zeros(m, steps);
  for (let j = 0; j < steps; j++) q.data[j * steps + j] = 1;
  for (let k = steps - 1; k >= 0; k--) {
    const v = reflectors[k];
    for (let j = 0; j < steps; j++) {
      let dot = 0;
      for (let i = k; i < m; i++) dot += v[i] * q.data[i * steps + j];
      for (let i = k; i < m; i++) q.data[i * steps + j] -= 2 * dot * v[i];
    }
  }
  return { q, r, perm };
}
