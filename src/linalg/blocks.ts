import { type Matrix, transpose, zeros } from './matrix.ts';
import type { MatrixProducts } from './products.ts';

/* Pieces of row-major arrays copied out for products, and the products' results written back. */

/** Rows [r0, r1) and columns [c0, c1) of the row-major n-column array s, as a matrix of their own. */
export function copyOut(s: Float64Array, n: number, r0: number, r1: number, c0: number, c1: number): Matrix {
  const out = zeros(r1 - r0, c1 - c0);
  for (let i = r0; i < r1; i++) out.data.set(s.subarray(i * n + c0, i * n + c1), (i - r0) * out.cols);
  return out;
}

/** Writes m into the row-major n-column array s at (r0, c0). */
export function copyIn(s: Float64Array, n: number, m: Matrix, r0: number, c0: number): void {
  for (let i = 0; i < m.rows; i++) s.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), (r0 + i) * n + c0);
}

/** Rows of the trailing matrix per product of its update: each band is multiplied up to its last column only. */
const BAND = 512;

/**
 * The lower triangle of the trailing matrix s[k1:, k1:] −= P Pᵀ (P: its rows of the panel), by
 * bands of rows, each against the columns up to its own last: about half the products of the
 * whole square.
 */
export async function subtractLowerProduct(
  products: MatrixProducts,
  s: Float64Array,
  n: number,
  k1: number,
  panel: Matrix,
): Promise<void> {
  const m = panel.rows;
  const panelT = transpose(panel);
  for (let r0 = 0; r0 < m; r0 += BAND) {
    const r1 = Math.min(m, r0 + BAND);
    const rows = { rows: r1 - r0, cols: panel.cols, data: panel.data.subarray(r0 * panel.cols, r1 * panel.cols) };
    const update = await products.multiply(rows, copyOut(panelT.data, m, 0, panelT.rows, 0, r1));
    for (let i = r0; i < r1; i++) {
      const row = (k1 + i) * n + k1;
      const from = (i - r0) * r1;
      for (let j = 0; j <= i; j++) s[row + j] -= update.data[from + j];
    }
  }
}
