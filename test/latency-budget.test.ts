// A latency budget end to end (src/compress/latency-budget.ts) on the trained VGG fixture. Whether the
// measured ratio meets a target is a benchmark's question (bench/latency.ts); these check that the
// runtime's profile reaches every layer and that the search keeps the candidate its rule names.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeDataset, sliceFeeds, timingFeeds } from '../src/calibrate/dataset.ts';
import { parseNpy } from '../src/data/npy.ts';
import { latencyModel } from '../src/compress/latency-budget.ts';
import { compressModel, describeBudget } from '../src/compress/pipeline.ts';
import { prepareCompression } from '../src/compress/prepare.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { runtimeProducts } from '../src/onnx/runtime-products.ts';
import type { Runtime } from '../src/onnx/runtime.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const vgg = () => decodeModel(fixture('vgg.onnx'));
const calibration = new Map([['input', parseNpy(fixture('calib.npy'), 'calib.npy')]]);
const dataset = (a: { inputs: Parameters<typeof makeDataset>[1] }) => makeDataset(calibration, a.inputs, 'calib');

describe('the latency model of a trained CNN', () => {
  it("gives every convolution and matrix product a curve from the runtime's profile", async () => {
    const prepared = await prepareCompression(vgg(), dataset, nodeRuntime, { mode: 'plain' });
    const products = runtimeProducts(nodeRuntime);
    const model = await latencyModel(prepared, 1, 1, products);
    await products.release();
    const { index, cost } = prepared.analysis;
    const changed = new Set(cost.flops.filter((t) => t.spaces.length > 0).map((t) => t.node));
    const modelled = new Set(model.nodes.map((n) => n.node));
    for (const node of changed) assert.ok(modelled.has(node!), `${index.nodes[node!].name} has no time`);
    for (const n of model.nodes) assert.ok(n.ms.at(-1)! > 0 && n.ms.every((ms, i) => i === 0 || ms >= n.ms[i - 1]));
    assert.ok(model.fixedMs >= 0 && model.fixedMs < model.originalMs);
  });

  it('repeats the calibration samples to fill a batch larger than the data', () => {
    const all = calibration.get('input')!;
    const one = { dtype: all.dtype, shape: [1, 1, 28, 28], data: all.data.subarray(0, 784) };
    const inputs = [{ name: 'input', type: 'float32' as const, dims: [null, 1, 28, 28] }];
    const data = makeDataset(new Map([['input', one]]), inputs, 'one');
    const feeds = timingFeeds(data, inputs, 4);
    assert.deepEqual(feeds.input.dims, [4, 1, 28, 28]);
    const sample = sliceFeeds(data, inputs, 0, 1).input.data;
    for (let n = 0; n < 4; n++) assert.deepEqual(feeds.input.data.subarray(784 * n, 784 * (n + 1)), sample);
  });
});

describe('a latency target', () => {
  it('times candidates of both proposers, and keeps the least error among those that meet the target', async () => {
    const target = 0.7;
    const result = await compressModel(vgg(), dataset, nodeRuntime, {
      budget: { kind: 'latency', fraction: target, batch: 8, threads: 1 },
      mode: 'plain',
    });
    const search = result.latencySearch!;
    assert.equal(search.target, target);
    assert.deepEqual([search.model.batch, search.model.threads], [8, 1]);
    assert.deepEqual([...new Set(search.attempts.map((a) => a.by))], ['latency model', 'FLOPs']);
    const meeting = search.attempts.filter((a) => a.measured.ratio <= target);
    const chosen = search.attempts[search.chosen];
    assert.equal(chosen.sizes.error, Math.min(...meeting.map((a) => a.sizes.error)));
    assert.deepEqual(
      result.outcomes.map((o) => o.kept),
      result.outcomes.map((o) => chosen.sizes.kept.get(o.space.id)),
    );
    assert.ok(
      result.outcomes.some((o) => o.kept < o.space.channels),
      'nothing was pruned',
    );
    assert.equal(describeBudget({ kind: 'latency', fraction: target, batch: 8 }), 'latency=0.7 at batch 8');
  });

  it('refuses a target the modelled time cannot reach, saying how much of the time no space changes', async () => {
    await assert.rejects(
      compressModel(vgg(), dataset, nodeRuntime, {
        budget: { kind: 'latency', fraction: 0.02, batch: 1, threads: 1 },
        mode: 'plain',
      }),
      /target latency 0\.02 is not reachable.*at batch 1, \d+% of the .* ms a run takes is spent outside every/,
    );
  });

  it('refuses a target that no timed candidate meets, and says how close the fastest came', async () => {
    // Every run waits 3 ms more than it computes: no size comes near 0.6 of the time, whatever the model says.
    const slowed: Runtime = {
      defaultThreads: 1,
      profile: nodeRuntime.profile,
      async load(bytes, options) {
        const session = await nodeRuntime.load(bytes, options);
        return {
          ...session,
          run(feeds, names) {
            for (const end = performance.now() + 3; performance.now() < end; );
            return session.run(feeds, names);
          },
        };
      },
    };
    await assert.rejects(
      compressModel(vgg(), dataset, slowed, { budget: { kind: 'latency', fraction: 0.6, batch: 1 }, mode: 'plain' }),
      /target latency 0\.6 was not met: the fastest of \d+ sizes timed ran in 0\.\d+ of the original's time/,
    );
  });
});
