// NumPy files that are damaged or hostile are refused with one line naming the file and the
// problem: never a JavaScript error, a runaway allocation, or other numbers read as data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { parseNpy, toNpy } from '../src/data/npy.ts';
import { parseNpz } from '../src/data/npz.ts';
import { IdpruneError } from '../src/errors.ts';
import { floatData } from './helpers/run.ts';
import { zip } from './helpers/zip.ts';

const array = toNpy(floatData([4, 3], 1));
const archive = (deflate = true) => Buffer.from(zip({ 'x.npy': array }, deflate));
/** Offsets of the last entry's fields in an archive of one entry written by helpers/zip.ts. */
const endOfDirectory = (bytes: Buffer) => bytes.length - 22;
const directoryEntry = (bytes: Buffer) => bytes.readUInt32LE(endOfDirectory(bytes) + 16);

function refused(read: () => unknown, message: RegExp): void {
  assert.throws(read, (err) => {
    assert.ok(err instanceof IdpruneError, `an IdpruneError, not ${(err as Error).constructor.name}: ${err}`);
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
}

describe('a damaged .npz', () => {
  it('is read as it was written when intact', () => {
    const read = parseNpz(archive(), 'x.npz').get('x')!;
    assert.deepEqual(read.data, parseNpy(array, 'x.npy').data);
  });

  it('whose directory offset points past the end is refused', () => {
    const bytes = archive();
    bytes.writeUInt32LE(bytes.length + 100, endOfDirectory(bytes) + 16);
    refused(() => parseNpz(bytes, 'x.npz'), /^x\.npz: corrupt .npz \(zip\) archive: .*past the end/);
  });

  it('whose local-header offset points past the end is refused', () => {
    const bytes = archive();
    bytes.writeUInt32LE(bytes.length + 100, directoryEntry(bytes) + 42);
    refused(() => parseNpz(bytes, 'x.npz'), /^x\.npz: corrupt .npz \(zip\) archive: .*past the end/);
  });

  it("whose deflate stream is broken is refused with zlib's reason on the same line", () => {
    const bytes = archive();
    const dataStart = 30 + 'x.npy'.length;
    bytes[dataStart] = 0xff; // block type 3: reserved, invalid
    refused(() => parseNpz(bytes, 'x.npz'), /^x\.npz: corrupt .npz \(zip\) archive: x\.npy does not inflate/);
  });

  it('whose member inflates past its declared size is refused without inflating it all', () => {
    const big = new Uint8Array(64 * 2 ** 20); // 64 MB of zeros, a few kB deflated
    const bytes = Buffer.from(zip({ 'x.npy': big }, true));
    bytes.writeUInt32LE(1000, directoryEntry(bytes) + 24);
    refused(() => parseNpz(bytes, 'x.npz'), /x\.npy does not inflate \(inflates past its declared size\)/);
  });

  it('whose member still inflates after a flipped bit fails its CRC-32 check', () => {
    // A stored member: any flipped data bit reads as another number without the check.
    const bytes = archive(false);
    bytes[bytes.length - 22 - 46 - 'x.npy'.length - 1] ^= 0x01; // the last data byte
    refused(() => parseNpz(bytes, 'x.npz'), /x\.npy fails its CRC-32 check/);
  });

  it('whose deflated member, one bit flipped, still inflates fails its CRC-32 check', () => {
    const content = new Uint8Array(array);
    const deflated = deflateRawSync(content);
    let flipped: Buffer | undefined;
    // Find a bit whose flip leaves a valid stream of the same length (there are many).
    for (let bit = 8 * 8; bit < deflated.length * 8 && !flipped; bit++) {
      const bytes = archive();
      bytes[30 + 'x.npy'.length + (bit >> 3)] ^= 1 << (bit & 7);
      try {
        parseNpz(bytes, 'x.npz');
      } catch (err) {
        if (err instanceof IdpruneError && /CRC-32/.test(err.message)) flipped = bytes;
      }
    }
    assert.ok(flipped, 'some flipped bit inflates to the same size and is caught by the CRC');
  });
});

describe('a damaged .npy', () => {
  const withShape = (shape: string) =>
    Buffer.from(Buffer.from(array).toString('latin1').replace('(4, 3)', shape.padEnd(6)), 'latin1');

  it('whose shape holds a fraction is refused', () => {
    refused(
      () => parseNpy(withShape('(2.5,)'), 'x.npy'),
      /^x\.npy: .npy shape \(2\.5,\) is not a list of non-negative/,
    );
  });

  it('whose shape holds a name is refused', () => {
    refused(() => parseNpy(withShape('(x, 3)'), 'x.npy'), /^x\.npy: .npy shape \(x, 3\) is not a list of non-negative/);
  });
});

describe('values a fit cannot use', () => {
  const inputs = [{ name: 'x', type: 'float32' as const, dims: [null, 3] }];

  it('a finite value beyond ±1e15 is refused when the data is read, with its sample', () => {
    const data = floatData([4, 3], 1);
    data.data[7] = 3e38;
    refused(
      () => makeDataset(new Map([['x', data]]), inputs, 'x.npy'),
      /^x\.npy: input "x" contains 3\.00e\+38, beyond ±1e\+15 \(sample 2\)$/,
    );
  });
});
