import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelProto } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { selectionMatrix } from '../src/compress/interpolation.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { applySurgery } from '../src/compress/surgery.ts';
import { neuronsOf } from '../src/compress/units.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import type { ChannelSpace } from '../src/graph/types.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { floatTensor } from '../src/onnx/build.ts';
import { readFloatTensor, readIntTensor } from '../src/onnx/tensor.ts';
import {
  type AttentionOptions,
  fusedAttention,
  HEAD_WIDTH,
  HEADS,
  HIDDEN,
  selfAttention,
} from './helpers/attention.ts';
import { keepEverything } from './helpers/keep.ts';
import { floatData, maxAbsDiff } from './helpers/run.ts';

const TOKENS = 5;
const x = floatData([6, TOKENS, HIDDEN], 11);
/** Samples 3–5 are padded: their last two tokens are masked out. */
const mask = {
  dtype: 'int64' as const,
  shape: [6, TOKENS],
  data: BigInt64Array.from({ length: 6 * TOKENS }, (_, i) =>
    Math.floor(i / TOKENS) >= 3 && i % TOKENS >= 3 ? 0n : 1n,
  ),
};

async function outputs(model: ModelProto, withMask: boolean): Promise<Float64Array> {
  const session = await nodeRuntime.load(encodeModel(model));
  try {
    const feeds: Record<string, { type: 'float32' | 'int64'; dims: number[]; data: Float32Array | BigInt64Array }> = {
      x: { type: 'float32', dims: x.shape, data: x.data as Float32Array },
    };
    if (withMask) feeds.mask = { type: 'int64', dims: mask.shape, data: mask.data };
    const out = await session.run(feeds);
    return Float64Array.from(out[session.outputNames[0]].data as Float32Array);
  } finally {
    await session.release();
  }
}

const heads = async (model: ModelProto) => {
  const { spaces } = await analyzeModel(model, nodeRuntime, {
    sampleDims: { x: [1, TOKENS, HIDDEN], mask: [1, TOKENS] },
  });
  return { spaces, attention: spaces.find((s) => s.unit === HEAD_WIDTH)! };
};
const names = (model: ModelProto, space: ChannelSpace) => space.producers.map((p) => model.graph!.node[p].name).sort();

/** Removes every head but `keep`, folding the given per-neuron interpolation into the output projection. */
function pruneHeads(
  model: ModelProto,
  space: ChannelSpace,
  keep: number[],
  mix = selectionMatrix(HIDDEN, neuronsOf(keep, HEAD_WIDTH)),
) {
  return applySurgery(model, [{ space, keep, interpolation: new Map(space.consumers.map((c) => [c.reads, mix])) }]);
}

const layouts: [string, AttentionOptions][] = [
  ['constant head shapes, no biases', {}],
  ['constant head shapes, with biases', { bias: true }],
  ['head shapes built at run time, with biases', { bias: true, runtimeShapes: true }],
  ['a padded batch with an attention mask', { bias: true, mask: true }],
  ['one packed Q/K/V projection split in three', { bias: true, packed: true }],
  ['nanoGPT: sizes from x.size(), a causal mask by masked_fill', { bias: true, packed: true, nanoGpt: true }],
];

describe('attention heads', () => {
  for (const [name, options] of layouts) {
    describe(name, () => {
      it('Q, K and V projections form one space of heads', async () => {
        const model = selfAttention(options);
        const { attention } = await heads(model);
        assert.ok(attention, 'a space of units the width of a head');
        assert.deepEqual(names(model, attention), options.packed ? ['qkv'] : ['k', 'q', 'v']);
        assert.equal(attention.channels, HEADS);
        assert.ok(attention.prunable, attention.reason);
        assert.deepEqual(
          attention.consumers.map((c) => model.graph!.node[c.node].name),
          ['o'],
        );
      });

      it('keeping every head reproduces the outputs to 1e-5', async () => {
        const model = selfAttention(options);
        assert.ok(
          maxAbsDiff(await outputs(model, !!options.mask), await outputs(await keepEverything(model), !!options.mask)) <
            1e-5,
        );
      });

      it('removing a head whose output projection rows are zero changes nothing', async () => {
        const model = selfAttention({ ...options, silentHead: 1 });
        const { attention } = await heads(model);
        const pruned = await pruneHeads(model, attention, [0]);
        assert.ok(maxAbsDiff(await outputs(model, !!options.mask), await outputs(pruned, !!options.mask)) < 1e-5);
      });

      it('the pruned model has one head less in every head shape', async () => {
        const model = selfAttention(options);
        const { attention } = await heads(model);
        const pruned = await pruneHeads(model, attention, [1]);
        const constant = (name: string) => readIntTensor(pruned.graph!.initializer.find((t) => t.name === name)!);
        if (options.nanoGpt) {
          // The head count is a constant; the merged width, computed from x.size(), is left for the Reshape to infer.
          for (const p of ['q', 'k', 'v']) assert.deepEqual(constant(`${p}_heads_shape_h`), [1]);
          const merge = pruned.graph!.node.find((n) => n.name === 'merge_shape_concat')!;
          assert.deepEqual(constant(merge.input[2]), [-1]);
        } else if (options.runtimeShapes) {
          for (const p of ['q', 'k', 'v'])
            assert.deepEqual([constant(`${p}_heads_shape_c0`), constant(`${p}_heads_shape_c1`)], [[1], [HEAD_WIDTH]]);
          assert.deepEqual(constant('merge_shape_c0'), [HEAD_WIDTH]);
        } else {
          for (const p of ['q', 'k', 'v']) assert.deepEqual(constant(`${p}_heads_shape`), [0, 0, 1, HEAD_WIDTH]);
          assert.deepEqual(constant('merge_shape'), [0, 0, HEAD_WIDTH]);
        }
        assert.equal((await outputs(pruned, !!options.mask)).length, x.data.length);
      });
    });
  }

  it(
    "a head whose output is a multiple of another's is removed with no error, " + 'the other head reconstructing it',
    async () => {
      const model = selfAttention({});
      const edit = (name: string, factor: number) => {
        const index = model.graph!.initializer.findIndex((t) => t.name === name);
        const w = readFloatTensor(model.graph!.initializer[index]);
        for (let r = 0; r < HIDDEN; r++)
          for (let j = 0; j < HEAD_WIDTH; j++) w.data[r * HIDDEN + HEAD_WIDTH + j] = factor * w.data[r * HIDDEN + j];
        model.graph!.initializer[index] = floatTensor(name, w.dims, w.data);
      };
      edit('w_q', 1);
      edit('w_k', 1);
      edit('w_v', -2);
      const calib = floatData([64, TOKENS, HIDDEN], 12);
      const result = await compressModel(
        model,
        (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
        nodeRuntime,
        {
          budget: { kind: 'tolerance', error: 1e-4 },
          mode: 'plain',
          roundTo: 1,
        },
      );
      const outcome = result.outcomes.find((o) => o.space.unit === HEAD_WIDTH)!;
      assert.equal(outcome.kept, 1);
      const before = await outputs(model, false);
      const after = await outputs(result.model, false);
      assert.ok(maxAbsDiff(before, after) < 1e-4 * Math.max(...before.map(Math.abs)));
    },
  );

  it('with an attention mask, what padding tokens hold does not change the compressed model', async () => {
    const model = selfAttention({ bias: true, mask: true });
    const padded = (seed: number) => {
      const calib = floatData([24, TOKENS, HIDDEN], 13);
      const noise = floatData([24, TOKENS, HIDDEN], seed, 5);
      for (let i = 0; i < calib.data.length; i++)
        if (Math.floor(i / HIDDEN) % TOKENS >= 3) calib.data[i] = noise.data[i];
      return calib;
    };
    const masks = {
      dtype: 'int64' as const,
      shape: [24, TOKENS],
      data: BigInt64Array.from({ length: 24 * TOKENS }, (_, i) => (i % TOKENS >= 3 ? 0n : 1n)),
    };
    const compress = async (seed: number) =>
      (
        await compressModel(
          model,
          (a) =>
            makeDataset(
              new Map([
                ['x', padded(seed)],
                ['mask', masks],
              ]),
              a.inputs,
              'calib',
            ),
          nodeRuntime,
          {
            budget: { kind: 'flops', fraction: 0.9 },
            maskInput: 'mask',
          },
        )
      ).model;
    const [a, b] = [await compress(1), await compress(2)];
    const weights = (m: ModelProto) => readFloatTensor(m.graph!.initializer.find((t) => t.name === 'w_o')!).data;
    assert.equal(weights(a).length, (HIDDEN * HIDDEN) / HEADS);
    assert.ok(maxAbsDiff(weights(a), weights(b)) < 1e-5);
  });

  for (const op of ['MultiHeadAttention', 'Attention'] as const) {
    describe(`the fused com.microsoft ${op} op`, () => {
      it('has a space of heads read by the output projection', async () => {
        const model = fusedAttention(op);
        const { attention } = await heads(model);
        assert.ok(attention?.prunable, attention?.reason);
        assert.equal(attention.channels, HEADS);
        assert.deepEqual(
          attention.consumers.map((c) => model.graph!.node[c.node].name),
          ['o'],
        );
      });

      it('keeping every head reproduces the outputs to 1e-5', async () => {
        const model = fusedAttention(op);
        assert.ok(maxAbsDiff(await outputs(model, false), await outputs(await keepEverything(model), false)) < 1e-5);
      });

      it('removing a head whose output projection rows are zero changes nothing, and num_heads follows', async () => {
        const model = fusedAttention(op, 0);
        const { attention } = await heads(model);
        const pruned = await pruneHeads(model, attention, [1]);
        assert.ok(maxAbsDiff(await outputs(model, false), await outputs(pruned, false)) < 1e-5);
        const fused = pruned.graph!.node.find((n) => n.name === 'fused')!;
        assert.equal(Number(fused.attribute.find((a) => a.name === 'num_heads')!.i), 1);
      });
    });
  }

  it('grouped-query attention with keys repeated by a Concat of copies stays intact, with the reason', async () => {
    const model = selfAttention({ groupedQuery: true });
    const { spaces } = await analyzeModel(model, nodeRuntime, { sampleDims: { x: [1, TOKENS, HIDDEN] } });
    const query = spaces.find((s) => names(model, s).includes('q'))!;
    assert.equal(query.prunable, false);
    assert.match(query.reason!, /joins these channels with|reads the same channels twice/);
    assert.ok(spaces.filter((s) => names(model, s).some((n) => n === 'k' || n === 'v')).every((s) => !s.prunable));
  });
});
