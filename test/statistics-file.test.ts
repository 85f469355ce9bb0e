import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Statistics } from '../src/compress/prepare.ts';
import { decodeStatistics, encodeStatistics, type StatisticsOrigin } from '../src/compress/statistics-format.ts';
import { IdpruneError } from '../src/errors.ts';

const sha = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());

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

const latencyModel = {
  machine: 'a processor × 2',
  model: {
    batch: 1,
    threads: 2,
    originalMs: 1.5,
    fixedMs: 0.25,
    nodes: [{ node: 3, terms: [{ value: 64, spaces: [0, 1], node: 3 }], shares: [0.3, 0.5, 1], ms: [0.2, 0.4, 0.9] }],
  },
};

describe('statistics files', () => {
  it('give back the latency models saved with them, with the machine each was measured on', () => {
    const { statistics: read } = decodeStatistics(
      encodeStatistics({ ...statistics(), latencyModels: [latencyModel] }, origin, sha),
      'stats',
      sha,
    );
    assert.deepEqual(read.latencyModels, [latencyModel]);
  });

  it('refuse a latency model that is not numbers where numbers belong', () => {
    const broken = { ...latencyModel, model: { ...latencyModel.model, originalMs: 'fast' } };
    assert.throws(
      () =>
        decodeStatistics(
          encodeStatistics({ ...statistics(), latencyModels: [broken as never] }, origin, sha),
          'stats',
          sha,
        ),
      /latency models is malformed/,
    );
  });

  it('give back the Gram matrices, rankings, error curves and origin they were written with', () => {
    const { statistics: read, origin: readOrigin } = decodeStatistics(
      encodeStatistics(statistics(), origin, sha),
      'stats',
      sha,
    );
    assert.deepEqual(read, statistics());
    assert.deepEqual(readOrigin, origin);
  });

  it('read from a buffer at an offset that does not align float64 values', () => {
    const bytes = encodeStatistics(statistics(), origin, sha);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    assert.deepEqual(decodeStatistics(shifted.subarray(3), 'stats', sha).statistics, statistics());
  });

  it('are refused when they are something else or cut short, naming the file', () => {
    assert.throws(
      () => decodeStatistics(new TextEncoder().encode('not statistics'), 'x.stats', sha),
      (e) => e instanceof IdpruneError && /x\.stats is not an idprune statistics file/.test(e.message),
    );
    const bytes = encodeStatistics(statistics(), origin, sha);
    assert.throws(
      () => decodeStatistics(bytes.subarray(0, bytes.length - 8), 'cut.stats', sha),
      (e) => e instanceof IdpruneError && /cut\.stats is damaged/.test(e.message),
    );
  });

  it('are refused when a byte of the payload changed, by their checksum', () => {
    const bytes = encodeStatistics(statistics(), origin, sha);
    bytes[bytes.length - 40] ^= 0x10;
    assert.throws(
      () => decodeStatistics(bytes, 'x.stats', sha),
      (e) => e instanceof IdpruneError && /x\.stats is damaged: its checksum does not match/.test(e.message),
    );
  });

  it('of the earlier format are refused with what to do', () => {
    const bytes = new TextEncoder().encode('idprune statistics 1\n\0\0\0\0');
    assert.throws(
      () => decodeStatistics(bytes, 'old.stats', sha),
      (e) =>
        e instanceof IdpruneError &&
        /old\.stats was saved by an earlier idprune: save the statistics again/.test(e.message),
    );
  });
});

/** A statistics file with this header and payload, and a valid checksum: well-formed, but saying what it likes. */
function fileWith(header: unknown, values: number[]): Uint8Array {
  const magic = new TextEncoder().encode('idprune statistics 2\n');
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = Math.ceil((magic.length + 4 + json.length) / 8) * 8;
  const body = new Uint8Array(start + 8 * values.length);
  body.set(magic);
  new DataView(body.buffer).setUint32(magic.length, json.length, true);
  body.set(json, magic.length + 4);
  new Float64Array(body.buffer, start).set(values);
  const file = new Uint8Array(body.length + 32);
  file.set(body);
  file.set(sha(body), body.length);
  return file;
}

describe('statistics files whose checksum holds but whose contents do not', () => {
  const valid = () => ({
    origin,
    grams: [{ key: '0|a', rows: 2, cols: 2, values: { offset: 0, length: 4 } }],
    rankings: [{ space: 0, order: [1, 0], rank: 2, relativeError: { offset: 4, length: 3 } }],
  });
  const payload = [1, 0.5, 0.5, 2, 1, 0.25, 0];
  const refused = (header: unknown, values = payload, message = /malformed/) =>
    assert.throws(
      () => decodeStatistics(fileWith(header, values), 'x.stats', sha),
      (e) =>
        e instanceof IdpruneError &&
        /^x\.stats is not an idprune statistics file/.test(e.message) &&
        message.test(e.message),
    );

  it('are read when they follow the format', () => {
    assert.equal(decodeStatistics(fileWith(valid(), payload), 'x.stats', sha).statistics.grams.size, 1);
  });

  it('are refused with a null header, or one without grams or rankings', () => {
    refused(null);
    refused({ ...valid(), grams: undefined });
    refused({ ...valid(), rankings: 'none' });
  });

  it("are refused with a number where the model's hash should be, or no origin", () => {
    refused({ ...valid(), origin: { ...origin, modelSha256: 12 } });
    refused({ ...valid(), origin: undefined });
  });

  it('are refused with a ranking that is not a permutation of its channels', () => {
    for (const order of [[], [-1, 0], [0.5, 1], [0, 0], [0, 2], ['0', 1]]) {
      const header = valid();
      header.rankings[0].order = order as number[];
      refused(header);
    }
  });

  it('are refused with an array whose size does not match, or that runs past the payload', () => {
    const wrongSize = valid();
    wrongSize.grams[0].values.length = 3;
    refused(wrongSize);
    const pastTheEnd = valid();
    pastTheEnd.rankings[0].relativeError.offset = 6;
    refused(pastTheEnd, payload, /truncated/);
  });

  it('are refused with values that are not finite', () => {
    refused(valid(), [1, Number.NaN, 0.5, 2, 1, 0.25, 0], /not finite/);
    refused(valid(), [1, 0.5, 0.5, Number.POSITIVE_INFINITY, 1, 0.25, 0], /not finite/);
  });
});
