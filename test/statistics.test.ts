import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { exposeTensors, gramBlocks, gramModel } from '../src/calibrate/instrument.ts';
import { collectCrossGrams, collectGrams } from '../src/calibrate/gram-passes.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { TensorProto_DataType } from 'onnx-buf';
import { makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { feedForward, HIDDEN } from './helpers/attention.ts';
import { convBnReluConv, convReluFlattenGemm } from './helpers/models.ts';
import { floatData, maxAbsDiff, run } from './helpers/run.ts';
import { solveSymmetric } from '../src/linalg/solve.ts';
import { transpose } from '../src/linalg/matrix.ts';
import { readFloatTensor } from '../src/onnx/tensor.ts';

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
  let diff = 0,
    norm = 0;
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
    const [gram] = await collectGrams(model, [probe], {
      runtime: nodeRuntime,
      dataset,
      inputs: analysis.inputs,
      batchSize: 3,
    });
    const activation = await run(exposeTensors(model, ['r1']), 'x', x);
    assert.ok(relativeDifference(gram.data, directGram(activation.data, [10, 8, 8, 8])) < 1e-6);
  });

  it('leave padding tokens (attention mask 0) out of the Gram matrix of token activations', async () => {
    const model = feedForward('relu');
    model.graph!.input.push(valueInfo('attention_mask', TensorProto_DataType.INT64, ['N', 'T']));
    const analysis = await analyzeModel(model, nodeRuntime, {
      sampleDims: { x: [1, 4, HIDDEN], attention_mask: [1, 4] },
    });
    const x = floatData([5, 4, HIDDEN], 8);
    const mask = {
      dtype: 'int64' as const,
      shape: [5, 4],
      data: BigInt64Array.from({ length: 20 }, (_, i) => (i % 4 < 1 + (Math.floor(i / 4) % 4) ? 1n : 0n)),
    };
    const dataset = makeDataset(
      new Map([
        ['x', x],
        ['attention_mask', mask],
      ]),
      analysis.inputs,
      'calib',
    );
    const probe = {
      tensor: 'x',
      layout: { axis: 2, block: 1 },
      channels: HIDDEN,
      shape: [1, 4, HIDDEN],
      rowMask: 'attention_mask',
    };
    const [gram] = await collectGrams(model, [probe], {
      runtime: nodeRuntime,
      dataset,
      inputs: analysis.inputs,
      batchSize: 2,
    });
    const expected = new Float64Array(HIDDEN * HIDDEN);
    for (let row = 0; row < 20; row++) {
      if (mask.data[row] === 0n) continue;
      for (let i = 0; i < HIDDEN; i++)
        for (let j = 0; j < HIDDEN; j++)
          expected[i * HIDDEN + j] += Number(x.data[row * HIDDEN + i]) * Number(x.data[row * HIDDEN + j]);
    }
    assert.ok(relativeDifference(gram.data, expected) < 1e-6);
  });

  it('give the same Gram matrix for a flattened read point as for the tensor before Flatten', async () => {
    const model = convReluFlattenGemm(0);
    const analysis = await analyzeModel(model, nodeRuntime);
    const dataset = makeDataset(new Map([['x', floatData([12, 2, 6, 6], 6)]]), analysis.inputs, 'x');
    const pass = { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 5 };
    const [flat, spatial] = await collectGrams(
      model,
      [
        { tensor: 'f', layout: { axis: 1, block: 36 }, channels: 6, shape: [1, 216] },
        { tensor: 'r1', layout: { axis: 1, block: 1 }, channels: 6, shape: [1, 6, 6, 6] },
      ],
      pass,
    );
    assert.ok(relativeDifference(flat.data, spatial.data) < 1e-12);
  });

  it('cross-Gram of a model with itself, all channels kept, equals its Gram matrix', async () => {
    const model = convReluFlattenGemm(0);
    const analysis = await analyzeModel(model, nodeRuntime);
    const dataset = makeDataset(new Map([['x', floatData([6, 2, 6, 6], 7)]]), analysis.inputs, 'x');
    const pass = { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 4 };
    const [gram] = await collectGrams(
      model,
      [{ tensor: 'r1', layout: { axis: 1, block: 1 }, channels: 6, shape: [1, 6, 6, 6] }],
      pass,
    );
    const flat = { tensor: 'f', layout: { axis: 1, block: 36 }, channels: 6, kept: 6, rowsPerSample: 36 };
    const cross = await collectCrossGrams(model, model, [flat], pass);
    // Per-batch products run in float32.
    assert.ok(relativeDifference(cross.pruned[0].data, gram.data) < 1e-6);
    assert.ok(relativeDifference(cross.target[0].data, gram.data) < 1e-6);
  });

  it('refit a Conv consumer on the unpruned network to its own weight', async () => {
    const model = convBnReluConv();
    const analysis = await analyzeModel(model, nodeRuntime);
    const dataset = makeDataset(new Map([['x', floatData([16, 3, 8, 8], 8)]]), analysis.inputs, 'x');
    const pass = { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 8 };
    const weight = analysis.index.constants.get('w2')!;
    const probe = {
      tensor: 'r1',
      layout: { axis: 1, block: 1 },
      channels: 8,
      kept: 8,
      conv: { weight, attributes: [], spatial: [8, 8], stride: [1, 1] },
      rowsPerSample: 64,
    };
    const cross = await collectCrossGrams(model, model, [probe], pass);
    assert.deepEqual([cross.pruned[0].rows, cross.target[0].cols], [8, 4]);
    // Solving (PᵀP) W'ᵀ = PᵀY recovers W when nothing was pruned.
    const refit = transpose(solveSymmetric(cross.pruned[0], cross.target[0], 1e-9));
    assert.ok(maxAbsDiff(refit.data, readFloatTensor(weight).data) < 1e-4);
  });

  it(
    "split a Conv consumer's products into the samples of even and odd index, " +
      'whatever the batch size, and still sum them all',
    async () => {
      const model = convBnReluConv();
      const analysis = await analyzeModel(model, nodeRuntime);
      const x = floatData([7, 3, 8, 8], 12);
      const weight = analysis.index.constants.get('w2')!;
      const probe = {
        tensor: 'r1',
        layout: { axis: 1, block: 1 },
        channels: 8,
        kept: 8,
        conv: { weight, attributes: [], spatial: [8, 8], stride: [1, 1] },
        split: true,
        rowsPerSample: 64,
      };
      const evenSamples = {
        ...x,
        shape: [4, 3, 8, 8],
        data: Float32Array.from(
          { length: 4 * 192 },
          (_, i) => (x.data as Float32Array)[2 * Math.floor(i / 192) * 192 + (i % 192)],
        ),
      };
      const onEven = await collectCrossGrams(model, model, [{ ...probe, split: false }], {
        runtime: nodeRuntime,
        dataset: makeDataset(new Map([['x', evenSamples]]), analysis.inputs, 'even'),
        inputs: analysis.inputs,
        batchSize: 4,
      });
      const dataset = makeDataset(new Map([['x', x]]), analysis.inputs, 'x');
      const whole = await collectCrossGrams(model, model, [{ ...probe, split: false }], {
        runtime: nodeRuntime,
        dataset,
        inputs: analysis.inputs,
        batchSize: 7,
      });
      for (const batchSize of [1, 2, 3]) {
        const cross = await collectCrossGrams(model, model, [probe], {
          runtime: nodeRuntime,
          dataset,
          inputs: analysis.inputs,
          batchSize,
        });
        assert.ok(
          relativeDifference(cross.folds[0]!.even.pruned.data, onEven.pruned[0].data) < 1e-5,
          `batch size ${batchSize}`,
        );
        assert.ok(
          relativeDifference(cross.folds[0]!.even.target.data, onEven.target[0].data) < 1e-5,
          `batch size ${batchSize}`,
        );
        const odd = whole.pruned[0].data.map((v, j) => v - onEven.pruned[0].data[j]);
        assert.ok(
          relativeDifference(cross.folds[0]!.odd.pruned.data, odd) < 1e-5,
          `odd samples, batch size ${batchSize}`,
        );
        assert.ok(
          relativeDifference(cross.pruned[0].data, whole.pruned[0].data) < 1e-5,
          `all samples, batch size ${batchSize}`,
        );
        assert.ok(
          relativeDifference(cross.target[0].data, whole.target[0].data) < 1e-5,
          `all samples, batch size ${batchSize}`,
        );
      }
    },
  );

  it('sample every stride-th output position of a Conv consumer', async () => {
    const model = convBnReluConv();
    const analysis = await analyzeModel(model, nodeRuntime);
    const x = floatData([2, 3, 8, 8], 9);
    const dataset = makeDataset(new Map([['x', x]]), analysis.inputs, 'x');
    const pass = { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 2 };
    const weight = analysis.index.constants.get('w2')!;
    const probe = {
      tensor: 'r1',
      layout: { axis: 1, block: 1 },
      channels: 8,
      kept: 8,
      conv: { weight, attributes: [], spatial: [8, 8], stride: [2, 4] },
      rowsPerSample: 8,
    };
    const cross = await collectCrossGrams(model, model, [probe], pass);
    const activation = await run(exposeTensors(model, ['r1']), 'x', x);
    let expected = 0;
    for (let s = 0; s < 2; s++)
      for (let y = 0; y < 8; y += 2)
        for (let col = 0; col < 8; col += 4) expected += activation.data[((s * 8 + 3) * 8 + y) * 8 + col] ** 2;
    assert.ok(Math.abs(cross.pruned[0].data[3 * 8 + 3] - expected) < 1e-5 * expected);
  });

  for (const opset of [9, 13])
    it(`compute a wide Gram matrix by blocks of columns, equal to the direct product (opset ${opset})`, async () => {
      const width = 700;
      const model = makeModel({
        nodes: [makeNode('Relu', ['x'], ['r'], {}, 'relu'), makeNode('Neg', ['r'], ['y'], {}, 'neg')],
        inputs: [valueInfo('x', TensorProto_DataType.FLOAT, ['N', width])],
        outputs: [valueInfo('y', TensorProto_DataType.FLOAT, ['N', width])],
        opset,
      });
      assert.ok(gramBlocks(width).length > 1);
      const analysis = await analyzeModel(model, nodeRuntime);
      const x = floatData([9, width], 13);
      const dataset = makeDataset(new Map([['x', x]]), analysis.inputs, 'x');
      const probe = { tensor: 'r', layout: { axis: 1, block: 1 }, channels: width, shape: [1, width] };
      const [gram] = await collectGrams(model, [probe], {
        runtime: nodeRuntime,
        dataset,
        inputs: analysis.inputs,
        batchSize: 4,
      });
      const r = Array.from(x.data as Float32Array, (v) => Math.max(0, v));
      const expected = new Float64Array(width * width);
      for (let s = 0; s < 9; s++)
        for (let i = 0; i < width; i++)
          for (let j = 0; j < width; j++) expected[i * width + j] += r[s * width + i] * r[s * width + j];
      assert.ok(relativeDifference(gram.data, expected) < 1e-6);
    });

  it('split Gram matrices into blocks that cover every column once, a few hundred columns wide', () => {
    for (const features of [1, 255, 511, 512, 1000, 2304, 4608]) {
      const blocks = gramBlocks(features);
      assert.equal(
        blocks.reduce((sum, b) => {
          assert.equal(b.from, sum);
          return sum + b.width;
        }, 0),
        features,
      );
      assert.ok(blocks.length === 1 || blocks.every((b) => b.width >= 256), `${features}`);
    }
  });

  it('append the products of deeper probes first, so that ONNX Runtime runs each right after its layer', () => {
    const model = convBnReluConv();
    const probes = [
      { tensor: 'bn', layout: { axis: 1, block: 1 }, channels: 8, shape: [1, 8, 8, 8] },
      { tensor: 'r1', layout: { axis: 1, block: 1 }, channels: 8, shape: [1, 8, 8, 8] },
    ];
    const nodes = gramModel(model, probes).graph!.node;
    const firstReader = (tensor: string) =>
      nodes.findIndex((n) => n.input.includes(tensor) && n.output.some((o) => o.startsWith('__idprune')));
    assert.ok(firstReader('r1') < firstReader('bn'));
  });

  it('run only the nodes the probed tensors need', () => {
    const exposed = exposeTensors(convBnReluConv(), ['bn']);
    assert.deepEqual(
      exposed.graph!.node.map((n) => n.name),
      ['conv1', 'bn1'],
    );
    assert.ok(!exposed.graph!.initializer.some((t) => t.name === 'w2'));
  });
});
