// The runtime's latency model (src/compress/latency-model.ts) and the allocation that spends it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TensorProto_DataType } from 'onnx-buf';
import { allocateChannels, type AllocationInput } from '../src/compress/allocate.ts';
import { fitLatencyModel, kernelNode, type LadderRung, latencyCost } from '../src/compress/latency-model.ts';
import type { ChannelRanking } from '../src/compress/selection.ts';
import type { Cost, CostModel } from '../src/graph/cost.ts';
import { makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { indexGraph } from '../src/onnx/graph-index.ts';
import { profiledRuns } from '../src/onnx/runtime-node.ts';

const F = TensorProto_DataType.FLOAT;

/** x → Conv (conv) → Relu (relu, writes r) → MaxPool (pool) → Gemm (fc): names as exporters give them. */
function chain() {
  return indexGraph(
    makeModel({
      nodes: [
        makeNode('Conv', ['x', 'w1'], ['c'], {}, 'conv'),
        makeNode('Relu', ['c'], ['r'], {}, 'relu'),
        makeNode('MaxPool', ['r'], ['p'], { kernel_shape: [2, 2] }, 'pool'),
        makeNode('Gemm', ['p', 'w2'], ['y'], {}, 'fc'),
      ],
      inputs: [valueInfo('x', F, [1, 4])],
      outputs: [valueInfo('y', F, [1, 2])],
      initializers: [],
    }),
  );
}

const names = new Map([
  ['conv', 0],
  ['relu', 1],
  ['pool', 2],
  ['fc', 3],
]);
const isMatrixNode = (node: number) => node === 0 || node === 3;

describe('kernels given back to their nodes', () => {
  it('finds a node by its name, with "fused " before it', () => {
    assert.equal(kernelNode('fused fc', 'FusedGemm', chain(), names, isMatrixNode), 3);
    assert.equal(kernelNode('pool', 'MaxPool', chain(), names, isMatrixNode), 2);
  });

  it("finds a node by its output's name with a suffix the runtime added", () => {
    assert.equal(kernelNode('p_nchwc', 'MaxPool', chain(), names, isMatrixNode), 2);
  });

  it("gives a fused convolution named after its activation's output to the convolution", () => {
    assert.equal(kernelNode('r_nchwc', 'Conv', chain(), names, isMatrixNode), 0);
  });

  it('leaves a kernel no name leads to unattributed', () => {
    assert.equal(kernelNode('ReorderOutput', 'ReorderOutput', chain(), names, isMatrixNode), undefined);
  });
});

describe("the runtime's trace", () => {
  it('groups kernels into the runs whose time spans them', () => {
    const runs = profiledRuns([
      { cat: 'Session', name: 'model_run', ts: 100, dur: 50 },
      { cat: 'Node', name: 'conv_kernel_time', ts: 110, dur: 20, args: { op_name: 'Conv' } },
      { cat: 'Node', name: 'conv_fence_before', ts: 109, dur: 0 },
      { cat: 'Session', name: 'model_run', ts: 200, dur: 30 },
      { cat: 'Node', name: 'fc_kernel_time', ts: 205, dur: 7, args: { op_name: 'Gemm' } },
    ]);
    assert.deepEqual(runs, [
      { microseconds: 50, kernels: [{ name: 'conv', op: 'Conv', microseconds: 20 }] },
      { microseconds: 30, kernels: [{ name: 'fc', op: 'Gemm', microseconds: 7 }] },
    ]);
  });
});

/** Space 0 lies between the Conv and the Gemm (the Conv's output, the Relu's and the pool's). */
const cost: CostModel = {
  flops: [
    { value: 100, spaces: [0], node: 0 },
    { value: 10, spaces: [0], node: 3 },
  ],
  params: [],
  outputs: [
    { value: 8, spaces: [0], node: 0 },
    { value: 8, spaces: [0], node: 1 },
    { value: 4, spaces: [0], node: 2 },
    { value: 2, spaces: [], node: 3 },
  ],
};

/** A rung at `fraction` whose conv kernel takes `convMs` and whose runs take 1 ms more than their kernels. */
function rung(fraction: number, convMs: number, poolMs: number): LadderRung {
  const kernels = [
    { name: 'r', op: 'Conv', microseconds: convMs * 1000 },
    { name: 'pool', op: 'MaxPool', microseconds: poolMs * 1000 },
    { name: 'ReorderOutput', op: 'ReorderOutput', microseconds: 500 },
  ];
  const total = 1000 + kernels.reduce((sum, k) => sum + k.microseconds, 0);
  return { fractions: new Map([[0, fraction]]), runs: [{ microseconds: total, kernels }] };
}

describe('the latency model', () => {
  const model = fitLatencyModel([rung(1, 8, 1), rung(0.5, 3, 0.6), rung(0.25, 4, 0.5)], chain(), cost, names, {
    batch: 1,
    threads: 1,
  });

  it("gives each node a curve over its kept share, never slower where narrower (noise on the conv's rung 0.25)", () => {
    const conv = model.nodes.find((n) => n.node === 0)!;
    assert.deepEqual(conv.shares, [0.25, 0.5, 1]);
    assert.deepEqual(conv.ms, [3, 3, 8]);
  });

  it('counts kernels no space changes and the time between kernels as fixed', () => {
    assert.equal(model.originalMs, 10.5);
    assert.equal(model.fixedMs, 1.5);
  });

  it("models a model's time at any sizes: the fixed part, and each node's time at its share", () => {
    const at = (fraction: number) => latencyCost(model).total(() => fraction);
    assert.equal(at(1), 10.5);
    assert.ok(Math.abs(at(0.75) - (1.5 + 5.5 + 0.8)) < 1e-12);
  });

  it('takes time in proportion to the share below the smallest share measured', () => {
    // The conv's share at fraction 0.125 is 0.125 (half its smallest, 0.25); the pool's likewise.
    assert.ok(Math.abs(latencyCost(model).total(() => 0.125) - (1.5 + 1.5 + 0.25)) < 1e-12);
  });
});

/** Relative errors (1 − k/C)²: each channel removed costs more than the one before. */
function ranking(channels: number): ChannelRanking {
  const relativeError = Float64Array.from({ length: channels + 1 }, (_, k) => (1 - k / channels) ** 2);
  return { order: Array.from({ length: channels }, (_, c) => c), relativeError, rank: channels };
}

describe('a latency budget', () => {
  // Two spaces of equal FLOPs; only space 1's channels cost time.
  const input = (budget: AllocationInput['budget'], latency?: AllocationInput['latency']): AllocationInput => ({
    spaces: new Map([
      [0, { channels: 16, ranking: ranking(16), readPoints: 1 }],
      [1, { channels: 16, ranking: ranking(16), readPoints: 1 }],
    ]),
    flops: [
      { value: 100, spaces: [0] },
      { value: 100, spaces: [1] },
    ],
    params: [],
    latency,
    budget,
    roundTo: 1,
    minKeep: 1,
  });
  const time: Cost = {
    total: (fraction) => 1 + 9 * fraction(1),
    partOf: (space, fraction) => (space === 1 ? 9 * fraction(1) : 0),
  };

  it('removes the channels that cost time, where a FLOPs budget splits evenly', () => {
    const byFlops = allocateChannels(input({ kind: 'flops', fraction: 0.75 }));
    assert.deepEqual([byFlops.get(0), byFlops.get(1)], [12, 12]);
    const byTime = allocateChannels(
      input({ kind: 'latency', fraction: 0.75, batch: 1 }, { cost: time, fraction: 0.75 }),
    );
    assert.equal(byTime.get(0), 16);
    assert.ok(time.total((s) => byTime.get(s)! / 16) <= 0.75 * 10);
  });
});
