import { blockOf, choleskyLower, solveLower, solveLowerTransposed } from './kernels.ts';
import type { Matrix } from './matrix.ts';

/**
 * Solves (A + λI) X = B for symmetric positive semi-definite A, λ = ridge · mean(diag A).
 * The small relative ridge keeps rank-deficient systems (dead or duplicated channels) solvable
 * while leaving well-conditioned ones essentially unchanged: where the Cholesky factorisation
 * fails, λ grows a hundredfold and it is tried again. Only the lower triangle of A is read.
 */
export function solveSymmetric(a: Matrix, b: Matrix, ridge = 1e-9): Matrix {
  const n = a.rows;
  if (a.cols !== n || b.rows !== n) throw new Error('solveSymmetric: shape mismatch');
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a.data[i * n + i];
  meanDiag = n > 0 ? meanDiag / n : 0;
  let lambda = ridge * meanDiag;
  if (!(lambda > 0)) lambda = ridge;
  const factor = new Float64Array(n * n);
  for (;;) {
    if (cholesky(a, lambda, factor)) return choleskySolve(factor, b);
    // A ridge of 0 or ∞ cannot grow (with ∞ only NaN entries fail): give up rather than loop forever.
    if (!(lambda * 100 > lambda)) throw new Error(`solveSymmetric: not positive definite with ridge λ = ${lambda}`);
    lambda *= 100;
  }
}

/** L with L Lᵀ = A + λI into the lower triangle of `factor`, or false where A + λI is not positive definite. */
function cholesky(a: Matrix, lambda: number, factor: Float64Array): boolean {
  const n = a.rows;
  factor.set(a.data);
  for (let i = 0; i < n; i++) factor[i * n + i] += lambda;
  return choleskyLower(n, blockOf(factor, n));
}

/** X = L⁻ᵀ L⁻¹ B. */
function choleskySolve(factor: Float64Array, b: Matrix): Matrix {
  const n = b.rows;
  const m = b.cols;
  const x = Float64Array.from(b.data);
  solveLower(n, m, blockOf(factor, n), blockOf(x, m));
  solveLowerTransposed(n, m, blockOf(factor, n), blockOf(x, m));
  return { rows: n, cols: m, data: x };
}
