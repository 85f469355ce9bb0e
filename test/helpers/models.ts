import type { ModelProto } from 'onnx-buf';
import { TensorProto_DataType } from 'onnx-buf';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../../src/onnx/build.ts';
import { readFloatTensor } from '../../src/onnx/tensor.ts';

/** Deterministic pseudo-random numbers (mulberry32) so test models are the same on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float64Array {
  const rand = random(seed);
  return Float64Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}

const F = TensorProto_DataType.FLOAT;

/** input [N,3,8,8] → Conv 3→8 → BatchNorm → Relu → Conv 8→4 → output [N,4,8,8]. */
export function convBnReluConv(seed = 1): ModelProto {
  return makeModel({
    nodes: [
      makeNode('Conv', ['x', 'w1', 'b1'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv1'),
      makeNode('BatchNormalization', ['c1', 'scale', 'shift', 'mean', 'var'], ['bn'], {}, 'bn1'),
      makeNode('Relu', ['bn'], ['r1'], {}, 'relu1'),
      makeNode('Conv', ['r1', 'w2', 'b2'], ['y'], { kernel_shape: [1, 1] }, 'conv2'),
    ],
    inputs: [valueInfo('x', F, ['N', 3, 8, 8])],
    outputs: [valueInfo('y', F, ['N', 4, 8, 8])],
    initializers: [
      floatTensor('w1', [8, 3, 3, 3], randomArray(216, seed, 0.5)),
      floatTensor('b1', [8], randomArray(8, seed + 1, 0.1)),
      floatTensor(
        'scale',
        [8],
        randomArray(8, seed + 2).map((v) => 1 + 0.3 * v),
      ),
      floatTensor('shift', [8], randomArray(8, seed + 3, 0.2)),
      floatTensor('mean', [8], randomArray(8, seed + 4, 0.1)),
      floatTensor(
        'var',
        [8],
        randomArray(8, seed + 5).map((v) => 1 + 0.5 * Math.abs(v)),
      ),
      floatTensor('w2', [4, 8, 1, 1], randomArray(32, seed + 6, 0.5)),
      floatTensor('b2', [4], randomArray(4, seed + 7, 0.1)),
    ],
  });
}

/** input [N,2,6,6] → Conv 2→6 → Relu → Flatten → Gemm (216→5, transB as given). */
export function convReluFlattenGemm(transB: 0 | 1, seed = 2): ModelProto {
  const w = randomArray(216 * 5, seed + 2, 0.2);
  return makeModel({
    nodes: [
      makeNode('Conv', ['x', 'w1'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
      makeNode('Relu', ['c1'], ['r1'], {}, 'relu'),
      makeNode('Flatten', ['r1'], ['f'], { axis: 1 }, 'flatten'),
      makeNode('Gemm', ['f', 'w2', 'b2'], ['y'], { transB }, 'fc'),
    ],
    inputs: [valueInfo('x', F, ['N', 2, 6, 6])],
    outputs: [valueInfo('y', F, ['N', 5])],
    initializers: [
      floatTensor('w1', [6, 2, 3, 3], randomArray(108, seed, 0.5)),
      floatTensor('w2', transB ? [5, 216] : [216, 5], w),
      floatTensor('b2', [5], randomArray(5, seed + 3, 0.1)),
    ],
  });
}

/** input [N,10] → MatMul 10→12 → Add bias → Relu → MatMul 12→3. */
export function matmulAddReluMatmul(seed = 3): ModelProto {
  return makeModel({
    nodes: [
      makeNode('MatMul', ['x', 'w1'], ['m1'], {}, 'fc1'),
      makeNode('Add', ['m1', 'b1'], ['a1'], {}, 'bias1'),
      makeNode('Relu', ['a1'], ['r1'], {}, 'relu1'),
      makeNode('MatMul', ['r1', 'w2'], ['y'], {}, 'fc2'),
    ],
    inputs: [valueInfo('x', F, ['N', 10])],
    outputs: [valueInfo('y', F, ['N', 3])],
    initializers: [
      floatTensor('w1', [10, 12], randomArray(120, seed, 0.5)),
      floatTensor('b1', [12], randomArray(12, seed + 1, 0.2)),
      floatTensor('w2', [12, 3], randomArray(36, seed + 2, 0.5)),
    ],
  });
}

/** Two Gemm layers in a row (8 → 16 → 16 → 4) with the given transB, for a chain of two spaces. */
export function gemmChain(transB: 0 | 1, seed = 4): ModelProto {
  const dims = (k: number, n: number) => (transB ? [n, k] : [k, n]);
  return makeModel({
    nodes: [
      makeNode('Gemm', ['x', 'w1', 'b1'], ['g1'], { transB }, 'fc1'),
      makeNode('Relu', ['g1'], ['r1'], {}, 'relu1'),
      makeNode('Gemm', ['r1', 'w2', 'b2'], ['g2'], { transB }, 'fc2'),
      makeNode('Tanh', ['g2'], ['r2'], {}, 'tanh2'),
      makeNode('Gemm', ['r2', 'w3', 'b3'], ['y'], { transB }, 'fc3'),
    ],
    inputs: [valueInfo('x', F, ['N', 8])],
    outputs: [valueInfo('y', F, ['N', 4])],
    initializers: [
      floatTensor('w1', dims(8, 16), randomArray(128, seed, 0.5)),
      floatTensor('b1', [16], randomArray(16, seed + 1, 0.1)),
      floatTensor('w2', dims(16, 16), randomArray(256, seed + 2, 0.3)),
      floatTensor('b2', [16], randomArray(16, seed + 3, 0.1)),
      floatTensor('w3', dims(16, 4), randomArray(64, seed + 4, 0.3)),
      floatTensor('b3', [4], randomArray(4, seed + 5, 0.1)),
    ],
  });
}

export { int64Tensor };

/** The same model computing in float16: weights, inputs and outputs stored as float16. */
export function toFloat16(model: ModelProto): ModelProto {
  const graph = model.graph!;
  graph.initializer = graph.initializer.map((t) => {
    const value = readFloatTensor(t);
    return floatTensor(t.name, value.dims, value.data, TensorProto_DataType.FLOAT16);
  });
  for (const v of [...graph.input, ...graph.output]) {
    if (v.type?.value.case === 'tensorType') v.type.value.value.elemType = TensorProto_DataType.FLOAT16;
  }
  return model;
}

/** input [N,4,6,6] → Conv 1×1 4→8 → Relu → depthwise Conv 3×3 (group 8) → Relu → Conv 1×1 8→4. */
export function depthwiseSeparable(seed = 5): ModelProto {
  return makeModel({
    nodes: [
      makeNode('Conv', ['x', 'we', 'be'], ['e'], { kernel_shape: [1, 1] }, 'expand'),
      makeNode('Relu', ['e'], ['re'], {}, 'relu_e'),
      makeNode('Conv', ['re', 'wd', 'bd'], ['d'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 8 }, 'depthwise'),
      makeNode('Relu', ['d'], ['rd'], {}, 'relu_d'),
      makeNode('Conv', ['rd', 'wp'], ['y'], { kernel_shape: [1, 1] }, 'project'),
    ],
    inputs: [valueInfo('x', F, ['N', 4, 6, 6])],
    outputs: [valueInfo('y', F, ['N', 4, 6, 6])],
    initializers: [
      floatTensor('we', [8, 4, 1, 1], randomArray(32, seed, 0.5)),
      floatTensor('be', [8], randomArray(8, seed + 1, 0.1)),
      floatTensor('wd', [8, 1, 3, 3], randomArray(72, seed + 2, 0.5)),
      floatTensor('bd', [8], randomArray(8, seed + 3, 0.1)),
      floatTensor('wp', [4, 8, 1, 1], randomArray(32, seed + 4, 0.5)),
    ],
  });
}

/**
 * input [N,4,6,6] → stem Conv 4→8 → Relu → [Conv 8→6 → Relu → Conv 6→8] + shortcut → Relu →
 * Conv 8→3: one residual block; the stem and the block's last Conv write one stream.
 */
export function residualBlock(seed = 6): ModelProto {
  const conv = (inputs: string[], out: string, name: string, k = 3) =>
    makeNode('Conv', inputs, [out], { kernel_shape: [k, k], pads: k === 3 ? [1, 1, 1, 1] : [0, 0, 0, 0] }, name);
  return makeModel({
    nodes: [
      conv(['x', 'w0', 'b0'], 's0', 'stem'),
      makeNode('Relu', ['s0'], ['r0'], {}, 'stem_relu'),
      conv(['r0', 'w1', 'b1'], 'c1', 'block_conv1'),
      makeNode('Relu', ['c1'], ['r1'], {}, 'block_relu'),
      conv(['r1', 'w2', 'b2'], 'c2', 'block_conv2'),
      makeNode('Add', ['c2', 'r0'], ['sum'], {}, 'residual'),
      makeNode('Relu', ['sum'], ['r2'], {}, 'out_relu'),
      conv(['r2', 'w3'], 'y', 'head', 1),
    ],
    inputs: [valueInfo('x', F, ['N', 4, 6, 6])],
    outputs: [valueInfo('y', F, ['N', 3, 6, 6])],
    initializers: [
      floatTensor('w0', [8, 4, 3, 3], randomArray(288, seed, 0.4)),
      floatTensor('b0', [8], randomArray(8, seed + 1, 0.1)),
      floatTensor('w1', [6, 8, 3, 3], randomArray(432, seed + 2, 0.3)),
      floatTensor('b1', [6], randomArray(6, seed + 3, 0.1)),
      floatTensor('w2', [8, 6, 3, 3], randomArray(432, seed + 4, 0.3)),
      floatTensor('b2', [8], randomArray(8, seed + 5, 0.1)),
      floatTensor('w3', [3, 8, 1, 1], randomArray(24, seed + 6, 0.5)),
    ],
  });
}

/**
 * A waveform model whose input length is free: x [N, L] → Unsqueeze → Conv 1→6 (kernel 8, stride 4)
 * → Relu → Conv 6→4 (kernel 3) → ReduceMean over time → y [N, 4]. It cannot run on fewer than 16 samples.
 */
export function waveformConv(seed = 7): ModelProto {
  return makeModel({
    nodes: [
      makeNode('Unsqueeze', ['x', 'channel_axis'], ['x3']),
      makeNode('Conv', ['x3', 'w1', 'b1'], ['c1'], { kernel_shape: [8], strides: [4] }, 'conv1'),
      makeNode('Relu', ['c1'], ['r1'], {}, 'relu1'),
      makeNode('Conv', ['r1', 'w2', 'b2'], ['c2'], { kernel_shape: [3] }, 'conv2'),
      makeNode('ReduceMean', ['c2'], ['y'], { axes: [2], keepdims: 0 }, 'mean'),
    ],
    inputs: [valueInfo('x', F, ['N', 'L'])],
    outputs: [valueInfo('y', F, ['N', 4])],
    initializers: [
      int64Tensor('channel_axis', [1], [1]),
      floatTensor('w1', [6, 1, 8], randomArray(48, seed, 0.5)),
      floatTensor('b1', [6], randomArray(6, seed + 1, 0.1)),
      floatTensor('w2', [4, 6, 3], randomArray(72, seed + 2, 0.5)),
      floatTensor('b2', [4], randomArray(4, seed + 3, 0.1)),
    ],
  });
}
