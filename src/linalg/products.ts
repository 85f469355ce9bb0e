import { type Matrix, multiply } from './matrix.ts';

/**
 * Where the large float64 matrix products of the factorisations run. The blocked kernels of
 * kernels.ts reach a few GFLOP/s on one thread; a native BLAS (ONNX Runtime's MatMul) reaches
 * tens on every core. The core takes whichever it is given, so it still runs where only
 * JavaScript does.
 */
export interface MatrixProducts {
  /** A · B. */
  multiply(a: Matrix, b: Matrix): Promise<Matrix>;
}

/** Products by the JavaScript kernels, on the calling thread. */
export const javascriptProducts: MatrixProducts = {
  multiply: async (a, b) => multiply(a, b),
};
