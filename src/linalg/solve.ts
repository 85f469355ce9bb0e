import { blockOf, choleskyLower, solveLower, solveLowerTransposed } from './kernels.ts';
import type { Matrix } from './matrix.ts';
import type { MatrixProducts } from './products.ts';
import { choleskyWith, solveLowerTransposedWith, solveLowerWith } from './blocked-cholesky.ts';

/**
 * Solves (A + λI) X = B for symmetric positive semi-definite A, λ = ridge · mean(diag A).
 * The small relative ridge keeps rank-deficient systems (dead or duplicated channels) solvable
 * while leaving well-conditioned ones essentially unchanged: where the Cholesky factorisation
 * fails, λ grows a hundredfold and it is tried again. Only the lower triangle of A is read.
 */
export function solveSymmetric(a: Matrix, b: Matrix, ridge = 1e-9): Matrix {
  const n = a.rows;
  if (a.cols !== n || b.rows !== n) throw new Error('solveSymmetric: shape mismatch');
  const factor = new Float64Array(n * n);
  for (let lambda = initialRidge(a, ridge); ; lambda = grownRidge(lambda)) {
    if (cholesky(a, lambda, factor)) return choleskySolve(factor, b);
  }
}

/** solveSymmetric with the large products run by `products` (see blocked-cholesky.ts). */
export async function solveSymmetricWith(
  products: MatrixProducts,
  a: Matrix,
  b: Matrix,
  ridge = 1e-9,
): Promise<Matrix> {
  const n = a.rows;
  if (a.cols !== n || b.rows !== n) throw new Error('solveSymmetric: shape mismatch');
  // Below this size the products are too small to be worth handing over.
  if (n <= 256) return solveSymmetric(a, b, ridge);
  for (let lambda = initialRidge(a, ridge); ; lambda = grownRidge(lambda)) {
    const factor = await choleskyWith(products, a, lambda);
    if (factor) return solveLowerTransposedWith(products, factor, await solveLowerWith(products, factor, b));
  }
}

/** λ = ridge · mean(diag A), or the ridge itself where that is not positive. */
function initialRidge(a: Matrix, ridge: number): number {
  const n = a.rows;
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a.data[i * n + i];
  meanDiag = n > 0 ? meanDiag / n : 0;
  const lambda = ridge * meanDiag;
  return lambda > 0 ? lambda : ridge;
}

function grownRidge(lambda: number): number {
  // A ridge of 0 or ∞ cannot grow (with ∞ only NaN entries fail): give up rather than loop forever.
  if (!(lambda * 100 > lambda)) throw new Error(`solveSymmetric: not positive definite with ridge λ = ${lambda}`);
  return lambda * 100;
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
