import { type Dataset, makeDataset } from '../calibrate/dataset.ts';
import type { NdArray, NpyDtype } from '../data/npy.ts';
import { readData, readLabels } from '../io/files.ts';
import type { ReadOptions } from '../data/read-options.ts';
import type { Progress } from '../progress.ts';
import { IdpruneError } from '../errors.ts';
import type { InputSpec } from '../onnx/shapes.ts';

/** An array in memory: values in C order, the samples along the first axis, as in a .npy file. */
export interface ArrayData {
  data: Float32Array | Float64Array | Uint16Array | Uint8Array | Int32Array | BigInt64Array;
  shape: number[];
  /**
   * The values' type, where the typed array leaves a choice: a Uint8Array holds 'uint8' (default)
   * or 'bool'; a Uint16Array always holds 'float16' bits.
   */
  dtype?: NpyDtype;
}

/**
 * Samples for a model's inputs: the path of a .npy file (a one-input model), of an .npz archive or
 * of a folder of `<input name>.npy` files; of a folder or glob of images or .wav files, or of a
 * .txt / .jsonl file of texts (decoded as ReadOptions say); or arrays in memory, one for a
 * one-input model or one per input name.
 */
export type DataSource = string | ArrayData | Record<string, ArrayData>;

/** Class labels, one per sample: a .npy file of integers, or the labels themselves. */
export type LabelsSource = string | ArrayLike<number | bigint>;

const DTYPES: [new (n: number) => ArrayData['data'], NpyDtype[]][] = [
  [Float32Array, ['float32']],
  [Float64Array, ['float64']],
  [Uint16Array, ['float16']],
  [Uint8Array, ['uint8', 'bool']],
  [Int32Array, ['int32']],
  [BigInt64Array, ['int64']],
];

const isArrayData = (x: unknown): x is ArrayData =>
  typeof x === 'object' &&
  x !== null &&
  ArrayBuffer.isView((x as ArrayData).data) &&
  Array.isArray((x as ArrayData).shape);

function toNdArray(array: ArrayData, where: string): NdArray {
  const dtypes = DTYPES.find(([type]) => array.data instanceof type)?.[1];
  if (!dtypes)
    throw new IdpruneError(
      `${where}: data is a ${array.data.constructor.name}, not one of the typed arrays idprune reads`,
    );
  const dtype = array.dtype ?? dtypes[0];
  if (!dtypes.includes(dtype))
    throw new IdpruneError(`${where}: dtype ${dtype} does not match its ${array.data.constructor.name}`);
  if (!array.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new IdpruneError(`${where}: shape [${array.shape.join(', ')}] is not a list of sizes`);
  const size = array.shape.reduce((a, b) => a * b, 1);
  if (size !== array.data.length)
    throw new IdpruneError(`${where}: ${array.data.length} values for shape [${array.shape.join(', ')}] (${size})`);
  return { dtype, shape: array.shape, data: array.data };
}

/** The samples for a model with these inputs, checked against them (see makeDataset). */
export async function loadData(
  source: DataSource,
  inputs: readonly InputSpec[],
  what: string,
  read: ReadOptions = {},
  progress?: Progress,
): Promise<Dataset> {
  if (typeof source === 'string')
    return makeDataset(await readData(source, inputs, read, what, progress), inputs, source);
  const where = `${what} in memory`;
  if (isArrayData(source)) return makeDataset(new Map([['array', toNdArray(source, where)]]), inputs, where);
  if (typeof source !== 'object' || source === null)
    throw new IdpruneError(`${what} must be a path, an array or a record of arrays by input name`);
  const arrays = Object.entries(source).map(([name, array]): [string, NdArray] => {
    if (!isArrayData(array)) throw new IdpruneError(`${where}: "${name}" is not an array ({ data, shape })`);
    return [name, toNdArray(array, `${where}: "${name}"`)];
  });
  return makeDataset(new Map(arrays), inputs, where);
}

/** Labels from a .npy file, or as given. */
export function loadLabels(source: LabelsSource): ArrayLike<number | bigint> {
  return typeof source === 'string' ? readLabels(source) : source;
}
