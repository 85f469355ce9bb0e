import { copyIn, copyOut, subtractLowerProduct } from './blocks.ts';
import { at, blockOf, choleskyLower, solveLower } from './kernels.ts';
import { identity, type Matrix, transpose } from './matrix.ts';
import type { MatrixProducts } from './products.ts';

/*
 * Cholesky factorisation and triangular solves by panels of NB columns, all of whose O(n³) work is
 * matrix products run wherever `products` runs them. Each panel's diagonal block is factored and
 * inverted in JavaScript (O(NB³)); the rest of the panel is that inverse applied by a product, and
 * the rest of its column block (COLUMN_BLOCK columns) is updated by one more, the trailing matrix
 * beyond it once per column block. Applying inverted diagonal blocks in place of
 * substitution leaves no O(n² · NB) work in JavaScript; the tests hold the results to those of the
 * substitution to 1e-10.
 */

/**
 * Columns per panel: the products are large enough to run at the native BLAS's speed, and the
 * diagonal blocks' JavaScript work (n · NB² in all) stays small (a 600-wide solve: 58 ms with
 * panels of 256, 36 ms with 128; at 2304 wide the two are even).
 */
const NB = 128;

/**
 * Columns whose diagonal blocks are factored before the trailing matrix to their right is updated,
 * by one product of that inner dimension: ONNX Runtime's float64 MatMul runs 2808 × 512 × 2808 at
 * about 3 times the speed of the rank-128 products of updating after every block, and writes a
 * quarter of their outputs.
 */
const COLUMN_BLOCK = 512;

/** L⁻¹ of the lower triangle of the diagonal block of s (n columns) over [k0, k1). */
function diagonalInverse(s: Float64Array, n: number, k0: number, k1: number): Matrix {
  const size = k1 - k0;
  const inverse = identity(size);
  solveLower(size, size, at(blockOf(s, n), k0, k0), blockOf(inverse.data, size));
  return inverse;
}

/** A Cholesky factor with the inverses of its diagonal blocks, which the solves apply. */
export interface CholeskyFactor {
  /** Lower triangular, zero above the diagonal. */
  l: Matrix;
  /** L⁻¹ of each diagonal block of NB rows (the last may be smaller). */
  blockInverses: Matrix[];
}

/**
 * L with L Lᵀ = A + shift · I, reading A's lower triangle; undefined where that is not positive
 * definite.
 */
export async function choleskyWith(
  products: MatrixProducts,
  a: Matrix,
  shift = 0,
): Promise<CholeskyFactor | undefined> {
  const n = a.rows;
  const s = a.data.slice();
  for (let i = 0; i < n; i++) s[i * n + i] += shift;
  const blockInverses: Matrix[] = [];
  for (let c0 = 0; c0 < n; c0 += COLUMN_BLOCK) {
    const c1 = Math.min(n, c0 + COLUMN_BLOCK);
    for (let k0 = c0; k0 < c1; k0 += NB) {
      const k1 = Math.min(c1, k0 + NB);
      if (!choleskyLower(k1 - k0, at(blockOf(s, n), k0, k0))) return undefined;
      blockInverses.push(diagonalInverse(s, n, k0, k1));
      if (k1 === n) break;
      // The panel below the diagonal block: L21 = A21 L11⁻ᵀ.
      const panel = await products.multiply(
        copyOut(s, n, k1, n, k0, k1),
        transpose(blockInverses[blockInverses.length - 1]),
      );
      copyIn(s, n, panel, k1, k0);
      // Within the column block only; the rest of the trailing matrix is updated once per column block.
      if (k1 < c1) await subtractColumnsProduct(products, s, n, k1, c1, panel);
    }
    if (c1 < n) await subtractLowerProduct(products, s, n, c1, copyOut(s, n, c1, n, c0, c1));
  }
  for (let i = 0; i < n; i++) s.fill(0, i * n + i + 1, (i + 1) * n);
  return { l: { rows: n, cols: n, data: s }, blockInverses };
}

/**
 * s[k1:, k1:c1] −= P P[0:c1−k1]ᵀ on and below the diagonal, P the panel's rows from k1 on: the
 * update of the rest of a column block.
 */
async function subtractColumnsProduct(
  products: MatrixProducts,
  s: Float64Array,
  n: number,
  k1: number,
  c1: number,
  panel: Matrix,
): Promise<void> {
  const width = c1 - k1;
  const update = await products.multiply(
    panel,
    transpose({ rows: width, cols: panel.cols, data: panel.data.subarray(0, width * panel.cols) }),
  );
  for (let i = 0; i < update.rows; i++) {
    const row = (k1 + i) * n + k1;
    for (let j = 0; j < Math.min(width, i + 1); j++) s[row + j] -= update.data[i * width + j];
  }
}

/** Y with L Y = B. */
export async function solveLowerWith(
  products: MatrixProducts,
  { l, blockInverses }: CholeskyFactor,
  b: Matrix,
): Promise<Matrix> {
  const n = l.rows;
  const y = { ...b, data: b.data.slice() };
  for (let k0 = 0, k = 0; k0 < n; k0 += NB, k++) {
    const k1 = Math.min(n, k0 + NB);
    let rhs = copyOut(y.data, b.cols, k0, k1, 0, b.cols);
    if (k0 > 0) {
      const known = await products.multiply(
        copyOut(l.data, n, k0, k1, 0, k0),
        copyOut(y.data, b.cols, 0, k0, 0, b.cols),
      );
      for (let i = 0; i < rhs.data.length; i++) rhs.data[i] -= known.data[i];
    }
    rhs = await products.multiply(blockInverses[k], rhs);
    copyIn(y.data, b.cols, rhs, k0, 0);
  }
  return y;
}

/** X with Lᵀ X = B. */
export async function solveLowerTransposedWith(
  products: MatrixProducts,
  { l, blockInverses }: CholeskyFactor,
  b: Matrix,
): Promise<Matrix> {
  const n = l.rows;
  const x = { ...b, data: b.data.slice() };
  for (let k = blockInverses.length - 1; k >= 0; k--) {
    const k0 = k * NB;
    const k1 = Math.min(n, k0 + NB);
    let rhs = copyOut(x.data, b.cols, k0, k1, 0, b.cols);
    if (k1 < n) {
      const known = await products.multiply(
        transpose(copyOut(l.data, n, k1, n, k0, k1)),
        copyOut(x.data, b.cols, k1, n, 0, b.cols),
      );
      for (let i = 0; i < rhs.data.length; i++) rhs.data[i] -= known.data[i];
    }
    rhs = await products.multiply(transpose(blockInverses[k]), rhs);
    copyIn(x.data, b.cols, rhs, k0, 0);
  }
  return x;
}
