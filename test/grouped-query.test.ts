import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelProto } from 'onnx-buf';
import { selectionMatrix } from '../src/compress/interpolation.ts';
import { applySurgery } from '../src/compress/surgery.ts';
import { neuronsOf } from '../src/compress/units.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { readFloatTensor } from '../src/onnx/tensor.ts';
import {
  GQA_HEAD_WIDTH,
  GQA_HIDDEN,
  GQA_TOKENS,
  groupedQueryAttention,
  KV_HEADS,
  QUERY_HEADS,
} from './helpers/grouped-query.ts';
import { keepEverything } from './helpers/keep.ts';
import { floatData, maxAbsDiff } from './helpers/run.ts';

const GROUP_WIDTH = (QUERY_HEADS / KV_HEADS) * GQA_HEAD_WIDTH;
const x = floatData([3, GQA_TOKENS, GQA_HIDDEN], 21);

async function outputs(model: ModelProto): Promise<Float64Array> {
  const session = await nodeRuntime.load(encodeModel(model));
  try {
    const out = await session.run({ x: { type: 'float32', dims: x.shape, data: x.data as Float32Array } });
    return Float64Array.from(out[session.outputNames[0]].data as Float32Array);
  } finally {
    await session.release();
  }
}

async function groups(model: ModelProto) {
  const { spaces } = await analyzeModel(model, nodeRuntime, { sampleDims: { x: [1, GQA_TOKENS, GQA_HIDDEN] } });
  return spaces.find((s) => s.producers.some((p) => model.graph!.node[p].name === 'q'))!;
}

const weightDims = (model: ModelProto, name: string) =>
  readFloatTensor(model.graph!.initializer.find((t) => t.name === name)!).dims;

describe('grouped-query attention (Llama as PyTorch exports it)', () => {
  it('Q, K and V form one space whose channels are key/value groups with their query heads', async () => {
    const model = groupedQueryAttention();
    const space = await groups(model);
    assert.ok(space.prunable, space.reason);
    assert.deepEqual(space.producers.map((p) => model.graph!.node[p].name).sort(), ['k', 'q', 'v']);
    assert.equal(space.channels, KV_HEADS);
    assert.equal(space.unit, GROUP_WIDTH);
    assert.deepEqual(
      space.consumers.map((c) => model.graph!.node[c.node].name),
      ['o'],
    );
  });

  it('keeping every group reproduces the outputs to 1e-5', async () => {
    const model = groupedQueryAttention();
    assert.ok(maxAbsDiff(await outputs(model), await outputs(await keepEverything(model))) < 1e-5);
  });

  it('removing a group whose query heads the output projection ignores changes nothing', async () => {
    const model = groupedQueryAttention({ silentGroup: 1 });
    const space = await groups(model);
    const mix = selectionMatrix(QUERY_HEADS * GQA_HEAD_WIDTH, neuronsOf([0], GROUP_WIDTH));
    const pruned = await applySurgery(model, [
      { space, keep: [0], interpolation: new Map(space.consumers.map((c) => [c.reads, mix])) },
    ]);
    assert.deepEqual(weightDims(pruned, 'w_q'), [GQA_HIDDEN, GROUP_WIDTH]);
    assert.deepEqual(weightDims(pruned, 'w_k'), [GQA_HIDDEN, GQA_HEAD_WIDTH]);
    assert.deepEqual(weightDims(pruned, 'w_v'), [GQA_HIDDEN, GQA_HEAD_WIDTH]);
    assert.deepEqual(weightDims(pruned, 'w_o'), [GROUP_WIDTH, GQA_HIDDEN]);
    assert.ok(maxAbsDiff(await outputs(model), await outputs(pruned)) < 1e-5);
  });

  it('removing a group that matters changes the outputs (the test can fail)', async () => {
    const model = groupedQueryAttention();
    const space = await groups(model);
    const mix = selectionMatrix(QUERY_HEADS * GQA_HEAD_WIDTH, neuronsOf([0], GROUP_WIDTH));
    const pruned = await applySurgery(model, [
      { space, keep: [0], interpolation: new Map(space.consumers.map((c) => [c.reads, mix])) },
    ]);
    assert.ok(maxAbsDiff(await outputs(model), await outputs(pruned)) > 1e-3);
  });
});
