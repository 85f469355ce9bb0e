/*
 * The straightforward triple-loop linear algebra that src/linalg/ used before its blocked kernels:
 * the reference the tests check those kernels against, and the baseline of bench/linalg.ts.
 */
import { type Matrix, zeros } from '../../src/linalg/matrix.ts';

export function naiveMultiply(a: Matrix, b: Matrix): Matrix {
  const out = zeros(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const aik = a.data[i * a.cols + k];
      if (aik === 0) continue;
      const bRow = k * b.cols;
      const oRow = i * b.cols;
      for (let j = 0; j < b.cols; j++) out.data[oRow + j] += aik * b.data[bRow + j];
    }
  }
  return out;
}

export function naiveTranspose(a: Matrix): Matrix {
  const out = zeros(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[j * a.rows + i] = a.data[i * a.cols + j];
  return out;
}

export function naiveGram(a: Matrix): Matrix {
  return naiveMultiply(naiveTranspose(a), a);
}

/** Unblocked Cholesky factor of the lower triangle of A + λI, or null where a pivot is not positive. */
export function naiveCholesky(a: Matrix, lambda = 0): Matrix | null {
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

/** (A + λI) X = B, λ = ridge · mean(diag A), the ridge growing a hundredfold until Cholesky succeeds. */
export function naiveSolveSymmetric(a: Matrix, b: Matrix, ridge = 1e-9): Matrix {
  const n = a.rows;
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a.data[i * n + i];
  meanDiag = n > 0 ? meanDiag / n : 0;
  let lambda = ridge * meanDiag;
  if (!(lambda > 0)) lambda = ridge;
  for (;;) {
    const l = naiveCholesky(a, lambda);
    if (l) return naiveCholeskySolve(l, b);
    lambda *= 100;
  }
}

/** The ridge λ at which naiveSolveSymmetric's factorisation succeeds. */
export function naiveSolveRidge(a: Matrix, ridge = 1e-9): number {
  const n = a.rows;
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a.data[i * n + i];
  let lambda = ridge * (n > 0 ? meanDiag / n : 0);
  if (!(lambda > 0)) lambda = ridge;
  while (!naiveCholesky(a, lambda)) lambda *= 100;
  return lambda;
}

export function naiveCholeskySolve(l: Matrix, b: Matrix): Matrix {
  const n = l.rows;
  const m = b.cols;
  const x = Float64Array.from(b.data);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const lik = l.data[i * n + k];
      if (lik === 0) continue;
      for (let c = 0; c < m; c++) x[i * m + c] -= lik * x[k * m + c];
    }
    const lii = l.data[i * n + i];
    for (let c = 0; c < m; c++) x[i * m + c] /= lii;
  }
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

/** Unblocked pivoted Cholesky: the pivots (ties to the lowest index), |R[j,j]|, residual traces and rank. */
export function naivePivotedCholesky(
  g: Matrix,
  relTol = 1e-12,
): { order: number[]; diagonal: Float64Array; residual: Float64Array; rank: number } {
  const n = g.rows;
  const d = new Float64Array(n);
  let maxDiag = 0;
  for (let i = 0; i < n; i++) {
    d[i] = g.data[i * n + i];
    maxDiag = Math.max(maxDiag, d[i]);
  }
  const threshold = relTol * maxDiag;
  let remaining = Array.from({ length: n }, (_, i) => i);
  const order: number[] = [];
  const diagonal = new Float64Array(n);
  const residual = new Float64Array(n + 1);
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
  return { order, diagonal, residual, rank: n };
}
