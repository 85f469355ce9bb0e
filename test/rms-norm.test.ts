import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TensorProto_DataType } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { floatTensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { randomArray } from './helpers/models.ts';
import { floatData, maxAbsDiff, run } from './helpers/run.ts';

const F = TensorProto_DataType.FLOAT;
const WIDTH = 8;

/**
 * x [N, 4, 8] → MatMul W1 → h → RMSNorm as PyTorch exports it (h · 1/√(mean(h²) + ε) · w) → MatMul
 * W2 → y [N, 4, 4]. Column 7 of W1 is twice column 0: h₇ = 2·h₀, so channel 7 can be removed and
 * reconstructed exactly, but the mean of squares of the kept channels alone is not h's.
 */
function rmsNormBlock() {
  const w1 = randomArray(WIDTH * WIDTH, 41, 0.5);
  for (let r = 0; r < WIDTH; r++) w1[r * WIDTH + 7] = 2 * w1[r * WIDTH];
  return makeModel({
    nodes: [
      makeNode('MatMul', ['x', 'w1'], ['h'], {}, 'up'),
      makeNode('Pow', ['h', 'two'], ['squares']),
      makeNode('ReduceMean', ['squares'], ['mean'], { axes: [-1], keepdims: 1 }),
      makeNode('Add', ['mean', 'eps'], ['shifted']),
      makeNode('Sqrt', ['shifted'], ['rms']),
      makeNode('Reciprocal', ['rms'], ['inverse']),
      makeNode('Mul', ['h', 'inverse'], ['normalized']),
      makeNode('Mul', ['norm_weight', 'normalized'], ['scaled']),
      makeNode('MatMul', ['scaled', 'w2'], ['y'], {}, 'down'),
    ],
    inputs: [valueInfo('x', F, ['N', 4, WIDTH])],
    outputs: [valueInfo('y', F, ['N', 4, 4])],
    initializers: [
      floatTensor('w1', [WIDTH, WIDTH], w1),
      floatTensor('two', [], Float64Array.of(2)),
      floatTensor('eps', [], Float64Array.of(1e-5)),
      floatTensor(
        'norm_weight',
        [WIDTH],
        randomArray(WIDTH, 42, 1).map((v) => 1 + 0.5 * v),
      ),
      floatTensor('w2', [WIDTH, 4], randomArray(WIDTH * 4, 43, 0.5)),
    ],
  });
}

describe('RMSNorm over a pruned stream', () => {
  it('the mean of squares joins the space: its producer and the layer after the norm', async () => {
    const model = rmsNormBlock();
    const { spaces } = await analyzeModel(model, nodeRuntime);
    const space = spaces.find((s) => s.channels === WIDTH)!;
    assert.ok(space.prunable, space.reason);
    assert.equal(space.norms.length, 1);
    assert.equal(space.norms[0].reads, 'scaled');
  });

  it('removing a channel the others reconstruct exactly leaves the outputs unchanged', async () => {
    const model = rmsNormBlock();
    const calibration = floatData([64, 4, WIDTH], 44);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calibration]]), a.inputs, 'calib'),
      nodeRuntime,
      { budget: { kind: 'tolerance', error: 1e-4 }, mode: 'plain', roundTo: 1 },
    );
    assert.equal(result.outcomes[0].kept, WIDTH - 1);
    const heldOut = floatData([16, 4, WIDTH], 45);
    const before = await run(model, 'x', heldOut);
    const after = await run(result.model, 'x', heldOut);
    assert.ok(maxAbsDiff(before.data, after.data) < 1e-4, `max |Δ| ${maxAbsDiff(before.data, after.data)}`);
  });
});
