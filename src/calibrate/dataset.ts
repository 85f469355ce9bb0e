import { IdpruneError } from '../errors.ts';
import { floatToHalf, halfToFloat } from '../onnx/float16.ts';
import { type ElementType, type Feeds, type HostTensor, typedArray } from '../onnx/runtime.ts';
import { batchAxis, type InputSpec } from '../onnx/shapes.ts';
import { MAX_INPUT_MAGNITUDE } from '../data/decoded-array.ts';
import { type ArraySource, arraySource, type NdArray } from '../data/npy.ts';
import { decoderDefaults } from './decoder-inputs.ts';

/** Samples for every model input, checked against the model: same count, matching shapes and types. */
export interface Dataset {
  source: string;
  count: number;
  arrays: Record<string, ArraySource>;
  inputs: readonly InputSpec[];
}

const FLOAT_INPUTS: ElementType[] = ['float32', 'float16', 'float64'];
const ACCEPTS: Record<string, NdArray['dtype'][]> = {
  float: ['float32', 'float64', 'float16', 'uint8'],
  int: ['int64', 'int32', 'uint8'],
  bool: ['bool', 'uint8'],
};

function acceptedFor(type: ElementType): NdArray['dtype'][] {
  if (FLOAT_INPUTS.includes(type)) return ACCEPTS.float;
  if (type === 'bool') return ACCEPTS.bool;
  return ACCEPTS.int;
}

/**
 * Matches arrays to model inputs. A single unnamed array (a plain .npy file) feeds a model with one input.
 */
export function makeDataset(
  arrays: Map<string, NdArray | ArraySource>,
  inputs: readonly InputSpec[],
  source: string,
): Dataset {
  const matched: Record<string, ArraySource> = {};
  const asSource = (a: NdArray | ArraySource) => ('data' in a ? arraySource(a) : a);
  if (inputs.length === 1 && arrays.size === 1) {
    matched[inputs[0].name] = asSource([...arrays.values()][0]);
  } else {
    const given = new Map([...arrays].map(([name, array]) => [name, asSource(array)]));
    const defaults = decoderDefaults(inputs, given);
    for (const input of inputs) {
      const array = given.get(input.name) ?? defaults.get(input.name);
      if (!array)
        throw new IdpruneError(
          `${source}: no array for model input "${input.name}" (found: ${[...arrays.keys()].join(', ') || 'none'})`,
        );
      matched[input.name] = array;
    }
  }
  let count = -1;
  for (const input of inputs) {
    const array = matched[input.name];
    const where = `${source}: input "${input.name}"`;
    if (!acceptedFor(input.type).includes(array.dtype)) {
      throw new IdpruneError(`${where} has data type ${array.dtype}, but the model expects ${input.type}`);
    }
    checkValues(array, where);
    if (batchAxis(input) === null) {
      checkShared(array, where);
      continue;
    }
    const dims = samplesFirst(input);
    const expected = `[${dims.map((d) => d ?? '?').join(', ')}]`;
    const order =
      batchAxis(input) === 0 ? 'batch axis first' : `samples first; the model's axis ${batchAxis(input)} counts them`;
    if (array.shape.length !== dims.length) {
      throw new IdpruneError(
        `${where} has shape [${array.shape.join(', ')}], but the model expects ${expected} (${order})`,
      );
    }
    dims.forEach((d, axis) => {
      if (axis > 0 && d !== null && array.shape[axis] !== d) {
        throw new IdpruneError(
          `${where} has shape [${array.shape.join(', ')}], but the model expects ${expected} (axis ${axis} differs)`,
        );
      }
    });
    if (count >= 0 && array.shape[0] !== count)
      throw new IdpruneError(`${source}: inputs have different sample counts (${count} and ${array.shape[0]})`);
    count = array.shape[0];
  }
  if (count <= 0) throw new IdpruneError(`${source}: no samples`);
  return { source, count, arrays: matched, inputs };
}

/** An input's dims as data holds them: the axis counting samples first. */
function samplesFirst(input: InputSpec): (number | null)[] {
  const axis = batchAxis(input) ?? 0;
  return [input.dims[axis], ...input.dims.filter((_, i) => i !== axis)];
}

/** A scalar input takes one value for every sample: given once (shape []) or per sample, all equal. */
function checkShared(array: ArraySource, where: string): void {
  if (array.shape.length > 1)
    throw new IdpruneError(
      `${where} has shape [${array.shape.join(', ')}], but the model expects a scalar (one value, or one per sample)`,
    );
  const values = array.rows(0, array.shape[0] ?? 1);
  for (let i = 1; i < values.length; i++) {
    if (values[i] !== values[0])
      throw new IdpruneError(`${where} is a scalar input of the model, but its values differ between samples`);
  }
}

/** Scans float data for NaN, infinity and values beyond MAX_INPUT_MAGNITUDE, a chunk of samples at a time. */
function checkValues(array: ArraySource, where: string): void {
  if (!['float32', 'float64', 'float16'].includes(array.dtype)) return;
  const perSample = array.shape.slice(1).reduce((a, b) => a * b, 1);
  const half = array.dtype === 'float16';
  const chunk = Math.max(1, Math.floor(2 ** 20 / Math.max(1, perSample)));
  for (let start = 0; start < array.shape[0]; start += chunk) {
    const data = array.rows(start, Math.min(chunk, array.shape[0] - start)) as
      | Float32Array
      | Float64Array
      | Uint16Array;
    for (let i = 0; i < data.length; i++) {
      const v = half ? halfToFloat(data[i]) : data[i];
      if (!(Math.abs(v) <= MAX_INPUT_MAGNITUDE)) {
        const what = Number.isNaN(v)
          ? 'NaN'
          : Number.isFinite(v)
            ? `${v.toPrecision(3)}, beyond ±${MAX_INPUT_MAGNITUDE.toExponential()}`
            : 'infinity';
        throw new IdpruneError(`${where} contains ${what} (sample ${start + Math.floor(i / perSample)})`);
      }
    }
  }
}

/** The batch size to run: the model's fixed batch dimension if it has one, else the requested size. */
export function batchSizeFor(inputs: readonly InputSpec[], requested: number): number {
  return fixedBatch(inputs) ?? requested;
}

function fixedBatch(inputs: readonly InputSpec[]): number | undefined {
  for (const input of inputs) {
    const axis = batchAxis(input);
    if (axis !== null && input.dims[axis] !== null) return input.dims[axis]!;
  }
  return undefined;
}

/** The number of samples in a batch of feeds. */
export function batchOf(feeds: Feeds, inputs: readonly InputSpec[]): number {
  const input = inputs.find((i) => batchAxis(i) !== null)!;
  return feeds[input.name].dims[batchAxis(input)!];
}

/** Number of samples used: with a fixed batch size, an incomplete last batch is left out. */
export function usableCount(dataset: Dataset, inputs: readonly InputSpec[], batchSize: number): number {
  const fixed = fixedBatch(inputs) !== undefined;
  return fixed ? dataset.count - (dataset.count % batchSize) : dataset.count;
}

/** Feeds for samples [start, start + size), converted to the model's input types. */
export function sliceFeeds(dataset: Dataset, inputs: readonly InputSpec[], start: number, size: number): Feeds {
  const feeds: Feeds = {};
  for (const input of inputs) {
    const array = dataset.arrays[input.name];
    const axis = batchAxis(input);
    if (axis === null) {
      feeds[input.name] = convert(array.dtype, array.rows(0, 1).slice(0, 1), input.type, []);
      continue;
    }
    const rest = array.shape.slice(1);
    const data = array.rows(start, size);
    feeds[input.name] = convert(array.dtype, axis === 0 ? data : moveSamples(data, size, rest, axis), input.type, [
      ...rest.slice(0, axis),
      size,
      ...rest.slice(axis),
    ]);
  }
  return feeds;
}

/** Data [samples, …rest] laid out with the samples on `axis` of the model's input. */
function moveSamples(data: NdArray['data'], samples: number, rest: number[], axis: number): NdArray['data'] {
  const outer = rest.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = rest.slice(axis).reduce((a, b) => a * b, 1);
  const out = new (data.constructor as new (n: number) => NdArray['data'])(data.length);
  for (let n = 0; n < samples; n++) {
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) out[(o * samples + n) * inner + i] = data[(n * outer + o) * inner + i];
  }
  return out;
}

/** Refuses data that would not fill one batch of a model with a fixed batch size. */
export function checkFillsBatch(dataset: Dataset, inputs: readonly InputSpec[], batchSize: number): void {
  if (usableCount(dataset, inputs, batchSize) === 0) {
    throw new IdpruneError(
      `${dataset.source}: ${dataset.count} samples, fewer than the model's fixed batch size ${batchSize}`,
    );
  }
}

export function* batches(
  dataset: Dataset,
  inputs: readonly InputSpec[],
  batchSize: number,
  limit = Infinity,
): Generator<Feeds> {
  for (const { start, size } of batchRanges(dataset, inputs, batchSize, limit))
    yield sliceFeeds(dataset, inputs, start, size);
}

/** The samples of each batch `batches` yields, without reading them. */
export function* batchRanges(
  dataset: Dataset,
  inputs: readonly InputSpec[],
  batchSize: number,
  limit = Infinity,
): Generator<{ start: number; size: number }> {
  const count = Math.min(usableCount(dataset, inputs, batchSize), limit);
  for (let start = 0; start < count; start += batchSize) yield { start, size: Math.min(batchSize, count - start) };
}

function convert(dtype: NdArray['dtype'], source: NdArray['data'], type: ElementType, dims: number[]): HostTensor {
  if (dtype === type || (type === 'bool' && dtype === 'uint8')) return { type, dims, data: source.slice() };
  const length = source.length;
  const out = typedArray(type, length);
  const read: (i: number) => number =
    dtype === 'float16' ? (i) => halfToFloat(source[i] as number) : (i) => Number(source[i]);
  if (out instanceof BigInt64Array) for (let i = 0; i < length; i++) out[i] = BigInt(read(i));
  else if (type === 'float16') for (let i = 0; i < length; i++) out[i] = floatToHalf(read(i));
  else for (let i = 0; i < length; i++) out[i] = read(i);
  return { type, dims, data: out };
}

/** One sample's values of one input, changed on the way (see samplesOf). */
export type SampleTransform = (input: InputSpec, position: number, values: NdArray['data']) => NdArray['data'];

/**
 * The samples at `indices` (in that order), as a dataset of their own; samples are read when
 * batches are, each passed through `transform` with its position in the new dataset.
 */
export function samplesOf(dataset: Dataset, indices: readonly number[], transform?: SampleTransform): Dataset {
  for (const i of indices)
    if (!Number.isInteger(i) || i < 0 || i >= dataset.count)
      throw new Error(`samplesOf: sample ${i} outside 0..${dataset.count - 1}`);
  const arrays: Record<string, ArraySource> = {};
  for (const input of dataset.inputs) {
    const array = dataset.arrays[input.name];
    if (batchAxis(input) === null) {
      arrays[input.name] = array;
      continue;
    }
    const perSample = array.shape.slice(1).reduce((a, b) => a * b, 1);
    const rows = (from: number, n: number) => {
      const out = new (array.rows(0, 0).constructor as new (length: number) => NdArray['data'])(n * perSample);
      for (let r = 0; r < n; r++) {
        const values = array.rows(indices[from + r], 1);
        (out as Float32Array).set(
          (transform ? transform(input, from + r, values) : values) as Float32Array,
          r * perSample,
        );
      }
      return out;
    };
    arrays[input.name] = { dtype: array.dtype, shape: [indices.length, ...array.shape.slice(1)], rows };
  }
  return { source: dataset.source, count: indices.length, arrays, inputs: dataset.inputs };
}

/** The shape of each input's data, for probing free dimensions at the size that will be fed. */
export function sampleDims(dataset: Dataset): Record<string, number[]> {
  return Object.fromEntries(
    dataset.inputs.map((input) => {
      const shape = dataset.arrays[input.name].shape;
      const axis = batchAxis(input);
      if (axis === null) return [input.name, []];
      return [input.name, [...shape.slice(1, axis + 1), shape[0], ...shape.slice(axis + 1)]];
    }),
  );
}

/** Feeds of `batch` samples to time a model on: the first samples, repeated where the data has fewer. */
export function timingFeeds(dataset: Dataset, inputs: readonly InputSpec[], batch: number): Feeds {
  const size = batchSizeFor(inputs, batch);
  const indices = Array.from({ length: size }, (_, i) => i % dataset.count);
  return sliceFeeds(samplesOf(dataset, indices), inputs, 0, size);
}
