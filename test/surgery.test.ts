import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ModelProto, TensorProto_DataType } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { floatTensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { readFloatTensor } from '../src/onnx/tensor.ts';
import {
  convBnReluConv,
  convReluFlattenGemm,
  depthwiseSeparable,
  gemmChain,
  matmulAddReluMatmul,
  randomArray,
  residualBlock,
  toFloat16,
} from './helpers/models.ts';
import { keepEverything } from './helpers/keep.ts';
import { floatData, halfData, maxAbsDiff, run } from './helpers/run.ts';

const cases: [string, () => ModelProto, number[]][] = [
  ['Conv → BatchNorm → Relu → Conv', () => convBnReluConv(), [16, 3, 8, 8]],
  ['Conv → Relu → Flatten → Gemm (transB 0)', () => convReluFlattenGemm(0), [16, 2, 6, 6]],
  ['Conv → Relu → Flatten → Gemm (transB 1)', () => convReluFlattenGemm(1), [16, 2, 6, 6]],
  ['MatMul → Add → Relu → MatMul', () => matmulAddReluMatmul(), [16, 10]],
  ['Gemm chain (transB 0)', () => gemmChain(0), [16, 8]],
  ['Gemm chain (transB 1)', () => gemmChain(1), [16, 8]],
  ['Conv → Relu → depthwise Conv → Relu → Conv', () => depthwiseSeparable(), [16, 4, 6, 6]],
  ['residual block: stem and block output coupled', () => residualBlock(), [16, 4, 6, 6]],
];

describe('surgery keeping every channel reproduces the model', () => {
  for (const [name, build, shape] of cases) {
    it(name, async () => {
      const model = build();
      const x = floatData(shape, 42);
      const before = await run(model, 'x', x);
      const after = await run(await keepEverything(model), 'x', x);
      assert.ok(maxAbsDiff(before.data, after.data) < 1e-5);
    });
  }

  it('with float16 weights', async () => {
    const model = toFloat16(convBnReluConv());
    const x = halfData([8, 3, 8, 8], 43);
    const before = await run(model, 'x', x);
    const after = await run(await keepEverything(model), 'x', x);
    assert.ok(maxAbsDiff(before.data, after.data) < 1e-5);
  });
});

describe('compression', () => {
  for (const [name, build, shape] of cases) {
    it(`of ${name} loads in ONNX Runtime with the same input and output names`, async () => {
      const model = build();
      const calib = floatData([64, ...shape.slice(1)], 7);
      const result = await compressModel(
        model,
        (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
        nodeRuntime,
        {
          budget: { kind: 'flops', fraction: 0.7 },
        },
      );
      assert.ok(
        result.outcomes.some((o) => o.kept < o.space.channels),
        'some channels were removed',
      );
      const before = await run(model, 'x', calib);
      const after = await run(result.bytes, 'x', calib);
      assert.deepEqual(after.inputNames, before.inputNames);
      assert.deepEqual(after.outputNames, before.outputNames);
      assert.deepEqual(after.dims, before.dims);
    });
  }

  const compressGemmChain = (fraction: number, roundTo?: number) => {
    const calib = floatData([64, 8], 7);
    return compressModel(gemmChain(1), (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'), nodeRuntime, {
      budget: { kind: 'flops', fraction },
      mode: 'plain',
      roundTo,
    });
  };

  /** Gemm 8 → 96 → 16 → 4: one space wide enough for steps of 8, one that is not. */
  const compressWideChain = (fraction: number) => {
    const model = makeModel({
      nodes: [
        makeNode('Gemm', ['x', 'w1'], ['g1'], { transB: 1 }, 'fc1'),
        makeNode('Relu', ['g1'], ['r1'], {}, 'relu1'),
        makeNode('Gemm', ['r1', 'w2'], ['g2'], { transB: 1 }, 'fc2'),
        makeNode('Relu', ['g2'], ['r2'], {}, 'relu2'),
        makeNode('Gemm', ['r2', 'w3'], ['y'], { transB: 1 }, 'fc3'),
      ],
      inputs: [valueInfo('x', TensorProto_DataType.FLOAT, ['N', 8])],
      outputs: [valueInfo('y', TensorProto_DataType.FLOAT, ['N', 4])],
      initializers: [
        floatTensor('w1', [96, 8], randomArray(768, 11, 0.5)),
        floatTensor('w2', [16, 96], randomArray(1536, 12, 0.2)),
        floatTensor('w3', [4, 16], randomArray(64, 13, 0.3)),
      ],
    });
    return compressModel(
      model,
      (a) => makeDataset(new Map([['x', floatData([256, 8], 7)]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction },
        mode: 'plain',
      },
    );
  };

  it(
    'by default, keeps multiples of 8 neurons in a wide space, ' +
      'and may keep finer counts in a narrow one without convolutions',
    async () => {
      const result = await compressWideChain(0.5);
      assert.equal(result.roundTo, 8);
      const [wide, narrow] = result.outcomes;
      assert.equal(wide.space.channels, 96);
      assert.ok(wide.kept < 96, 'the wide space was pruned');
      assert.equal(wide.kept % 8, 0);
      assert.equal(narrow.space.channels, 16);
      assert.equal(result.finerOnNarrow, true);
      assert.equal(result.model.metadataProps.find((p) => p.key === 'idprune.round_to')?.value, '8');
    },
  );

  /** x [N,3,8,8] → Conv 3→C → Relu → Conv 1×1 C→4, compressed to half its FLOPs in the plain mode. */
  const compressConvPair = (channels: number) =>
    compressModel(
      makeModel({
        nodes: [
          makeNode('Conv', ['x', 'w1'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv1'),
          makeNode('Relu', ['c1'], ['r1'], {}, 'relu1'),
          makeNode('Conv', ['r1', 'w2'], ['y'], { kernel_shape: [1, 1] }, 'conv2'),
        ],
        inputs: [valueInfo('x', TensorProto_DataType.FLOAT, ['N', 3, 8, 8])],
        outputs: [valueInfo('y', TensorProto_DataType.FLOAT, ['N', 4, 8, 8])],
        initializers: [
          floatTensor('w1', [channels, 3, 3, 3], randomArray(channels * 27, 14, 0.5)),
          floatTensor('w2', [4, channels, 1, 1], randomArray(channels * 4, 15, 0.3)),
        ],
      }),
      (a) => makeDataset(new Map([['x', floatData([96, 3, 8, 8], 9)]]), a.inputs, 'calib'),
      nodeRuntime,
      { budget: { kind: 'flops', fraction: 0.5 }, mode: 'plain' },
    );

  it('by default, keeps multiples of 8 channels in a narrow space that convolutions write and read', async () => {
    const result = await compressConvPair(24);
    assert.equal(result.outcomes[0].kept, 8);
    assert.equal(result.finerOnNarrow, false);
  });

  it('by default, keeps multiples of 16 channels in a convolution space of 32 or more', async () => {
    const result = await compressConvPair(80);
    assert.equal(result.outcomes[0].kept % 16, 0);
    assert.ok(result.outcomes[0].kept < 80);
    assert.equal(
      result.model.metadataProps.find((p) => p.key === 'idprune.round_to')?.value,
      '8, 16 in convolutions of 32 channels or more',
    );
  });

  it('by default, keeps single neurons where multiples of 8 cannot meet the target', async () => {
    // With 8 of the 96 and 1 of the 16 neurons, 3.2% of the FLOPs remain: more than the 2% asked for.
    const result = await compressWideChain(0.02);
    assert.equal(result.roundTo, 1);
    assert.ok(result.outcomes[0].kept < 8);
  });

  it('refuses an explicit rounding that cannot meet the target, naming the way out', async () => {
    await assert.rejects(compressGemmChain(0.3, 8), /not reachable.*multiples of 8.*--round-to 1/);
  });

  it('removes duplicated channels with zero error', async () => {
    const model = convBnReluConv();
    const graph = model.graph!;
    // Make output channels 4..7 of the first conv (and their BatchNorm parameters) copies of 0..3.
    for (const name of ['w1', 'b1', 'scale', 'shift', 'mean', 'var']) {
      const index = graph.initializer.findIndex((t) => t.name === name);
      const value = readFloatTensor(graph.initializer[index]);
      const per = value.data.length / 8;
      for (let i = 0; i < 4 * per; i++) value.data[4 * per + i] = value.data[i];
      graph.initializer[index] = floatTensor(name, value.dims, value.data);
    }
    const calib = floatData([32, 3, 8, 8], 8);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'tolerance', error: 1e-6 },
        mode: 'plain',
        roundTo: 1,
      },
    );
    assert.equal(result.outcomes[0].kept, 4);
    const held = floatData([16, 3, 8, 8], 9);
    assert.ok(maxAbsDiff((await run(model, 'x', held)).data, (await run(result.bytes, 'x', held)).data) < 1e-4);
  });

  it('slices weights held in Constant nodes', async () => {
    const model = matmulAddReluMatmul();
    const graph = model.graph!;
    for (const t of graph.initializer.splice(0)) graph.node.unshift(makeNode('Constant', [], [t.name], { value: t }));
    const calib = floatData([64, 10], 10);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.6 },
      },
    );
    assert.equal(result.model.graph!.initializer.length, 0, 'weights stay in Constant nodes');
    const kept = result.outcomes[0].kept;
    const w1 = result.model.graph!.node.find((n) => n.output[0] === 'w1')!.attribute[0].t!;
    assert.deepEqual(readFloatTensor(w1).dims, [10, kept]);
    assert.deepEqual((await run(result.bytes, 'x', calib)).dims, [64, 3]);
  });
});

describe('surgery on shared constants', () => {
  it('copies a constant read by two nodes before changing it for one', async () => {
    const model = matmulAddReluMatmul();
    const graph = model.graph!;
    // fc1's bias is also read by a node outside the space: that reader must see it unchanged.
    graph.node.push(makeNode('ReduceSum', ['b1'], ['bias_sum'], { keepdims: 0 }, 'reads_bias'));
    graph.output.push(valueInfo('bias_sum'));
    const calib = floatData([32, 10], 11);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.6 },
      },
    );
    assert.ok(result.outcomes[0].kept < 12);
    const session = await nodeRuntime.load(result.bytes);
    const out = await session.run({ x: { type: 'float32', dims: [32, 10], data: calib.data as Float32Array } }, [
      'bias_sum',
    ]);
    const expected = readFloatTensor(graph.initializer.find((t) => t.name === 'b1')!).data.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs((out.bias_sum.data as Float32Array)[0] - expected) < 1e-5);
    await session.release();
  });
});

describe('float16 models', () => {
  it('compress with float16 calibration data and keep float16 weights', async () => {
    const model = toFloat16(convBnReluConv());
    const calib = halfData([32, 3, 8, 8], 12);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.6 },
      },
    );
    assert.ok(result.model.graph!.initializer.every((t) => t.dataType === TensorProto_DataType.FLOAT16));
    const out = await run(result.bytes, 'x', calib);
    assert.deepEqual(out.dims, [32, 4, 8, 8]);
    assert.ok(out.data.every(Number.isFinite));
  });
});

describe('models with a fixed batch size', () => {
  it('of 1 compress, feeding one sample at a time', async () => {
    const model = convBnReluConv();
    model.graph!.input[0] = valueInfo('x', TensorProto_DataType.FLOAT, [1, 3, 8, 8]);
    const calib = floatData([20, 3, 8, 8], 13);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.6 },
      },
    );
    assert.equal(result.calibrationSamples, 20);
    assert.ok(result.outcomes[0].kept < 8);
    assert.deepEqual((await run(result.bytes, 'x', floatData([1, 3, 8, 8], 14))).dims, [1, 4, 8, 8]);
  });
});

describe('constants reached through Identity', () => {
  it('are followed, and an edited one becomes a new initializer while the shared one stays', async () => {
    const model = matmulAddReluMatmul();
    const graph = model.graph!;
    // PyTorch exports write a shared initializer once and hand out copies through Identity nodes.
    graph.node.unshift(makeNode('Identity', ['b1'], ['b1_copy']));
    graph.node.find((n) => n.name === 'bias1')!.input[1] = 'b1_copy';
    const calib = floatData([32, 10], 15);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.6 },
      },
    );
    assert.ok(result.analysis.spaces[0].prunable, result.analysis.spaces[0].reason);
    const kept = result.outcomes[0].kept;
    const out = result.model.graph!;
    const bias = out.node.find((n) => n.name === 'bias1')!.input[1];
    assert.notEqual(bias, 'b1_copy');
    assert.deepEqual(readFloatTensor(out.initializer.find((t) => t.name === bias)!).dims, [kept]);
    assert.deepEqual(readFloatTensor(out.initializer.find((t) => t.name === 'b1')!).dims, [12]);
    assert.deepEqual((await run(result.bytes, 'x', calib)).dims, [32, 3]);
  });
});

describe('coupled spaces', () => {
  it('slice every producer of a residual stream to the same channels', async () => {
    const model = residualBlock();
    const calib = floatData([48, 4, 6, 6], 16);
    // With the block-internal space skipped, only the stream can give.
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.7 },
        skip: ['r1'],
      },
    );
    const stream = result.outcomes.find((o) => o.space.producers.length > 1)!;
    assert.ok(stream.kept < 8, 'the stream is pruned');
    const weight = (name: string) => readFloatTensor(result.model.graph!.initializer.find((t) => t.name === name)!);
    const original = (name: string) => readFloatTensor(model.graph!.initializer.find((t) => t.name === name)!);
    // The stem's kept filters are the original filters of the kept channels, and the block's last
    // Conv writes exactly those channels.
    const stem = weight('w0');
    assert.deepEqual(stem.dims, [stream.kept, 4, 3, 3]);
    stream.keep.forEach((c, i) => {
      assert.deepEqual(
        [...stem.data.subarray(i * 36, (i + 1) * 36)],
        [...original('w0').data.subarray(c * 36, (c + 1) * 36)].map((v) => Math.fround(v)),
      );
    });
    assert.deepEqual(weight('w2').dims[0], stream.kept);
    assert.deepEqual(weight('b2').dims, [stream.kept]);
    assert.deepEqual((await run(result.bytes, 'x', calib)).dims, [48, 3, 6, 6]);
  });
});

describe('input shapes', () => {
  it('free spatial dimensions are probed at the size of the calibration data', async () => {
    const model = convBnReluConv();
    model.graph!.input[0] = valueInfo('x', TensorProto_DataType.FLOAT, ['N', 3, 'H', 'W']);
    model.graph!.output[0] = valueInfo('y', TensorProto_DataType.FLOAT, ['N', 4, 'H', 'W']);
    const calib = floatData([32, 3, 8, 8], 17);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.6 },
        mode: 'plain',
      },
    );
    assert.deepEqual(result.analysis.shapes.get('r1'), [1, 8, 8, 8]);
    // 8×8 positions: Conv 8 × 64 × 27 plus Conv 4 × 64 × 8 MACs.
    assert.equal(result.analysis.flops, 8 * 64 * 27 + 4 * 64 * 8);
  });

  it('data that cannot fill one batch of a fixed batch size is refused', async () => {
    const model = convBnReluConv();
    model.graph!.input[0] = valueInfo('x', TensorProto_DataType.FLOAT, [8, 3, 8, 8]);
    const calib = floatData([5, 3, 8, 8], 18);
    await assert.rejects(
      compressModel(model, (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib.npy'), nodeRuntime, {
        budget: { kind: 'flops', fraction: 0.6 },
      }),
      /calib.npy: 5 samples, fewer than the model's fixed batch size 8/,
    );
  });

  it('initializers also listed as graph inputs (older exports) follow their new shapes', async () => {
    const model = convBnReluConv();
    const graph = model.graph!;
    graph.input.push(...graph.initializer.map((t) => valueInfo(t.name, t.dataType, t.dims.map(Number))));
    const calib = floatData([32, 3, 8, 8], 19);
    for (const mode of ['plain', 'corrected'] as const) {
      const result = await compressModel(
        model,
        (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
        nodeRuntime,
        {
          budget: { kind: 'flops', fraction: 0.6 },
          mode,
        },
      );
      assert.ok(result.outcomes[0].kept < 8);
      assert.deepEqual((await run(result.bytes, 'x', calib)).dims, [32, 4, 8, 8]);
    }
  });
});

describe('copies of shared constants', () => {
  it('never take a name the model already has (as after an earlier pass)', async () => {
    const model = matmulAddReluMatmul();
    const graph = model.graph!;
    // fc1's bias is shared, and the name a first copy would take is already in use.
    graph.node.push(makeNode('ReduceSum', ['b1'], ['bias_sum'], { keepdims: 0 }, 'reads_bias'));
    graph.initializer.push(floatTensor('b1__idprune1', [1], [7]));
    graph.node.push(makeNode('Identity', ['b1__idprune1'], ['seven'], {}, 'reads_seven'));
    graph.output.push(valueInfo('bias_sum'), valueInfo('seven'));
    const calib = floatData([32, 10], 20);
    const result = await compressModel(
      model,
      (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'calib'),
      nodeRuntime,
      {
        budget: { kind: 'flops', fraction: 0.6 },
      },
    );
    const names = result.model.graph!.initializer.map((t) => t.name);
    assert.equal(new Set(names).size, names.length);
    const session = await nodeRuntime.load(result.bytes);
    const out = await session.run({ x: { type: 'float32', dims: [32, 10], data: calib.data as Float32Array } }, [
      'seven',
    ]);
    assert.deepEqual([...(out.seven.data as Float32Array)], [7]);
    await session.release();
  });
});
