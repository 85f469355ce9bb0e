import { type Matrix, submatrix, zeros } from '../linalg/matrix.ts';
import { javascriptProducts, type MatrixProducts } from '../linalg/products.ts';
import { solveSymmetricWith } from '../linalg/solve.ts';

/**
 * The interpolation matrix T (k × C) with Z ≈ Z[:, keep] · T, from the Gram matrix G = ZᵀZ:
 * T[:, keep] = I and T[:, rest] = G[keep, keep]⁻¹ G[keep, rest] (the least-squares optimum).
 */
export async function interpolationMatrix(
  gram: Matrix,
  keep: readonly number[],
  products: MatrixProducts = javascriptProducts,
): Promise<Matrix> {
  const n = gram.rows;
  const kept = new Set(keep);
  const rest = Array.from({ length: n }, (_, c) => c).filter((c) => !kept.has(c));
  const t = zeros(keep.length, n);
  keep.forEach((c, i) => {
    t.data[i * n + c] = 1;
  });
  if (rest.length === 0) return t;
  const solved = await solveSymmetricWith(products, submatrix(gram, keep, keep), submatrix(gram, keep, rest));
  for (let i = 0; i < keep.length; i++) {
    rest.forEach((c, j) => {
      t.data[i * n + c] = solved.data[i * rest.length + j];
    });
  }
  return t;
}

/** T that keeps the chosen channels and drops the rest: no correction at all. */
export function selectionMatrix(channels: number, keep: readonly number[]): Matrix {
  const t = zeros(keep.length, channels);
  keep.forEach((c, i) => {
    t.data[i * channels + c] = 1;
  });
  return t;
}
