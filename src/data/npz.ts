import { constants as bufferConstants } from 'node:buffer';
import { crc32, inflateRawSync } from 'node:zlib';
import { IdpruneError } from '../errors.ts';
import { type NdArray, parseNpy } from './npy.ts';

const END_OF_DIRECTORY = 0x06054b50;
const DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

/** The largest member read: one Buffer (Node caps a Buffer at its kMaxLength). */
const MAX_MEMBER_BYTES = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32 - 1);

/**
 * Reads the arrays of a NumPy .npz archive (stored or deflated zip entries), keyed by name without
 * ".npy". Every offset and size is checked against the file, every member's CRC-32 and size against
 * the directory, so a damaged archive is refused rather than read as other numbers.
 */
export function parseNpz(bytes: Uint8Array, source: string): Map<string, NdArray> {
  const zip = new ZipReader(bytes, source);
  const end = zip.endOfDirectory();
  const entries = zip.u16(end + 10);
  let offset = zip.u32(end + 16);
  const arrays = new Map<string, NdArray>();
  for (let e = 0; e < entries; e++) {
    if (zip.u32(offset) !== DIRECTORY_ENTRY) zip.fail(`no directory entry at byte ${offset}`);
    const entry = zip.directoryEntry(offset);
    arrays.set(entry.name.replace(/\.npy$/, ''), parseNpy(zip.member(entry), `${source}:${entry.name}`));
    offset = entry.next;
  }
  return arrays;
}

interface DirectoryEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  /** Where the next directory entry starts. */
  next: number;
}

class ZipReader {
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(problem: string): never {
    throw new IdpruneError(`${this.source}: corrupt .npz (zip) archive: ${problem}`);
  }

  private need(at: number, length: number, what: string): void {
    if (at < 0 || at + length > this.bytes.length) this.fail(`${what} at byte ${at} runs past the end of the file`);
  }

  u16(at: number): number {
    this.need(at, 2, 'a field');
    return this.view.getUint16(at, true);
  }

  u32(at: number): number {
    this.need(at, 4, 'a field');
    return this.view.getUint32(at, true);
  }

  endOfDirectory(): number {
    for (let i = this.bytes.length - 22; i >= Math.max(0, this.bytes.length - 65557); i--) {
      if (this.view.getUint32(i, true) === END_OF_DIRECTORY) return i;
    }
    throw new IdpruneError(`${this.source} is not a .npz (zip) archive`);
  }

  directoryEntry(offset: number): DirectoryEntry {
    this.need(offset, 46, 'a directory entry');
    const nameLength = this.u16(offset + 28);
    const extraLength = this.u16(offset + 30);
    const commentLength = this.u16(offset + 32);
    this.need(offset + 46, nameLength + extraLength, 'a directory entry');
    const name = new TextDecoder().decode(this.bytes.subarray(offset + 46, offset + 46 + nameLength));
    const sizes = {
      compressedSize: this.u32(offset + 20),
      size: this.u32(offset + 24),
      localOffset: this.u32(offset + 42),
    };
    this.zip64(sizes, offset + 46 + nameLength, extraLength);
    return {
      name,
      method: this.u16(offset + 10),
      crc: this.u32(offset + 16),
      ...sizes,
      next: offset + 46 + nameLength + extraLength + commentLength,
    };
  }

  /** Zip64: sizes and offset given as 0xffffffff live in the extra field, in this order. */
  private zip64(sizes: Pick<DirectoryEntry, 'compressedSize' | 'size' | 'localOffset'>, extra: number, length: number) {
    const fields: number[] = [];
    for (let p = extra; p + 4 <= extra + length; ) {
      const id = this.u16(p);
      const size = this.u16(p + 2);
      this.need(p + 4, size, 'an extra field');
      if (id === 1) for (let q = 0; q + 8 <= size; q += 8) fields.push(Number(this.view.getBigUint64(p + 4 + q, true)));
      p += 4 + size;
    }
    const keys = ['size', 'compressedSize', 'localOffset'] as const;
    for (const key of keys) {
      if (sizes[key] !== 0xffffffff) continue;
      const value = fields.shift();
      if (value === undefined) this.fail(`a Zip64 ${key} is missing from its extra field`);
      sizes[key] = value;
    }
  }

  /** The member's bytes, inflated where deflated, checked against its declared size and CRC-32. */
  member(entry: DirectoryEntry): Uint8Array {
    const { name, localOffset, compressedSize, size } = entry;
    if (this.u32(localOffset) !== LOCAL_HEADER) this.fail(`no local header for ${name} at byte ${localOffset}`);
    const dataStart = localOffset + 30 + this.u16(localOffset + 26) + this.u16(localOffset + 28);
    this.need(dataStart, compressedSize, `the data of ${name}`);
    if (size > MAX_MEMBER_BYTES) {
      throw new IdpruneError(
        `${this.source}: ${name} holds ${(size / 2 ** 30).toFixed(1)} GB, more than can be read at once; ` +
          'save it as a .npy file, which is read a batch at a time',
      );
    }
    const stored = this.bytes.subarray(dataStart, dataStart + compressedSize);
    let content: Uint8Array;
    if (entry.method === 0) content = stored;
    else if (entry.method === 8) content = this.inflate(stored, size, name);
    else throw new IdpruneError(`${this.source}: entry ${name} uses unsupported zip compression ${entry.method}`);
    if (content.length !== size) this.fail(`${name} holds ${content.length} bytes, its directory says ${size}`);
    if (crc32(content) !== entry.crc) this.fail(`${name} fails its CRC-32 check`);
    return content;
  }

  private inflate(stored: Uint8Array, size: number, name: string): Uint8Array {
    try {
      // Never more than the declared size: a member that inflates past it is refused, not allocated.
      return inflateRawSync(stored, { maxOutputLength: Math.max(1, size) });
    } catch (err) {
      const reason =
        (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
          ? 'inflates past its declared size'
          : (err as Error).message;
      return this.fail(`${name} does not inflate (${reason})`);
    }
  }
}
