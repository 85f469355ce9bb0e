import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { exposeTensors } from '../src/calibrate/instrument.ts';
import { collectCrossGrams, collectGrams } from '../src/calibrate/statistics.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { convBnReluConv, convReluFlattenGemm } from './helpers/models.ts';
import { floatData, run } from './helpers/run.ts';

/** ZᵀZ of an NCHW activation with one row per (sample, position), computed directly. */
function directGram(data: Float64Array, [n, c, h, w]: number[]): Float64Array {
  const g = new Float64Array(c * c);
  for (let s = 0; s < n; s++)
    for (let p = 0; p < h * w; p++)
      for (let i = 0; i < c; i++)
        for (let j = 0; j < c; j++) g[i * c + j] += data[(s * c + i) * h * w + p] * data[(s * c + j) * h * w + p];
  return g;
}

function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

describe('statistics', () => {
  it('accumulate the Gram matrix of an activation over batches', async () => {
    const model = convBnReluConv();
    const analysis = await analyzeModel(model, nodeRuntime);
    const x = floatData([10, 3, 8, 8], 5);
    const dataset = makeDataset(new Map([['x', x]]), analysis.inputs, 'x');
    const probe = { tensor: 'r1', layout: { axis: 1, block: 1 }, channels: 8, shape: [1, 8, 8, 8] };
    const [gram] = await collectGrams(model, [probe], { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 3 });
    const activation = await run(exposeTensors(model, ['r1']), 'x', x);
    assert.ok(relativeDifference(gram.data, directGram(activation.data, [10, 8, 8, 8])) < 1e-6);
  });

  it('give the same Gram matrix for a flattened read point as for the tensor before Flatten', async () => {
    const model = convReluFlattenGemm(0);
    const analysis = await analyzeModel(model, nodeRuntime);
    const dataset = makeDataset(new Map([['x', floatData([12, 2, 6, 6], 6)]]), analysis.inputs, 'x');
    const pass = { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 5 };
    const [flat, spatial] = await collectGrams(model, [
      { tensor: 'f', layout: { axis: 1, block: 36 }, channels: 6, shape: [1, 216] },
      { tensor: 'r1', layout: { axis: 1, block: 1 }, channels: 6, shape: [1, 6, 6, 6] },
    ], pass);
    assert.ok(relativeDifference(flat.data, spatial.data) < 1e-12);
  });

  it('cross-Gram of a model with itself, all channels kept, equals its Gram matrix', async () => {
    const model = convReluFlattenGemm(0);
    const analysis = await analyzeModel(model, nodeRuntime);
    const dataset = makeDataset(new Map([['x', floatData([6, 2, 6, 6], 7)]]), analysis.inputs, 'x');
    const pass = { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 4 };
    const [gram] = await collectGrams(model, [{ tensor: 'r1', layout: { axis: 1, block: 1 }, channels: 6, shape: [1, 6, 6, 6] }], pass);
    const flat = { tensor: 'f', layout: { axis: 1, block: 36 }, channels: 6, keep: [0, 1, 2, 3, 4, 5] };
    const cross = await collectCrossGrams(model, model, [flat], pass);
    assert.ok(relativeDifference(cross.pruned[0].data, gram.data) < 1e-12);
    assert.ok(relativeDifference(cross.cross[0].data, gram.data) < 1e-12);
  });

  it('collect receptive-field features of a Conv consumer: taps × channels', async () => {
    const model = convBnReluConv();
    const analysis = await analyzeModel(model, nodeRuntime);
    const dataset = makeDataset(new Map([['x', floatData([4, 3, 8, 8], 8)]]), analysis.inputs, 'x');
    const pass = { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 4 };
    const layout = { axis: 1, block: 1 };
    const probe = { tensor: 'r1', layout, channels: 8, keep: [1, 4], conv: { kernel: [3, 3], attributes: [] } };
    const cross = await collectCrossGrams(model, model, [probe], pass);
    assert.deepEqual([cross.pruned[0].rows, cross.cross[0].cols], [2 * 9, 8 * 9]);
    // Without padding a 3×3 window fits 6×6 times in 8×8; its centre tap sees the inner positions.
    const activation = await run(exposeTensors(model, ['r1']), 'x', floatData([4, 3, 8, 8], 8));
    let centre = 0;
    for (let s = 0; s < 4; s++) for (let y = 1; y < 7; y++) for (let x = 1; x < 7; x++) centre += activation.data[((s * 8 + 1) * 8 + y) * 8 + x] ** 2;
    const centreFeature = 0 * 9 + 4; // kept channel 1, tap (1, 1)
    assert.ok(Math.abs(cross.pruned[0].data[centreFeature * 18 + centreFeature] - centre) < 1e-6 * centre);
  });

  it('run only the nodes the probed tensors need', () => {
    const exposed = exposeTensors(convBnReluConv(), ['bn']);
    assert.deepEqual(exposed.graph!.node.map((n) => n.name), ['conv1', 'bn1']);
    assert.ok(!exposed.graph!.initializer.some((t) => t.name === 'w2'));
  });
});
