import { TensorProto_DataType } from 'onnx-buf';
import { type Matrix, multiply } from '../linalg/matrix.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { makeModel, makeNode, valueInfo } from './build.ts';
import { encodeModel } from './model.ts';
import type { InferenceSession, Runtime } from './runtime.ts';

/**
 * Products of at least this many multiply-adds run in the runtime; smaller ones stay in JavaScript,
 * where a call costs less than the runtime's per-run overhead (measured on two cores: 64 × 64 × 64
 * 0.03 ms in the runtime against 0.15 ms in JavaScript, 128 × 128 × 64 0.12 against 0.56 ms; at
 * 32 × 128 × 64 the two are even).
 */
const MIN_RUNTIME_WORK = 64 ** 3;

/**
 * Float64 products by the runtime's MatMul (ONNX Runtime's native one: measured 50–90 GFLOP/s on
 * two cores against 5 for the JavaScript kernels). The session is made on the first large product.
 */
export function runtimeProducts(runtime: Runtime): MatrixProducts & { release(): Promise<void> } {
  let session: Promise<InferenceSession> | undefined;
  return {
    async multiply(a: Matrix, b: Matrix): Promise<Matrix> {
      if (a.cols !== b.rows) throw new Error(`multiply: ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
      if (a.rows * a.cols * b.cols < MIN_RUNTIME_WORK) return multiply(a, b);
      session ??= runtime.load(encodeModel(matMulModel()));
      const result = await (await session).run({
        a: { type: 'float64', dims: [a.rows, a.cols], data: a.data },
        b: { type: 'float64', dims: [b.rows, b.cols], data: b.data },
      });
      return { rows: a.rows, cols: b.cols, data: result.c.data as Float64Array };
    },
    async release() {
      if (session) await (await session).release();
      session = undefined;
    },
  };
}

function matMulModel() {
  const type = TensorProto_DataType.DOUBLE;
  return makeModel({
    nodes: [makeNode('MatMul', ['a', 'b'], ['c'])],
    inputs: [valueInfo('a', type, ['m', 'k']), valueInfo('b', type, ['k', 'n'])],
    outputs: [valueInfo('c', type, ['m', 'n'])],
  });
}
