import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  type ModelProto,
  TensorProto_DataType,
} from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { randomArray } from './helpers/models.ts';
import { floatData, maxAbsDiff } from './helpers/run.ts';

const F = TensorProto_DataType.FLOAT;

/** A branch: Conv 4→8 → Relu → Conv 8→3 reading the outer input x, with weights of its own seed. */
function branch(name: string, seed: number) {
  return create(GraphProtoSchema, {
    name,
    node: [
      makeNode(
        'Conv',
        ['x', `${name}_w1`],
        [`${name}_c1`],
        { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
        `${name}_conv1`,
      ),
      makeNode('Relu', [`${name}_c1`], [`${name}_r1`]),
      makeNode('Conv', [`${name}_r1`, `${name}_w2`], [`${name}_y`], { kernel_shape: [1, 1] }, `${name}_conv2`),
    ],
    initializer: [
      floatTensor(`${name}_w1`, [8, 4, 3, 3], randomArray(288, seed, 0.4)),
      floatTensor(`${name}_w2`, [3, 8, 1, 1], randomArray(24, seed + 1, 0.4)),
    ],
    output: [valueInfo(`${name}_y`, F)],
  });
}

/** y = If(rate == 16000) then branch A(x) else branch B(x): a network per setting, as Silero VAD is exported. */
function modelWithIf(): ModelProto {
  const graphAttr = (name: string, g: ReturnType<typeof branch>) =>
    create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.GRAPH, g });
  const choose = makeNode('If', ['is16k'], ['y'], {}, 'rate_switch');
  choose.attribute.push(graphAttr('then_branch', branch('a', 10)), graphAttr('else_branch', branch('b', 20)));
  return makeModel({
    nodes: [makeNode('Equal', ['rate', 'sixteen'], ['is16k']), choose],
    inputs: [valueInfo('x', F, ['N', 4, 6, 6]), valueInfo('rate', TensorProto_DataType.INT64, [])],
    outputs: [valueInfo('y', F, ['N', 3, 6, 6])],
    initializers: [int64Tensor('sixteen', [], [16000])],
  });
}

async function outputs(model: ModelProto | Uint8Array, rate: number): Promise<Float64Array> {
  const session = await nodeRuntime.load(model instanceof Uint8Array ? model : encodeModel(model));
  try {
    const x = floatData([5, 4, 6, 6], 3);
    const out = await session.run({
      x: { type: 'float32', dims: x.shape, data: x.data as Float32Array },
      rate: { type: 'int64', dims: [], data: BigInt64Array.of(BigInt(rate)) },
    });
    return Float64Array.from(out.y.data as Float32Array);
  } finally {
    await session.release();
  }
}

const calibration = (rate: number) => (a: { inputs: Parameters<typeof makeDataset>[1] }) =>
  makeDataset(
    new Map([
      ['x', floatData([32, 4, 6, 6], 9)],
      ['rate', { dtype: 'int64' as const, shape: [], data: BigInt64Array.of(BigInt(rate)) }],
    ]),
    a.inputs,
    'calib',
  );

describe('an If whose branch the calibration data fixes', () => {
  it('is compressed inside the branch the data takes, and the If is kept', async () => {
    const result = await compressModel(modelWithIf(), calibration(16000), nodeRuntime, {
      budget: { kind: 'keep', neurons: 0.5 },
    });
    assert.deepEqual(result.branches, ['If "rate_switch": then branch']);
    const compressed = decodeModel(result.bytes);
    assert.deepEqual(
      compressed.graph!.node.map((n) => n.opType),
      ['Equal', 'If'],
    );
    const weight = compressed.graph!.initializer.find(
      (t) => t.name === compressed.graph!.node[1].attribute.find((a) => a.name === 'then_branch')!.g!.node[0].input[1],
    )!;
    assert.deepEqual(weight.dims.map(Number), [4, 4, 3, 3], 'the taken branch keeps 4 of its 8 channels');
    const after = await outputs(result.bytes, 16000);
    assert.equal(after.length, (await outputs(modelWithIf(), 16000)).length);
    assert.ok(after.every(Number.isFinite));
  });

  it('leaves the other branch as it was: the compressed model computes it exactly', async () => {
    const result = await compressModel(modelWithIf(), calibration(16000), nodeRuntime, {
      budget: { kind: 'keep', neurons: 0.5 },
    });
    assert.ok(maxAbsDiff(await outputs(result.bytes, 8000), await outputs(modelWithIf(), 8000)) < 1e-6);
  });
});
