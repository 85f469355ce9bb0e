import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  type ModelProto,
  type NodeProto,
  TensorProto_DataType,
  TensorProtoSchema,
} from 'onnx-buf';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../../src/onnx/build.ts';
import { randomArray } from './models.ts';

/*
 * Tiny graphs for the channel-space rules of real-world architectures. Every model reads x [N,4,6,6]
 * and writes y; weights are seeded so each run builds the same model.
 */

const F = TensorProto_DataType.FLOAT;
let seed = 100;
const weight = (name: string, dims: number[], scale = 0.4) =>
  floatTensor(
    name,
    dims,
    randomArray(
      dims.reduce((a, b) => a * b, 1),
      seed++,
      scale,
    ),
  );

/** Conv with weight `w<name>` [out, in, k, k] and bias `b<name>`, padded to keep the size. */
function conv(
  name: string,
  input: string,
  output: string,
  shape: [number, number, number],
  attrs: Record<string, number | number[]> = {},
) {
  const [out, inPerGroup, k] = shape;
  const node = makeNode(
    'Conv',
    [input, `w_${name}`, `b_${name}`],
    [output],
    { kernel_shape: [k, k], pads: Array(4).fill((k - 1) / 2), ...attrs },
    name,
  );
  return { node, initializers: [weight(`w_${name}`, [out, inPerGroup, k, k]), weight(`b_${name}`, [out], 0.1)] };
}

function model(
  parts: ({ node: NodeProto; initializers?: ReturnType<typeof floatTensor>[] } | NodeProto)[],
  output: number[],
  extra: ReturnType<typeof floatTensor>[] = [],
  opset = 13,
): ModelProto {
  const nodes = parts.map((p) => ('node' in p ? p.node : p));
  const initializers = [...parts.flatMap((p) => ('node' in p ? (p.initializers ?? []) : [])), ...extra];
  return makeModel({
    nodes,
    inputs: [valueInfo('x', F, ['N', 4, 6, 6])],
    outputs: [valueInfo('y', F, ['N', ...output])],
    initializers,
    opset,
  });
}

/**
 * stem Conv 4→6 → Relu → [Conv 6→8 → Relu → Conv 8→8] + shortcut Conv 1×1 6→8 → Relu → Conv 8→3.
 */
export function residualWithShortcut(): ModelProto {
  return model(
    [
      conv('stem', 'x', 's', [6, 4, 3]),
      makeNode('Relu', ['s'], ['rs']),
      conv('conv1', 'rs', 'c1', [8, 6, 3]),
      makeNode('Relu', ['c1'], ['r1']),
      conv('conv2', 'r1', 'c2', [8, 8, 3]),
      conv('shortcut', 'rs', 'sc', [8, 6, 1]),
      makeNode('Add', ['c2', 'sc'], ['sum'], {}, 'residual'),
      makeNode('Relu', ['sum'], ['r2']),
      conv('head', 'r2', 'y', [3, 8, 1]),
    ],
    [3, 6, 6],
  );
}

/** Conv 4→5 and Conv 4→3 → Relu each → Concat → BatchNorm(8) → Relu → Conv 3×3 8→4. */
export function concatTwo(): ModelProto {
  return model(
    [
      conv('a', 'x', 'ca', [5, 4, 3]),
      makeNode('Relu', ['ca'], ['ra']),
      conv('b', 'x', 'cb', [3, 4, 1]),
      makeNode('Relu', ['cb'], ['rb']),
      makeNode('Concat', ['ra', 'rb'], ['cat'], { axis: 1 }, 'concat'),
      makeNode('BatchNormalization', ['cat', 'scale', 'shift', 'mean', 'var'], ['bn'], {}, 'bn'),
      makeNode('Relu', ['bn'], ['rc']),
      conv('head', 'rc', 'y', [4, 8, 3]),
    ],
    [4, 6, 6],
    [
      floatTensor(
        'scale',
        [8],
        randomArray(8, 1).map((v) => 1 + 0.3 * v),
      ),
      floatTensor('shift', [8], randomArray(8, 2, 0.2)),
      floatTensor('mean', [8], randomArray(8, 3, 0.1)),
      floatTensor(
        'var',
        [8],
        randomArray(8, 4).map((v) => 1 + 0.5 * Math.abs(v)),
      ),
    ],
  );
}

/**
 * Three branches (Conv 4→3, 4→4, 4→2) → Concat → Mul by a per-channel scale → Split [3, 6]:
 * Conv 3→2 on the first part, Conv 6→2 on the second (two spaces side by side), Add. The Split
 * sizes are an input (opset 13) or, as before opset 13, an attribute.
 */
export function concatThreeSplit(sizesAs: 'input' | 'attribute' = 'input'): ModelProto {
  const split =
    sizesAs === 'input'
      ? makeNode('Split', ['r', 'sizes'], ['first', 'rest'], { axis: 1 }, 'split')
      : makeNode('Split', ['r'], ['first', 'rest'], { axis: 1, split: [3, 6] }, 'split');
  return model(
    [
      conv('a', 'x', 'ca', [3, 4, 3]),
      conv('b', 'x', 'cb', [4, 4, 3]),
      conv('c', 'x', 'cc', [2, 4, 1]),
      makeNode('Concat', ['ca', 'cb', 'cc'], ['cat'], { axis: 1 }, 'concat'),
      makeNode('Mul', ['cat', 'scale'], ['scaled'], {}, 'scale'),
      makeNode('Relu', ['scaled'], ['r']),
      split,
      conv('h1', 'first', 'y1', [2, 3, 3]),
      conv('h2', 'rest', 'y2', [2, 6, 1]),
      makeNode('Add', ['y1', 'y2'], ['y']),
    ],
    [2, 6, 6],
    [
      floatTensor(
        'scale',
        [1, 9, 1, 1],
        randomArray(9, 5).map((v) => 1 + 0.5 * v),
      ),
      ...(sizesAs === 'input' ? [int64Tensor('sizes', [2], [3, 6])] : []),
    ],
    sizesAs === 'input' ? 13 : 11,
  );
}

/**
 * Conv 4→5 and Conv 4→3 → Concat → Relu; Conv 8→2 reads it all, Conv 3→2 reads Slice [from, to) of the
 * channels.
 */
export function concatSlice(from = 5, to = 2n ** 63n - 1n): ModelProto {
  return model(
    [
      conv('a', 'x', 'ca', [5, 4, 3]),
      conv('b', 'x', 'cb', [3, 4, 3]),
      makeNode('Concat', ['ca', 'cb'], ['cat'], { axis: 1 }, 'concat'),
      makeNode('Relu', ['cat'], ['r']),
      makeNode('Slice', ['r', 'starts', 'ends', 'axes'], ['part'], {}, 'slice'),
      conv('whole', 'r', 'y1', [2, 8, 1]),
      conv('part', 'part', 'y2', [2, Math.min(Number(to), 8) - from, 1]),
      makeNode('Add', ['y1', 'y2'], ['y']),
    ],
    [2, 6, 6],
    [int64Tensor('starts', [1], [from]), int64Raw('ends', [to]), int64Tensor('axes', [1], [1])],
  );
}

/**
 * Conv 4→8 → Relu → squeeze-and-excitation (GlobalAveragePool → Conv 1×1 8→3 → Relu → Conv 1×1 3→8
 * → Sigmoid) → Mul with the main path → Conv 8→3.
 */
export function squeezeExcitation(): ModelProto {
  return model(
    [
      conv('main', 'x', 'c', [8, 4, 3]),
      makeNode('Relu', ['c'], ['r']),
      makeNode('GlobalAveragePool', ['r'], ['pooled']),
      conv('squeeze', 'pooled', 'sq', [3, 8, 1]),
      makeNode('Relu', ['sq'], ['rsq']),
      conv('excite', 'rsq', 'ex', [8, 3, 1]),
      makeNode('Sigmoid', ['ex'], ['gate']),
      makeNode('Mul', ['r', 'gate'], ['gated'], {}, 'gate_mul'),
      conv('head', 'gated', 'y', [3, 8, 3]),
    ],
    [3, 6, 6],
  );
}

/**
 * Conv 4→6 → Relu → Conv 6→8 → Relu, then an If whose branches read that output: the second space stays
 * intact.
 */
export function withIfNode(): ModelProto {
  const branch = (op: string) =>
    makeModel({ nodes: [makeNode(op, ['r2'], [`${op}_out`])], inputs: [], outputs: [valueInfo(`${op}_out`)] }).graph!;
  const ifNode = makeNode('If', ['cond'], ['y'], {}, 'choose');
  ifNode.attribute.push(
    create(AttributeProtoSchema, { name: 'then_branch', type: AttributeProto_AttributeType.GRAPH, g: branch('Relu') }),
    create(AttributeProtoSchema, { name: 'else_branch', type: AttributeProto_AttributeType.GRAPH, g: branch('Neg') }),
  );
  const m = model(
    [
      conv('conv1', 'x', 'c1', [6, 4, 3]),
      makeNode('Relu', ['c1'], ['r1']),
      conv('conv2', 'r1', 'c2', [8, 6, 3]),
      makeNode('Relu', ['c2'], ['r2']),
      ifNode,
    ],
    [8, 6, 6],
  );
  m.graph!.initializer.push(
    create(TensorProtoSchema, {
      name: 'cond',
      dataType: TensorProto_DataType.BOOL,
      dims: [],
      rawData: new Uint8Array([1]),
    }),
  );
  return m;
}

/** An int64 tensor stored as raw data, which holds the extremes exactly (2^63 − 1: "to the end"). */
function int64Raw(name: string, values: bigint[]) {
  return create(TensorProtoSchema, {
    name,
    dataType: TensorProto_DataType.INT64,
    dims: [BigInt(values.length)],
    rawData: new Uint8Array(BigInt64Array.from(values).buffer),
  });
}

/** Conv 4→8 → Transpose to NHWC → Add a bias on the last axis → Relu → Transpose back → Conv 8→3. */
export function nhwcSandwich(): ModelProto {
  return model(
    [
      conv('first', 'x', 'c', [8, 4, 3]),
      makeNode('Transpose', ['c'], ['nhwc'], { perm: [0, 2, 3, 1] }, 'to_nhwc'),
      makeNode('Add', ['nhwc', 'bias'], ['biased'], {}, 'bias_add'),
      makeNode('Relu', ['biased'], ['r']),
      makeNode('Transpose', ['r'], ['nchw'], { perm: [0, 3, 1, 2] }, 'to_nchw'),
      conv('second', 'nchw', 'y', [3, 8, 3]),
    ],
    [3, 6, 6],
    [weight('bias', [8], 0.2)],
  );
}

/**
 * Conv 4→8 → Transpose to NHWC → Relu → Reshape to tokens [N, 36, 8] → ReduceMean over tokens
 * → MatMul 8→3.
 */
export function channelsLastTokens(): ModelProto {
  return model(
    [
      conv('first', 'x', 'c', [8, 4, 3]),
      makeNode('Transpose', ['c'], ['nhwc'], { perm: [0, 2, 3, 1] }, 'to_nhwc'),
      makeNode('Relu', ['nhwc'], ['r']),
      makeNode('Reshape', ['r', 'tokens_shape'], ['tokens'], {}, 'to_tokens'),
      makeNode('ReduceMean', ['tokens'], ['pooled'], { axes: [1], keepdims: 0 }, 'pool'),
      makeNode('MatMul', ['pooled', 'w_head'], ['y'], {}, 'head'),
    ],
    [3],
    [int64Tensor('tokens_shape', [3], [-1, 36, 8]), weight('w_head', [8, 3], 0.5)],
  );
}

/** Conv 4→6 → Relu → Resize ×2 (nearest) → Pad 1 → Conv 3×3 6→3 without padding. */
export function resizePad(): ModelProto {
  return model(
    [
      conv('first', 'x', 'c', [6, 4, 3]),
      makeNode('Relu', ['c'], ['r']),
      makeNode('Resize', ['r', '', 'scales'], ['up'], { mode: 'nearest' }, 'upsample'),
      makeNode('Pad', ['up', 'pads'], ['padded'], { mode: 'reflect' }, 'pad'),
      makeNode('Conv', ['padded', 'w_second'], ['y'], { kernel_shape: [3, 3] }, 'second'),
    ],
    [3, 12, 12],
    [
      floatTensor('scales', [4], Float64Array.from([1, 1, 2, 2])),
      int64Tensor('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
      weight('w_second', [3, 6, 3, 3]),
    ],
  );
}

/** Conv 4→6 → Relu → ConvTranspose 6→5 (2×2, stride 2) → Relu → Conv 1×1 5→3. */
export function convTransposeChain(): ModelProto {
  return model(
    [
      conv('first', 'x', 'c', [6, 4, 3]),
      makeNode('Relu', ['c'], ['r']),
      makeNode('ConvTranspose', ['r', 'w_up', 'b_up'], ['u'], { kernel_shape: [2, 2], strides: [2, 2] }, 'up'),
      makeNode('Relu', ['u'], ['ru']),
      conv('last', 'ru', 'y', [3, 5, 1]),
    ],
    [3, 12, 12],
    [weight('w_up', [6, 5, 2, 2]), weight('b_up', [5], 0.1)],
  );
}
