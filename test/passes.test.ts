import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clone } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType, type ModelProto } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import type { ConsumerProbe } from '../src/calibrate/instrument.ts';
import { collectCrossGrams, CrossGramPasses } from '../src/calibrate/gram-passes.ts';
import { type ConsumerFit, correctionBatchSize } from '../src/compress/correction.ts';
import { replaceWeights } from '../src/compress/surgery.ts';
import { floatTensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { indexGraph } from '../src/onnx/graph-index.ts';
import { decodeModel } from '../src/onnx/model.ts';
import type { Runtime } from '../src/onnx/runtime.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
import { readFloatTensor } from '../src/onnx/tensor.ts';
import { randomArray } from './helpers/models.ts';
import { floatData, maxAbsDiff } from './helpers/run.ts';

/** x [N,2,5,5] → Conv 2→4 → Relu → Conv 4→4 → Relu → Conv 4→3: two depth levels of consumers. */
function threeConvs(): ModelProto {
  const conv = (input: string, weight: string, output: string) =>
    makeNode('Conv', [input, weight], [output], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, output);
  return makeModel({
    nodes: [
      conv('x', 'w1', 'c1'),
      makeNode('Relu', ['c1'], ['r1']),
      conv('r1', 'w2', 'c2'),
      makeNode('Relu', ['c2'], ['r2']),
      conv('r2', 'w3', 'y'),
    ],
    inputs: [valueInfo('x', TensorProto_DataType.FLOAT, ['N', 2, 5, 5])],
    outputs: [valueInfo('y', TensorProto_DataType.FLOAT, ['N', 3, 5, 5])],
    initializers: [
      floatTensor('w1', [4, 2, 3, 3], randomArray(72, 1, 0.5)),
      floatTensor('w2', [4, 4, 3, 3], randomArray(144, 2, 0.5)),
      floatTensor('w3', [3, 4, 3, 3], randomArray(108, 3, 0.5)),
    ],
  });
}

/** The network with one Conv weight scaled: an edited copy with the same structure, as a refit leaves it. */
function scaled(model: ModelProto, weight: string, factor: number): ModelProto {
  const index = indexGraph(model);
  const node = index.nodes.findIndex((n) => n.input[1] === weight);
  const value = readFloatTensor(index.constants.get(weight)!);
  return replaceWeights(model, [
    { node, input: 1, value: { dims: value.dims, data: value.data.map((v) => v * factor) } },
  ]);
}

function consumer(tensor: string, weight: string, model: ModelProto): ConsumerProbe {
  const attributes = model.graph!.node.find((n) => n.input[1] === weight)!.attribute;
  return {
    tensor,
    layout: { axis: 1, block: 1 },
    channels: 4,
    kept: 4,
    conv: { weight: indexGraph(model).constants.get(weight)!, attributes, spatial: [5, 5], stride: [1, 1] },
    rowsPerSample: 25,
  };
}

/** A runtime that records the models it loads. */
function recording(): { runtime: Runtime; loaded: ModelProto[] } {
  const loaded: ModelProto[] = [];
  return {
    loaded,
    runtime: {
      defaultThreads: nodeRuntime.defaultThreads,
      load: (bytes, options) => {
        loaded.push(decodeModel(bytes));
        return nodeRuntime.load(bytes, options);
      },
    },
  };
}

describe('correction passes', () => {
  const original = threeConvs();
  const inputs = inputSpecs(original);
  const dataset = makeDataset(new Map([['x', floatData([7, 2, 5, 5], 4)]]), inputs, 'x');
  const pass = { runtime: nodeRuntime, dataset, inputs, batchSize: 3 };

  it('give each level the products a full pass over the refitted network gives', async () => {
    const passes = new CrossGramPasses(original, pass);
    const pruned = scaled(original, 'w1', 0.9);
    await passes.next(pruned, [consumer('r1', 'w2', original)]);
    const refitted = scaled(pruned, 'w2', 1.1);
    const second = await passes.next(refitted, [consumer('r2', 'w3', original)], { last: true });
    const full = await collectCrossGrams(original, refitted, [consumer('r2', 'w3', original)], pass);
    assert.ok(maxAbsDiff(second.pruned[0].data, full.pruned[0].data) < 1e-6 * Math.max(...full.pruned[0].data));
    assert.ok(maxAbsDiff(second.target[0].data, full.target[0].data) < 1e-6 * Math.max(...full.target[0].data));
  });

  it('run only the nodes earlier passes did not', async () => {
    const { runtime, loaded } = recording();
    const passes = new CrossGramPasses(original, { ...pass, runtime });
    await passes.next(scaled(original, 'w1', 0.9), [consumer('r1', 'w2', original)]);
    await passes.next(scaled(original, 'w1', 0.9), [consumer('r2', 'w3', original)], { last: true });
    const networkOutputs = (m: ModelProto) =>
      m
        .graph!.node.flatMap((n) => n.output)
        .filter((t) => !t.startsWith('__idprune/') || t.startsWith('__idprune/pruned/'));
    assert.deepEqual(networkOutputs(loaded[0]).sort(), ['__idprune/pruned/c1', '__idprune/pruned/r1', 'c1', 'r1']);
    assert.deepEqual(networkOutputs(loaded[1]).sort(), ['__idprune/pruned/c2', '__idprune/pruned/r2', 'c2', 'r2']);
  });

  it(
    'compute once what the original and the pruned network compute alike ' + '(the layers before the first edit)',
    async () => {
      const { runtime, loaded } = recording();
      const pruned = scaled(original, 'w2', 0.9);
      const cross = await new CrossGramPasses(original, { ...pass, runtime }).next(
        pruned,
        [consumer('r2', 'w3', original)],
        { last: true },
      );
      const outputs = loaded[0].graph!.node.flatMap((n) => n.output);
      assert.ok(outputs.includes('r1') && !outputs.includes('__idprune/pruned/r1'), 'the first layer runs once');
      assert.ok(outputs.includes('__idprune/pruned/r2'), 'the edited layer runs in both networks');
      // A deep copy shares no initializer: both networks run in full.
      const separate = await collectCrossGrams(
        original,
        clone(ModelProtoSchema, pruned),
        [consumer('r2', 'w3', original)],
        pass,
      );
      assert.ok(
        maxAbsDiff(cross.pruned[0].data, separate.pruned[0].data) < 1e-6 * Math.max(...separate.pruned[0].data),
      );
    },
  );

  it('run again what was computed from a weight that changed after it ran', async () => {
    const passes = new CrossGramPasses(original, pass);
    await passes.next(original, [consumer('r1', 'w2', original)]);
    const changed = scaled(original, 'w1', 0.5);
    passes.weightsChanged(['c1']);
    const second = await passes.next(changed, [consumer('r2', 'w3', original)], { last: true });
    const full = await collectCrossGrams(original, changed, [consumer('r2', 'w3', original)], pass);
    assert.ok(maxAbsDiff(second.pruned[0].data, full.pruned[0].data) < 1e-6 * Math.max(...full.pruned[0].data));
  });

  it("run batches of fewer samples where one batch of a fit's receptive-field features would be large", () => {
    const fit = (kept: number, rowsPerSample: number) => {
      const weight = floatTensor('w', [8, kept, 3, 3], new Float64Array(8 * kept * 9));
      return {
        probe: {
          tensor: 'r',
          layout: { axis: 1, block: 1 },
          channels: 2 * kept,
          kept,
          conv: { weight, attributes: [], spatial: [56, 56], stride: [1, 1] },
          rowsPerSample,
        },
      } as unknown as ConsumerFit;
    };
    assert.equal(correctionBatchSize([[fit(8, 64)]], 64), 64);
    // 3136 positions × 576 features × 4 bytes: 7.2 MB a sample.
    const batch = correctionBatchSize([[fit(8, 64)], [fit(64, 3136)]], 64);
    const perSample = 3136 * 576 * 4;
    assert.ok(batch < 64 && batch * perSample <= 64 * 2 ** 20 && (batch + 1) * perSample > 64 * 2 ** 20, `${batch}`);
    assert.equal(correctionBatchSize([[fit(512, 50000)]], 64), 1);
  });
});
