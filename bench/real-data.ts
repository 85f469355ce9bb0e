// Feeds of one sample at a time, built by the benchmark itself so that held-out evaluation works
// for every corpus model whatever the library's data conventions accept. Data arrays hold samples
// first; a model input's sample axis is its first axis that is free or 1 (a recurrent state
// [layers, batch, width] has it second), and a scalar input (Silero's sr) takes one value.
import type { ArraySource } from '../src/data/npy.ts';
import { halfToFloat } from '../src/onnx/float16.ts';
import type { Feeds, HostTensor } from '../src/onnx/runtime.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';

export interface SampleSet {
  count: number;
  feeds(index: number): Feeds;
}

function sampleAxis(input: InputSpec): number | null {
  if (input.dims.length === 0) return null;
  const axis = input.dims.findIndex((d) => d === null || d === 1);
  return Math.max(axis, 0);
}

function toHost(array: ArraySource, index: number, input: InputSpec, dims: number[]): HostTensor {
  const values = array.rows(index, 1);
  if (array.dtype === input.type) return { type: input.type, dims, data: values.slice() };
  if (input.type === 'float32') {
    const data = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++)
      data[i] = array.dtype === 'float16' ? halfToFloat(values[i] as number) : Number(values[i]);
    return { type: 'float32', dims, data };
  }
  if (input.type === 'int64')
    return { type: 'int64', dims, data: BigInt64Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v)) };
  throw new Error(`input "${input.name}": cannot feed ${array.dtype} data to a ${input.type} input`);
}

/** Samples [0, limit) of `arrays` as single-sample feeds for the model's inputs. */
export function sampleSet(arrays: Map<string, ArraySource>, inputs: readonly InputSpec[], limit = Infinity): SampleSet {
  const missing = inputs.filter((i) => !arrays.has(i.name)).map((i) => i.name);
  if (missing.length > 0)
    throw new Error(`data has no array for input ${missing.join(', ')} (has: ${[...arrays.keys()].join(', ')})`);
  const counts = inputs.filter((i) => sampleAxis(i) !== null).map((i) => arrays.get(i.name)!.shape[0]);
  const count = Math.min(limit, ...counts);
  return {
    count,
    feeds(index) {
      const feeds: Feeds = {};
      for (const input of inputs) {
        const array = arrays.get(input.name)!;
        const axis = sampleAxis(input);
        if (axis === null) {
          feeds[input.name] = toHost(array, 0, input, []);
          continue;
        }
        const rest = array.shape.slice(1);
        feeds[input.name] = toHost(array, index, input, [...rest.slice(0, axis), 1, ...rest.slice(axis)]);
      }
      return feeds;
    },
  };
}

/** Values of an extra array that is not a model input (the recording starts of Silero's held-out data). */
export function column(arrays: Map<string, ArraySource>, name: string, count: number): number[] {
  const array = arrays.get(name);
  if (!array) throw new Error(`data has no array "${name}"`);
  return Array.from(array.rows(0, count) as ArrayLike<number>, Number);
}
