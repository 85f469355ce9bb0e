import { IdpruneError } from '../errors.ts';
import { type ElementType, typedArray } from '../onnx/runtime.ts';

/** NumPy dtypes read here: the same names as the runtime's element types. */
export type NpyDtype = ElementType;

/** An n-dimensional array read from a .npy file; data is a typed array over its own buffer. */
export interface NdArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array | Uint16Array | Uint8Array | BigInt64Array | Int32Array;
}

/**
 * Rows of an array along its first (sample) axis, read on demand: a .npy file is read a batch at a
 * time, so memory does not grow with the number of samples.
 */
export interface ArraySource {
  dtype: NpyDtype;
  shape: number[];
  /** Samples [start, start + count), as a typed array of their values. */
  rows(start: number, count: number): NdArray['data'];
}

export function arraySource(array: NdArray): ArraySource {
  const perSample = array.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    dtype: array.dtype,
    shape: array.shape,
    rows: (start, count) => array.data.subarray(start * perSample, (start + count) * perSample),
  };
}

export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  bytesPerValue: number;
  dataOffset: number;
}

const DESCRIPTORS: Record<string, { dtype: NpyDtype; bytes: number }> = {
  '<f4': { dtype: 'float32', bytes: 4 },
  '<f8': { dtype: 'float64', bytes: 8 },
  '<f2': { dtype: 'float16', bytes: 2 },
  '|u1': { dtype: 'uint8', bytes: 1 },
  '<u1': { dtype: 'uint8', bytes: 1 },
  '|b1': { dtype: 'bool', bytes: 1 },
  '<i8': { dtype: 'int64', bytes: 8 },
  '<i4': { dtype: 'int32', bytes: 4 },
};

/** Parses a .npy header (format 1.0–3.0, little-endian, C order) from the file's first bytes. */
export function parseNpyHeader(bytes: Uint8Array, source: string): NpyHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new IdpruneError(`${source} is not a .npy file`);
  const major = bytes[6];
  if (major < 1 || major > 3) throw new IdpruneError(`${source}: unsupported .npy format version ${major}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart + headerLength) throw new IdpruneError(`${source}: truncated .npy header`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new IdpruneError(`${source}: malformed .npy header`);
  const kind = DESCRIPTORS[descr];
  if (!kind)
    throw new IdpruneError(
      `${source}: unsupported dtype ${descr} ` +
        '(supported: float32, float64, float16, uint8, int64, int32, bool; little-endian)',
    );
  if (fortran === 'True')
    throw new IdpruneError(`${source}: array is in Fortran order; save it in C order (np.ascontiguousarray)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw new IdpruneError(`${source}: .npy shape (${shapeText.trim()}) is not a list of non-negative integers`);
  if (!Number.isSafeInteger(shape.reduce((a, b) => a * b, kind.bytes)))
    throw new IdpruneError(`${source}: .npy shape (${shapeText.trim()}) is too large to address`);
  return { dtype: kind.dtype, shape, bytesPerValue: kind.bytes, dataOffset: headerStart + headerLength };
}

/** Typed values over a copy of `bytes` (aligned, owning its buffer). */
export function typedValues(dtype: NpyDtype, bytes: Uint8Array): NdArray['data'] {
  // A Node Buffer's slice() would be a view into a shared pool: copy into a fresh buffer.
  return typedArray(dtype, new Uint8Array(bytes).buffer);
}

/** Parses a whole NumPy .npy file held in memory. */
export function parseNpy(bytes: Uint8Array, source: string): NdArray {
  const header = parseNpyHeader(bytes, source);
  const byteLength = header.shape.reduce((a, b) => a * b, 1) * header.bytesPerValue;
  const available = bytes.length - header.dataOffset;
  if (available < byteLength)
    throw new IdpruneError(`${source}: file is truncated (${available} of ${byteLength} data bytes)`);
  const data = typedValues(header.dtype, bytes.subarray(header.dataOffset, header.dataOffset + byteLength));
  return { dtype: header.dtype, shape: header.shape, data };
}

/** Serialises an array as .npy (version 1.0). */
export function toNpy(array: NdArray): Uint8Array {
  const descr = Object.entries(DESCRIPTORS).find(([, v]) => v.dtype === array.dtype)![0];
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const body = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}
