import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeDataset, samplesOf } from '../src/calibrate/dataset.ts';
import { compressPrepared } from '../src/compress/pipeline.ts';
import { prepareCompression } from '../src/compress/prepare.ts';
import type { StatisticsOrigin } from '../src/compress/statistics-format.ts';
import { mergeStatistics } from '../src/compress/statistics-merge.ts';
import { parseNpy } from '../src/data/npy.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const model = decodeModel(fixture('vgg.onnx'));
const all = makeDataset(new Map([['input', parseNpy(fixture('calib.npy'), 'calib.npy')]]), inputSpecs(model), 'calib');
const SAMPLES = 256;
const SHARDS = 4;
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
const origin = (samples: number, sha = 'ab'.repeat(32)): StatisticsOrigin => ({
  modelSha256: sha,
  data: { source: 'calib.npy', samples },
  options: { mode: 'corrected', skip: [] },
  tool: 'idprune test',
});
const prepare = (indices: number[], saved?: Parameters<typeof prepareCompression>[4], shard = false) =>
  prepareCompression(
    model,
    () => samplesOf(all, indices),
    nodeRuntime,
    { mode: 'corrected', augment: 'none', shard },
    saved,
  );

/** The statistics of the samples in SHARDS consecutive parts, each prepared as `idprune stats` does. */
function shards() {
  const size = SAMPLES / SHARDS;
  return Promise.all(
    range(0, SHARDS).map(async (shard) => ({
      source: `shard ${shard}`,
      statistics: (await prepare(range(shard * size, size), undefined, true)).statistics,
      origin: origin(size),
    })),
  );
}

describe('statistics merged from shards', () => {
  it("add up to one process's statistics of all the samples, to 1e-9", async () => {
    const whole = await prepare(range(0, SAMPLES));
    const parts = await shards();
    const merged = mergeStatistics(parts);
    assert.equal(merged.origin.data.samples, SAMPLES);
    assert.equal(merged.statistics.grams.size, whole.statistics.grams.size);
    for (const [key, gram] of whole.statistics.grams) {
      const sum = merged.statistics.grams.get(key)!;
      let difference = 0;
      let norm = 0;
      for (let i = 0; i < gram.data.length; i++) {
        difference += (sum.data[i] - gram.data[i]) ** 2;
        norm += gram.data[i] ** 2;
      }
      assert.ok(Math.sqrt(difference / norm) < 1e-9, `${key}: relative difference ${Math.sqrt(difference / norm)}`);
    }
  });

  it('are ranked from their Gram matrices and compress as the whole set does', async () => {
    const parts = await shards();
    const fromShards = await prepare(range(0, SAMPLES), mergeStatistics(parts).statistics);
    const whole = await prepare(range(0, SAMPLES));
    const budget = { budget: { kind: 'flops', fraction: 0.5 } as const };
    const kept = async (p: typeof whole) =>
      (await compressPrepared(p, budget)).outcomes.map((o) => `${o.space.id}:${o.keep.join(',')}`);
    assert.deepEqual(await kept(fromShards), await kept(whole));
  });

  it('refuse statistics of another model', () => {
    const statistics = { grams: new Map(), rankings: new Map() };
    assert.throws(
      () =>
        mergeStatistics([
          { source: 'a.stats', statistics, origin: origin(8) },
          { source: 'b.stats', statistics, origin: origin(8, 'cd'.repeat(32)) },
        ]),
      /b\.stats was made for another model than a\.stats/,
    );
  });
});
