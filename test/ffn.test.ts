import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { type Activation, FFN_HIDDEN, feedForward, HIDDEN } from './helpers/attention.ts';
import { assertCorrectionHelps, keepEverything } from './helpers/keep.ts';
import { floatData, maxAbsDiff, run } from './helpers/run.ts';

const x = floatData([4, 6, HIDDEN], 21);
const calib = floatData([48, 6, HIDDEN], 22);
const activations: Activation[] = ['gelu-erf', 'gelu-tanh', 'gelu-op', 'relu', 'silu', 'swiglu'];

describe('feed-forward blocks on tokens', () => {
  for (const activation of activations) {
    it(`${activation}: the hidden neurons are one prunable space between the two projections`, async () => {
      const model = feedForward(activation);
      const { spaces } = await analyzeModel(model, nodeRuntime, { sampleDims: { x: [1, 6, HIDDEN] } });
      const hidden = spaces.filter((s) => s.channels === FFN_HIDDEN);
      assert.equal(hidden.length, 1);
      const [space] = hidden;
      assert.ok(space.prunable, space.reason);
      const producers = space.producers.map((p) => model.graph!.node[p].name).sort();
      assert.deepEqual(producers, activation === 'swiglu' ? ['fc1', 'fc3'] : ['fc1']);
      assert.deepEqual(
        space.consumers.map((c) => model.graph!.node[c.node].name),
        ['fc2'],
      );
    });

    it(`${activation}: keeping every neuron reproduces the outputs to 1e-5`, async () => {
      const model = feedForward(activation);
      assert.ok(
        maxAbsDiff((await run(model, 'x', x)).data, (await run(await keepEverything(model), 'x', x)).data) < 1e-5,
      );
    });

    it(`${activation}: neurons removed, the outputs closer to the original's than without correction`, async () => {
      const model = feedForward(activation);
      const result = await compressModel(
        model,
        (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
        nodeRuntime,
        {
          budget: { kind: 'params', fraction: 0.6 },
        },
      );
      const outcome = result.outcomes.find((o) => o.space.channels === FFN_HIDDEN)!;
      assert.ok(outcome.kept < FFN_HIDDEN);
      assert.deepEqual((await run(result.bytes, 'x', x)).dims, [4, 6, HIDDEN]);
      await assertCorrectionHelps(model, result, x);
    });
  }
});
