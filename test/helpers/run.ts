import type { ModelProto } from 'onnx-buf';
import { floatToHalf, halfToFloat } from '../../src/onnx/float16.ts';
import { encodeModel } from '../../src/onnx/model.ts';
import { nodeRuntime } from '../../src/onnx/runtime-node.ts';
import type { NdArray } from '../../src/data/npy.ts';
import { randomArray } from './models.ts';

export function floatData(shape: number[], seed: number, scale = 1): NdArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from(randomArray(n, seed, scale)) };
}

export function halfData(shape: number[], seed: number): NdArray {
  const f = floatData(shape, seed);
  return { dtype: 'float16', shape, data: Uint16Array.from(f.data as Float32Array, floatToHalf) };
}

export interface RunResult {
  dims: number[];
  data: Float64Array;
  inputNames: readonly string[];
  outputNames: readonly string[];
}

/** Runs a model on one float input (float32 or float16 data) and returns its first output as float64. */
export async function run(model: ModelProto | Uint8Array, input: string, data: NdArray): Promise<RunResult> {
  const session = await nodeRuntime.load(model instanceof Uint8Array ? model : encodeModel(model));
  try {
    const type = data.dtype === 'float16' ? 'float16' : 'float32';
    const out = await session.run({ [input]: { type, dims: data.shape, data: data.data as Float32Array } });
    const first = out[session.outputNames[0]];
    const values =
      first.type === 'float16'
        ? Float64Array.from(first.data as Uint16Array, halfToFloat)
        : Float64Array.from(first.data as Float32Array);
    return { dims: first.dims, data: values, outputNames: session.outputNames, inputNames: session.inputNames };
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
