import { clone } from '@bufbuild/protobuf';
import { type TensorProto, TensorProtoSchema, TensorProto_DataLocation, TensorProto_DataType } from 'onnx-buf';
import { IdpruneError } from '../errors.ts';
import { floatToHalf, halfToFloat } from './float16.ts';

/** A float tensor's values in float64, whatever its stored type. */
export interface FloatArray {
  dims: number[];
  data: Float64Array;
}

const FLOAT_TYPES = new Set([
  TensorProto_DataType.FLOAT,
  TensorProto_DataType.FLOAT16,
  TensorProto_DataType.DOUBLE,
  TensorProto_DataType.BFLOAT16,
]);

export function isFloatTensor(t: TensorProto): boolean {
  return FLOAT_TYPES.has(t.dataType);
}

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map(Number);
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function checkStoredInline(t: TensorProto): void {
  if (t.dataLocation === TensorProto_DataLocation.EXTERNAL || t.externalData.length > 0) {
    throw new IdpruneError(
      `tensor "${t.name}" keeps its data in an external file: read it in first (inlineExternalData)`,
    );
  }
}

function rawView(t: TensorProto): DataView {
  // rawData is a view into the file buffer at an arbitrary offset: read through a DataView.
  return new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
}

export function readFloatTensor(t: TensorProto): FloatArray {
  checkStoredInline(t);
  const dims = tensorDims(t);
  const n = elementCount(dims);
  const data = new Float64Array(n);
  const raw = t.rawData.byteLength > 0;
  const view = raw ? rawView(t) : null;
  switch (t.dataType) {
    case TensorProto_DataType.FLOAT:
      for (let i = 0; i < n; i++) data[i] = view ? view.getFloat32(4 * i, true) : t.floatData[i];
      break;
    case TensorProto_DataType.DOUBLE:
      for (let i = 0; i < n; i++) data[i] = view ? view.getFloat64(8 * i, true) : t.doubleData[i];
      break;
    case TensorProto_DataType.FLOAT16:
      for (let i = 0; i < n; i++) data[i] = halfToFloat(view ? view.getUint16(2 * i, true) : t.int32Data[i]);
      break;
    case TensorProto_DataType.BFLOAT16:
      for (let i = 0; i < n; i++) {
        const bits = view ? view.getUint16(2 * i, true) : t.int32Data[i];
        const f = new DataView(new ArrayBuffer(4));
        f.setUint32(0, bits << 16);
        data[i] = f.getFloat32(0);
      }
      break;
    default:
      throw new IdpruneError(
        `tensor "${t.name}" has data type ${TensorProto_DataType[t.dataType]}, expected a float type`,
      );
  }
  const stored = raw ? t.rawData.byteLength : Math.max(t.floatData.length, t.doubleData.length, t.int32Data.length);
  if (n > 0 && stored === 0) throw new IdpruneError(`tensor "${t.name}" has no data`);
  return { dims, data };
}

/** Integer tensor values (shape constants, axes) as numbers. */
export function readIntTensor(t: TensorProto): number[] {
  checkStoredInline(t);
  const n = elementCount(tensorDims(t));
  const raw = t.rawData.byteLength > 0;
  const view = raw ? rawView(t) : null;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (t.dataType === TensorProto_DataType.INT64)
      out.push(Number(view ? view.getBigInt64(8 * i, true) : t.int64Data[i]));
    else if (t.dataType === TensorProto_DataType.INT32) out.push(view ? view.getInt32(4 * i, true) : t.int32Data[i]);
    else
      throw new IdpruneError(
        `tensor "${t.name}" has data type ${TensorProto_DataType[t.dataType]}, expected int64 or int32`,
      );
  }
  return out;
}

/** A copy of `like` (name, type, doc, metadata kept) holding new float values, stored as raw data. */
export function withFloatData(like: TensorProto, dims: readonly number[], data: Float64Array): TensorProto {
  const t = clone(TensorProtoSchema, like);
  const n = data.length;
  if (elementCount(dims) !== n) throw new Error(`withFloatData: ${n} values for dims [${dims}]`);
  let bytes: Uint8Array<ArrayBuffer>;
  switch (like.dataType) {
    case TensorProto_DataType.FLOAT: {
      bytes = new Uint8Array(Float32Array.from(data).buffer);
      break;
    }
    case TensorProto_DataType.DOUBLE:
      bytes = new Uint8Array(Float64Array.from(data).buffer);
      break;
    case TensorProto_DataType.FLOAT16:
      bytes = new Uint8Array(Uint16Array.from(data, floatToHalf).buffer);
      break;
    case TensorProto_DataType.BFLOAT16: {
      const f32 = new Uint32Array(Float32Array.from(data).buffer);
      bytes = new Uint8Array(Uint16Array.from(f32, (bits) => (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16).buffer);
      break;
    }
    default:
      throw new Error(`withFloatData: unsupported type ${like.dataType}`);
  }
  t.dims = dims.map(BigInt);
  t.rawData = bytes;
  t.floatData = [];
  t.doubleData = [];
  t.int32Data = [];
  return t;
}

export function withIntData(like: TensorProto, values: readonly number[]): TensorProto {
  const t = clone(TensorProtoSchema, like);
  if (like.dataType === TensorProto_DataType.INT64) {
    // Values read as numbers lose int64's extremes (Slice's "to the end" is 2^63 − 1): clamp them back.
    const clamp = (v: number) => (v >= 2 ** 63 ? 2n ** 63n - 1n : v <= -(2 ** 63) ? -(2n ** 63n) : BigInt(v));
    t.rawData = new Uint8Array(BigInt64Array.from(values, clamp).buffer);
  } else {
    t.rawData = new Uint8Array(Int32Array.from(values).buffer);
  }
  t.int64Data = [];
  t.int32Data = [];
  return t;
}
