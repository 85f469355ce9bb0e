import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { AttributeProtoSchema, AttributeProto_AttributeType, type ModelProto, TensorProto_DataType } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { findChannelSpaces } from '../src/graph/spaces.ts';
import { indexGraph } from '../src/onnx/graph-index.ts';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { readIntTensor } from '../src/onnx/tensor.ts';
import {
  convBnReluConv,
  convReluFlattenGemm,
  depthwiseSeparable,
  randomArray,
  residualBlock,
} from './helpers/models.ts';
import { floatData, run } from './helpers/run.ts';

const spacesOf = async (model: ModelProto) => (await analyzeModel(model, nodeRuntime)).spaces;

/** input [N,4] → Gemm 4→6 (fc1) → <middle nodes on "h"> → Gemm 6→3 (fc2) reading `readAs`. */
function mlpWith(
  middle: ReturnType<typeof makeNode>[],
  readAs: string,
  extra: ReturnType<typeof floatTensor>[] = [],
): ModelProto {
  return makeModel({
    nodes: [
      makeNode('Gemm', ['x', 'w1', 'b1'], ['h'], {}, 'fc1'),
      ...middle,
      makeNode('Gemm', [readAs, 'w2'], ['y'], {}, 'fc2'),
    ],
    inputs: [valueInfo('x', undefined, ['N', 4])],
    outputs: [valueInfo('y', undefined, ['N', 3])],
    initializers: [
      floatTensor('w1', [4, 6], randomArray(24, 1)),
      floatTensor('b1', [6], randomArray(6, 2)),
      floatTensor('w2', [6, 3], randomArray(18, 3)),
      ...extra,
    ],
  });
}

describe('channel spaces', () => {
  it('follow Conv → BatchNorm → Relu into the next Conv', async () => {
    const [space] = await spacesOf(convBnReluConv());
    assert.equal(space.prunable, true);
    assert.equal(space.channels, 8);
    assert.equal(space.channelwise.length, 2);
    assert.deepEqual(
      space.slices.map((s) => s.input),
      [1, 2, 1, 2, 3, 4],
    );
    assert.deepEqual(
      space.consumers.map((c) => [c.reads, c.weight.axis]),
      [['r1', 1]],
    );
  });

  it('pass through a depthwise Conv, slicing its filters and setting its group to the kept count', async () => {
    const model = depthwiseSeparable();
    const [space] = await spacesOf(model);
    assert.equal(space.prunable, true, space.reason);
    assert.deepEqual(space.groups, [2]);
    const calib = floatData([32, 4, 6, 6], 5);
    const result = await compressModel(model, (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'c'), nodeRuntime, {
      budget: { kind: 'flops', fraction: 0.6 },
    });
    const kept = result.outcomes[0].kept;
    const depthwise = result.model.graph!.node[2];
    assert.equal(Number(depthwise.attribute.find((a) => a.name === 'group')!.i), kept);
    assert.deepEqual((await run(result.bytes, 'x', calib)).dims, [32, 4, 6, 6]);
  });

  it('keep a space read by a grouped (not depthwise) Conv intact', async () => {
    const model = depthwiseSeparable();
    const depthwise = model.graph!.node[2];
    depthwise.attribute.find((a) => a.name === 'group')!.i = 4n;
    model.graph!.initializer = model.graph!.initializer.map((t) =>
      t.name === 'wd' ? floatTensor('wd', [8, 2, 3, 3], randomArray(144, 8)) : t,
    );
    const [space] = await spacesOf(model);
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /grouped Conv \(group 4 on 8 channels\)/);
  });

  it('map a flattened channel to a block of H·W features of the Gemm', async () => {
    const [space] = await spacesOf(convReluFlattenGemm(1));
    assert.deepEqual(space.consumers[0].weight, { node: 3, input: 1, axis: 1, block: 36, offset: 0 });
  });

  it('pass through the Erf form of GELU, whose Mul joins the space with itself', async () => {
    const gelu = [
      makeNode('Div', ['h', 'sqrt2'], ['d']),
      makeNode('Erf', ['d'], ['e']),
      makeNode('Add', ['e', 'one'], ['e1']),
      makeNode('Mul', ['h', 'e1'], ['m']),
      makeNode('Mul', ['m', 'half'], ['g']),
    ];
    const consts = [
      floatTensor('sqrt2', [], [Math.SQRT2]),
      floatTensor('one', [], [1]),
      floatTensor('half', [], [0.5]),
    ];
    const [space] = await spacesOf(mlpWith(gelu, 'g', consts));
    assert.equal(space.prunable, true, space.reason);
    assert.equal(space.channelwise.length, 5);
  });

  it('slice a per-channel constant of Mul and leave a scalar one', async () => {
    const nodes = [makeNode('Mul', ['h', 'scale'], ['s']), makeNode('Add', ['s', 'shift'], ['a'])];
    const [space] = await spacesOf(
      mlpWith(nodes, 'a', [floatTensor('scale', [6], randomArray(6, 4)), floatTensor('shift', [], [0.5])]),
    );
    assert.equal(space.prunable, true);
    assert.deepEqual(
      space.slices.map((s) => [s.node, s.input]),
      [
        [0, 1],
        [0, 2],
        [1, 1],
      ],
    );
  });

  it('leave a scalar constant unsliced where the space holds a single channel', async () => {
    const model = makeModel({
      nodes: [
        makeNode('Gemm', ['x', 'w1'], ['h'], {}, 'fc1'),
        makeNode('Mul', ['h', 'half'], ['m']),
        makeNode('Gemm', ['m', 'w2'], ['y'], {}, 'fc2'),
      ],
      inputs: [valueInfo('x', undefined, ['N', 4])],
      outputs: [valueInfo('y', undefined, ['N', 3])],
      initializers: [
        floatTensor('w1', [4, 1], randomArray(4, 1)),
        floatTensor('half', [], Float64Array.of(0.5)),
        floatTensor('w2', [1, 3], randomArray(3, 2)),
      ],
    });
    const [space] = await spacesOf(model);
    assert.ok(space.prunable);
    assert.deepEqual(
      space.slices.map((s) => model.graph!.node[s.node].name),
      ['fc1'],
    );
  });

  it('pass through a global pooling written as ReduceMean over the spatial axes', async () => {
    const model = makeModel({
      nodes: [
        makeNode('Conv', ['x', 'w1'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
        makeNode('Relu', ['c'], ['r']),
        makeNode('ReduceMean', ['r'], ['pooled'], { axes: [2, 3], keepdims: 0 }, 'pool'),
        makeNode('Gemm', ['pooled', 'w2'], ['y'], { transB: 1 }, 'fc'),
      ],
      inputs: [valueInfo('x', undefined, ['N', 2, 5, 5])],
      outputs: [valueInfo('y', undefined, ['N', 3])],
      initializers: [
        floatTensor('w1', [6, 2, 3, 3], randomArray(108, 6)),
        floatTensor('w2', [3, 6], randomArray(18, 7)),
      ],
    });
    const [space] = await spacesOf(model);
    assert.equal(space.prunable, true, space.reason);
    assert.deepEqual(
      space.consumers.map((c) => [c.reads, c.weight.axis]),
      [['pooled', 1]],
    );
  });

  it('stop at a ReduceMean over the channel axis', async () => {
    const nodes = [
      makeNode('ReduceMean', ['h'], ['m'], { axes: [1], keepdims: 1 }, 'mean'),
      makeNode('Sub', ['h', 'm'], ['centred']),
    ];
    const [space] = await spacesOf(mlpWith(nodes, 'centred'));
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /ReduceMean reduces the channel axis/);
  });

  it('couple the producers of a residual stream into one space', async () => {
    const spaces = await spacesOf(residualBlock());
    const stream = spaces.find((s) => s.producers.length > 1)!;
    assert.equal(stream.prunable, true, stream.reason);
    assert.deepEqual(stream.producers, [0, 4]);
    assert.deepEqual(stream.consumers.map((c) => c.node).sort(), [2, 7]);
    const internal = spaces.find((s) => s.producers[0] === 2)!;
    assert.equal(internal.prunable, true);
    assert.equal(spaces.length, 3, 'stream, block-internal, head output');
  });

  it('leave coupled spaces intact when asked to', async () => {
    const spaces = (await analyzeModel(residualBlock(), nodeRuntime, { keepCoupled: true })).spaces;
    const stream = spaces.find((s) => s.producers.length > 1)!;
    assert.equal(stream.prunable, false);
    assert.match(stream.reason!, /coupled space of 2 producers \(a residual stream\), left intact \(--keep-coupled/);
  });

  it('stop at a join with an activation no prunable layer writes', async () => {
    const nodes = [makeNode('Add', ['h', 'h_in'], ['sum'], {}, 'residual')];
    const model = mlpWith(nodes, 'sum');
    model.graph!.input.push(valueInfo('h_in', undefined, ['N', 6]));
    const [space] = await spacesOf(model);
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /Add "residual" joins these channels with "h_in", which no prunable layer writes/);
  });

  it('stop at an Add whose constant is not a float tensor', async () => {
    const nodes = [
      makeNode('Cast', ['h'], ['hi'], { to: 7 }),
      makeNode('Add', ['hi', 'offset'], ['sum']),
      makeNode('Cast', ['sum'], ['hf'], { to: 1 }),
    ];
    const model = mlpWith(nodes, 'hf');
    model.graph!.initializer.push(int64Tensor('offset', [6], [1, 2, 3, 4, 5, 6]));
    const [space] = await spacesOf(model);
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /Add constant operand is not a float tensor/);
  });

  it('stop at an op without a rule, naming it', async () => {
    const [space] = await spacesOf(mlpWith([makeNode('Hardmax', ['h'], ['p'], { axis: 1 }, 'hardmax')], 'p'));
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /Hardmax "hardmax": no rule for op Hardmax/);
  });

  it('stop where an If branch reads the channels from the outer graph', async () => {
    const branch = (op: string) =>
      makeModel({ nodes: [makeNode(op, ['r'], [`${op}_out`])], inputs: [], outputs: [valueInfo(`${op}_out`)] }).graph!;
    const ifNode = makeNode('If', ['cond'], ['picked'], {}, 'choose');
    ifNode.attribute.push(
      create(AttributeProtoSchema, {
        name: 'then_branch',
        type: AttributeProto_AttributeType.GRAPH,
        g: branch('Relu'),
      }),
      create(AttributeProtoSchema, { name: 'else_branch', type: AttributeProto_AttributeType.GRAPH, g: branch('Neg') }),
    );
    const model = mlpWith([makeNode('Relu', ['h'], ['r'])], 'r');
    model.graph!.node.push(ifNode);
    model.graph!.input.push(valueInfo('cond', TensorProto_DataType.BOOL, []));
    model.graph!.output.push(valueInfo('picked'));
    const index = indexGraph(model);
    const shapes = new Map([
      ['x', [1, 4]],
      ['h', [1, 6]],
      ['r', [1, 6]],
      ['y', [1, 3]],
      ['picked', [1, 6]],
    ]);
    const [space] = findChannelSpaces(index, shapes);
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /If "choose": no rule for op If/);
  });

  for (const [entry, prunable] of [
    [0, true],
    [1, false],
  ] as const) {
    it(
      `${prunable ? 'pass' : 'stop at'} a Shape whose entry ${entry} ` +
        `(${prunable ? 'the batch size' : 'the channel count'}) is read`,
      async () => {
        const model = mlpWith(
          [
            makeNode('Relu', ['h'], ['r']),
            makeNode('Shape', ['r'], ['shape']),
            makeNode('Gather', ['shape', 'entry'], ['size'], { axis: 0 }),
          ],
          'r',
          [],
        );
        model.graph!.initializer.push(int64Tensor('entry', [], [entry]));
        model.graph!.output.push(valueInfo('size', TensorProto_DataType.INT64, []));
        const [space] = await spacesOf(model);
        assert.equal(space.prunable, prunable);
        if (!prunable) assert.match(space.reason!, /the channel count is used in a computation at run time/);
      },
    );
  }

  it('leave intact two spaces whose Reshapes share one shape built at run time', async () => {
    // Two projections, each split into 2 × 4 and merged back, the split shape computed once for both.
    const branch = (name: string) => [
      makeNode('MatMul', ['x', `w_${name}`], [`${name}_mm`], {}, name),
      makeNode('Reshape', [`${name}_mm`, 'split_shape'], [`${name}_4d`]),
      makeNode('Reshape', [`${name}_4d`, 'merge_shape'], [`${name}_3d`]),
      makeNode('MatMul', [`${name}_3d`, `w_${name}_out`], [`${name}_y`], {}, `${name}_out`),
    ];
    const model = makeModel({
      nodes: [
        makeNode('Shape', ['x'], ['x_shape']),
        makeNode('Gather', ['x_shape', 'zero'], ['batch'], { axis: 0 }),
        makeNode('Unsqueeze', ['batch', 'axes'], ['batch1']),
        makeNode('Concat', ['batch1', 'tokens', 'heads', 'width'], ['split_shape'], { axis: 0 }, 'split_shape'),
        ...branch('a'),
        ...branch('b'),
        makeNode('Add', ['a_y', 'b_y'], ['y']),
      ],
      inputs: [valueInfo('x', undefined, ['N', 3, 8])],
      outputs: [valueInfo('y', undefined, ['N', 3, 5])],
      initializers: [
        int64Tensor('zero', [], [0]),
        int64Tensor('axes', [1], [0]),
        int64Tensor('tokens', [1], [3]),
        int64Tensor('heads', [1], [2]),
        int64Tensor('width', [1], [4]),
        int64Tensor('merge_shape', [3], [0, 0, 8]),
        floatTensor('w_a', [8, 8], randomArray(64, 1)),
        floatTensor('w_b', [8, 8], randomArray(64, 2)),
        floatTensor('w_a_out', [8, 5], randomArray(40, 3)),
        floatTensor('w_b_out', [8, 5], randomArray(40, 4)),
      ],
    });
    const spaces = (await spacesOf(model)).filter((s) => s.unit === 4);
    assert.equal(spaces.length, 2);
    for (const space of spaces)
      assert.match(space.reason!, /Concat "split_shape" holds a count or weights that another space also changes/);
  });

  it('stop at an op of a custom domain', async () => {
    const custom = makeNode('Relu', ['h'], ['r'], {}, 'custom');
    custom.domain = 'com.example';
    const model = mlpWith([custom], 'r');
    model.opsetImport.push({ ...model.opsetImport[0], domain: 'com.example', version: 1n });
    const index = indexGraph(model);
    const shapes = new Map([
      ['x', [1, 4]],
      ['h', [1, 6]],
      ['r', [1, 6]],
      ['y', [1, 3]],
    ]);
    const [space] = findChannelSpaces(index, shapes);
    assert.match(space.reason!, /no rule for op com\.example\.Relu/);
  });

  it('keep a space that is a model output intact', async () => {
    const model = mlpWith([makeNode('Relu', ['h'], ['r'])], 'r');
    model.graph!.output.push(valueInfo('r'));
    const [space] = await spacesOf(model);
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /"r" is a model output/);
  });

  it('keep a space read by a grouped Conv intact', async () => {
    const model = convBnReluConv();
    const conv2 = model.graph!.node[3];
    conv2.attribute.push(makeNode('X', [], [], { group: 2 }).attribute[0]);
    model.graph!.initializer = model.graph!.initializer.map((t) =>
      t.name === 'w2' ? floatTensor('w2', [4, 4, 1, 1], randomArray(16, 9)) : t,
    );
    const [space] = await spacesOf(model);
    assert.equal(space.prunable, false);
    assert.match(space.reason!, /grouped Conv \(group 2 on 8 channels\)/);
  });

  it('leave a space named by --skip intact', async () => {
    const spaces = (await analyzeModel(convBnReluConv(), nodeRuntime, { skip: ['conv1'] })).spaces;
    assert.equal(spaces[0].prunable, false);
    assert.match(spaces[0].reason!, /skipped by request \(conv1\)/);
  });

  it('refuse a --skip name that the model does not have', async () => {
    await assert.rejects(
      analyzeModel(convBnReluConv(), nodeRuntime, { skip: ['nope'] }),
      /--skip names no node or tensor of the model: nope/,
    );
  });
});

describe('Reshape into a Gemm', () => {
  function convReshapeGemm(): ModelProto {
    const model = convReluFlattenGemm(1);
    const flatten = model.graph!.node[2];
    Object.assign(flatten, makeNode('Reshape', ['r1', 'flat_shape'], ['f'], {}, 'reshape'));
    model.graph!.initializer.push(int64Tensor('flat_shape', [2], [-1, 216]));
    return model;
  }

  it('is a flatten whose shape constant follows the kept channels', async () => {
    const model = convReshapeGemm();
    const calib = floatData([64, 2, 6, 6], 3);
    const result = await compressModel(model, (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'c'), nodeRuntime, {
      budget: { kind: 'flops', fraction: 0.5 },
    });
    const kept = result.outcomes[0].kept;
    const shape = result.model.graph!.initializer.find((t) => t.name === 'flat_shape')!;
    assert.deepEqual(readIntTensor(shape), [-1, kept * 36]);
    assert.deepEqual((await run(result.bytes, 'x', calib)).dims, [64, 5]);
  });
});
