import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Statistics } from '../src/compress/prepare.ts';
import { decodeStatistics, encodeStatistics, type StatisticsOrigin } from '../src/compress/statistics-format.ts';
import { IdpruneError } from '../src/errors.ts';

const origin: StatisticsOrigin = {
  modelSha256: 'ab'.repeat(32),
  data: { source: 'calib.npy', samples: 7 },
  options: { mode: 'corrected', skip: [] },
  tool: 'idprune test',
};

function statistics(): Statistics {
  return {
    grams: new Map([
      ['0|a', { rows: 2, cols: 2, data: Float64Array.from([1, 0.5, 0.5, 2]) }],
      ['1|b', { rows: 3, cols: 3, data: Float64Array.from({ length: 9 }, (_, i) => i / 3) }],
    ]),
    rankings: new Map([
      [0, { order: [1, 0], rank: 2, relativeError: Float64Array.from([1, 0.25, 0]) }],
      [1, { order: [2, 0, 1], rank: 3, relativeError: Float64Array.from([1, 0.5, 0.1, 0]) }],
    ]),
    curves: new Map([[0, Float64Array.from([0.9, 0.1, 0])]]),
  };
}

describe('statistics files', () => {
  it('give back the Gram matrices, rankings, error curves and origin they were written with', () => {
    const { statistics: read, origin: readOrigin } = decodeStatistics(encodeStatistics(statistics(), origin), 'stats');
    assert.deepEqual(read, statistics());
    assert.deepEqual(readOrigin, origin);
  });

  it('read from a buffer at an offset that does not align float64 values', () => {
    const bytes = encodeStatistics(statistics(), origin);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    assert.deepEqual(decodeStatistics(shifted.subarray(3), 'stats').statistics, statistics());
  });

  it('are refused when they are something else or cut short, naming the file', () => {
    assert.throws(
      () => decodeStatistics(new TextEncoder().encode('not statistics'), 'x.stats'),
      (e) => e instanceof IdpruneError && /x\.stats is not an idprune statistics file/.test(e.message),
    );
    const bytes = encodeStatistics(statistics(), origin);
    assert.throws(
      () => decodeStatistics(bytes.subarray(0, bytes.length - 8), 'cut.stats'),
      (e) => e instanceof IdpruneError && /truncated/.test(e.message),
    );
  });
});
