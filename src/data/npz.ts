import { inflateRawSync } from 'node:zlib';
import { IdpruneError } from '../errors.ts';
import { type NdArray, parseNpy } from './npy.ts';

/** Reads the arrays of a NumPy .npz archive (stored or deflated zip entries), keyed by name without ".npy". */
export function parseNpz(bytes: Uint8Array, source: string): Map<string, NdArray> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 65557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new IdpruneError(`${source} is not a .npz (zip) archive`);
  const entries = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  const arrays = new Map<string, NdArray>();
  for (let e = 0; e < entries; e++) {
    if (view.getUint32(offset, true) !== 0x02014b50) throw new IdpruneError(`${source}: corrupt zip directory`);
    const method = view.getUint16(offset + 10, true);
    let compressedSize = view.getUint32(offset + 20, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    let localOffset = view.getUint32(offset + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    if (compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      // Zip64: sizes and offset live in the extra field.
      const extra = offset + 46 + nameLength;
      const fields: bigint[] = [];
      for (let p = extra; p < extra + extraLength; ) {
        const id = view.getUint16(p, true);
        const size = view.getUint16(p + 2, true);
        if (id === 1) for (let q = 0; q < size; q += 8) fields.push(view.getBigUint64(p + 4 + q, true));
        p += 4 + size;
      }
      const uncompressed = view.getUint32(offset + 24, true);
      let f = 0;
      if (uncompressed === 0xffffffff) f++;
      if (compressedSize === 0xffffffff) compressedSize = Number(fields[f++]);
      if (localOffset === 0xffffffff) localOffset = Number(fields[f++]);
    }
    const localName = view.getUint16(localOffset + 26, true);
    const localExtra = view.getUint16(localOffset + 28, true);
    const dataStart = localOffset + 30 + localName + localExtra;
    const stored = bytes.subarray(dataStart, dataStart + compressedSize);
    let content: Uint8Array;
    if (method === 0) content = stored;
    else if (method === 8) content = inflateRawSync(stored);
    else throw new IdpruneError(`${source}: entry ${name} uses unsupported zip compression ${method}`);
    arrays.set(name.replace(/\.npy$/, ''), parseNpy(content, `${source}:${name}`));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return arrays;
}
