import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { toNpy } from '../src/data/npy.ts';
import { readArrays, readLabels, writeAtomic } from '../src/io/files.ts';
import { zip } from './helpers/zip.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const values = Float32Array.from({ length: 24 }, (_, i) => i / 2);
const npy = toNpy({ dtype: 'float32', shape: [4, 2, 3], data: values });

describe('data files', () => {
  it('a .npy file gives its samples on demand', () => {
    writeFileSync(join(dir, 'x.npy'), npy);
    const [[name, array]] = [...readArrays(join(dir, 'x.npy'))];
    assert.equal(name, 'x');
    assert.deepEqual(array.shape, [4, 2, 3]);
    assert.deepEqual([...array.rows(1, 2)], [...values.subarray(6, 18)]);
  });

  it('a folder holds one <input name>.npy per input', () => {
    mkdirSync(join(dir, 'folder'));
    writeFileSync(
      join(dir, 'folder', 'ids.npy'),
      toNpy({ dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([1n, 2n, 3n, 4n]) }),
    );
    writeFileSync(
      join(dir, 'folder', 'mask.npy'),
      toNpy({ dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([1n, 1n, 1n, 0n]) }),
    );
    assert.deepEqual([...readArrays(join(dir, 'folder')).keys()], ['ids', 'mask']);
  });

  it('a .npz archive holds named arrays', () => {
    writeFileSync(join(dir, 'd.npz'), zip({ 'input.npy': npy }, true));
    const arrays = readArrays(join(dir, 'd.npz'));
    assert.deepEqual([...arrays.get('input')!.rows(3, 1)], [...values.subarray(18)]);
  });

  it('a truncated .npy file is refused before anything runs', () => {
    writeFileSync(join(dir, 'short.npy'), npy.subarray(0, npy.length - 10));
    assert.throws(() => readArrays(join(dir, 'short.npy')), /short.npy: file is truncated/);
  });

  it('labels must be integers, one per sample', () => {
    writeFileSync(
      join(dir, 'labels.npy'),
      toNpy({ dtype: 'int64', shape: [3], data: BigInt64Array.from([0n, 2n, 1n]) }),
    );
    assert.deepEqual([...readLabels(join(dir, 'labels.npy'))], [0n, 2n, 1n]);
    assert.throws(() => readLabels(join(dir, 'x.npy')), /have type float32, expected integers/);
  });
});

describe('writing', () => {
  it('leaves no temporary file behind', () => {
    writeAtomic(join(dir, 'out.txt'), 'done');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('out')),
      ['out.txt'],
    );
  });
});
