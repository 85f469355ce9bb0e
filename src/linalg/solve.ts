import { type Matrix, zeros } from './matrix.ts';

/**
 * Solves (A + λI) X = B for symmetric positive semi-definite A, λ = ridge · mean(diag A).
 * The small relative ridge keeps rank-deficient systems (dead or duplicated channels) solvable
 * while leaving well-conditioned ones essentially unchanged.
 */
export function solveSymmetric(a: Matrix, b: Matrix, ridge = 1e-9): Matrix {
  const n = a.rows;
  if (a.cols !== n || b.rows !== n) throw new Error('solveSymmetric: shape mismatch');
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a.data[i * n + i];
  meanDiag = n > 0 ? meanDiag / n : 0;
  let lambda = ridge * meanDiag;
  if (!(lambda > 0)) lambda = ridge;
  for (;;) {
    const l = cholesky(a, lambda);
    if (l) return choleskySolve(l, b);
    lambda *= 100;
  }
}

function cholesky(a: Matrix, lambda: number): Matrix | null {
  const n = a.rows;
  const l = zeros(n, n);
  for (let j = 0; j < n; j++) {
    let s = a.data[j * n + j] + lambda;
    for (let k = 0; k < j; k++) s -= l.data[j * n + k] ** 2;
    if (!(s > 0)) return null;
    const ljj = Math.sqrt(s);
    l.data[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = a.data[i * n + j];
      for (let k = 0; k < j; k++) t -= l.data[i * n + k] * l.data[j * n + k];
      l.data[i * n + j] = t / ljj;
    }
  }
  return l;
}

function choleskySolve(l: Matrix, b: Matrix): Matrix {
  const n = l.rows;
  const m = b.cols;
  const x = Float64Array.from(b.data);
  // Forward: L Y = B.
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const lik = l.data[i * n + k];
      if (lik === 0) continue;
      for (let c = 0; c < m; c++) x[i * m + c] -= lik * x[k * m + c];
    }
    const lii = l.data[i * n + i];
    for (let c = 0; c < m; c++) x[i * m + c] /= lii;
  }
  // Backward: Lᵀ X = Y.
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const lki = l.data[k * n + i];
      if (lki === 0) continue;
      for (let c = 0; c < m; c++) x[i * m + c] -= lki * x[k * m + c];
    }
    const lii = l.data[i * n + i];
    for (let c = 0; c < m; c++) x[i * m + c] /= lii;
  }
  return { rows: n, cols: m, data: x };
}
