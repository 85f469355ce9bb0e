import { blockOf, gemm, gramInto, transposeInto } from './kernels.ts';

/** A dense row-major float64 matrix. Small matrices only: channel counts, not samples. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function zeros(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

export function identity(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function fromRows(rows: number[][]): Matrix {
  const m = zeros(rows.length, rows[0]?.length ?? 0);
  rows.forEach((row, i) => {
    row.forEach((v, j) => {
      m.data[i * m.cols + j] = v;
    });
  });
  return m;
}

export function get(m: Matrix, i: number, j: number): number {
  return m.data[i * m.cols + j];
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new Error(`multiply: ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
  const out = zeros(a.rows, b.cols);
  gemm(a.rows, b.cols, a.cols, 1, blockOf(a.data, a.cols), false, blockOf(b.data, b.cols), blockOf(out.data, b.cols));
  return out;
}

export function transpose(a: Matrix): Matrix {
  const out = zeros(a.cols, a.rows);
  transposeInto(a.rows, a.cols, blockOf(a.data, a.cols), blockOf(out.data, a.rows));
  return out;
}

/** The Gram matrix AᵀA (exactly symmetric). */
export function gram(a: Matrix): Matrix {
  const out = zeros(a.cols, a.cols);
  gramInto(a.rows, a.cols, blockOf(a.data, a.cols), blockOf(out.data, a.cols));
  return out;
}

/** Rows `rowIdx` and columns `colIdx` of `m`, in that order. */
export function submatrix(m: Matrix, rowIdx: readonly number[], colIdx: readonly number[]): Matrix {
  const out = zeros(rowIdx.length, colIdx.length);
  rowIdx.forEach((r, i) => {
    colIdx.forEach((c, j) => {
      out.data[i * out.cols + j] = m.data[r * m.cols + c];
    });
  });
  return out;
}

export function trace(m: Matrix): number {
  let t = 0;
  for (let i = 0; i < Math.min(m.rows, m.cols); i++) t += m.data[i * m.cols + i];
  return t;
}

export function addInPlace(target: Matrix, source: Matrix, scale = 1): void {
  if (target.rows !== source.rows || target.cols !== source.cols) throw new Error('addInPlace: shape mismatch');
  for (let i = 0; i < target.data.length; i++) target.data[i] += scale * source.data[i];
}
