import { create } from '@bufbuild/protobuf';
import {
  type ModelProto,
  type NodeProto,
  OperatorSetIdProtoSchema,
  type TensorProto,
  TensorProto_DataType,
} from 'onnx-buf';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../../src/onnx/build.ts';
import { randomArray } from './models.ts';

/*
 * Tiny transformer pieces as PyTorch exports them: x [N, T, 8] (T free), 2 heads of width 4.
 */

const F = TensorProto_DataType.FLOAT;
export const HIDDEN = 8;
export const HEADS = 2;
export const HEAD_WIDTH = 4;

export interface AttentionOptions {
  /** Q, K, V and output projections with a bias Add. */
  bias?: boolean;
  /** Head shapes built at run time (Shape → Gather → Unsqueeze → Concat with the head count and width). */
  runtimeShapes?: boolean;
  /** A second input `mask` [N, T] (1 = token, 0 = padding), added to the scores as (1 − mask)·−10000. */
  mask?: boolean;
  /** Zero output-projection rows of this head: removing it changes nothing. */
  silentHead?: number;
  /** One projection x · W [8, 24] (+ bias) split in three for Q, K and V. */
  packed?: boolean;
  /**
   * Grouped-query attention: K and V have one head, shared by both query heads (repeated by a Concat
   * of copies; test/helpers/grouped-query.ts has the form PyTorch exports, by Expand).
   */
  groupedQuery?: boolean;
  /**
   * Written the nanoGPT way: `B, T, C = x.size()`, heads as view(B, T, H, C // H), merged back with
   * view(B, T, C) (every size but H computed at run time), and a causal mask sliced from a constant
   * buffer to T × T applied by masked_fill (Equal → Where).
   */
  nanoGpt?: boolean;
}

/** Self-attention: y = softmax(Q Kᵀ / 2 + mask) V · Wo (+ biases), heads split and merged by Reshape. */
export function selfAttention(options: AttentionOptions = {}): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let seed = 300;
  const weight = (name: string, dims: number[], scale = 0.5) => {
    initializers.push(
      floatTensor(
        name,
        dims,
        randomArray(
          dims.reduce((a, b) => a * b, 1),
          seed++,
          scale,
        ),
      ),
    );
    return name;
  };
  const projection = (name: string, input: string) => {
    nodes.push(makeNode('MatMul', [input, weight(`w_${name}`, [HIDDEN, HIDDEN])], [`${name}_mm`], {}, name));
    if (!options.bias) return `${name}_mm`;
    nodes.push(
      makeNode('Add', [`${name}_mm`, weight(`b_${name}`, [HIDDEN], 0.1)], [`${name}_out`], {}, `${name}_bias`),
    );
    return `${name}_out`;
  };
  /** Unsqueeze(Gather(Shape(x), i)), optionally divided by a constant: one entry of a shape built at run time. */
  const sizeOfX = (name: string, i: number, divisor?: number) => {
    initializers.push(int64Tensor(`${name}_i`, [], [i]), int64Tensor(`${name}_ax`, [1], [0]));
    nodes.push(
      makeNode('Shape', ['x'], [`${name}_shape`]),
      makeNode('Gather', [`${name}_shape`, `${name}_i`], [`${name}_g`], { axis: 0 }),
    );
    let size = `${name}_g`;
    if (divisor !== undefined) {
      initializers.push(int64Tensor(`${name}_divisor`, [], [divisor]));
      nodes.push(makeNode('Div', [size, `${name}_divisor`], [`${name}_q`]));
      size = `${name}_q`;
    }
    nodes.push(makeNode('Unsqueeze', [size, `${name}_ax`], [`${name}_u`]));
    return `${name}_u`;
  };
  const shape = (name: string, tail: number[]): string => {
    if (options.nanoGpt) {
      const sizes = tail.length === 1 ? [sizeOfX(`${name}_c`, 2)] : [`${name}_h`, sizeOfX(`${name}_w`, 2, HEADS)];
      if (tail.length > 1) initializers.push(int64Tensor(`${name}_h`, [1], [HEADS]));
      nodes.push(
        makeNode(
          'Concat',
          [sizeOfX(`${name}_b`, 0), sizeOfX(`${name}_t`, 1), ...sizes],
          [name],
          { axis: 0 },
          `${name}_concat`,
        ),
      );
      return name;
    }
    if (!options.runtimeShapes) {
      initializers.push(int64Tensor(name, [2 + tail.length], [0, 0, ...tail]));
      return name;
    }
    // batch and tokens from the input's shape, the rest constants: Concat(Unsqueeze(Gather(Shape(x), i)) …, tail)
    nodes.push(makeNode('Shape', ['x'], [`${name}_shape`]));
    const pieces = [0, 1].map((i) => {
      initializers.push(int64Tensor(`${name}_i${i}`, [], [i]), int64Tensor(`${name}_ax${i}`, [1], [0]));
      nodes.push(
        makeNode('Gather', [`${name}_shape`, `${name}_i${i}`], [`${name}_g${i}`], { axis: 0 }),
        makeNode('Unsqueeze', [`${name}_g${i}`, `${name}_ax${i}`], [`${name}_u${i}`]),
      );
      return `${name}_u${i}`;
    });
    tail.forEach((v, j) => {
      initializers.push(int64Tensor(`${name}_c${j}`, [1], [v]));
    });
    nodes.push(
      makeNode('Concat', [...pieces, ...tail.map((_, j) => `${name}_c${j}`)], [name], { axis: 0 }, `${name}_concat`),
    );
    return name;
  };
  const heads = (name: string, input: string, perm: number[]) => {
    nodes.push(
      makeNode(
        'Reshape',
        [input, shape(`${name}_heads_shape`, [HEADS, HEAD_WIDTH])],
        [`${name}_4d`],
        {},
        `${name}_split_heads`,
      ),
      makeNode('Transpose', [`${name}_4d`], [`${name}_t`], { perm }, `${name}_transpose`),
    );
    return `${name}_t`;
  };
  let [qIn, kIn, vIn] = ['q', 'k', 'v'];
  if (options.packed) {
    nodes.push(makeNode('MatMul', ['x', weight('w_qkv', [HIDDEN, 3 * HIDDEN])], ['qkv_mm'], {}, 'qkv'));
    let packed = 'qkv_mm';
    if (options.bias) {
      nodes.push(makeNode('Add', ['qkv_mm', weight('b_qkv', [3 * HIDDEN], 0.1)], ['qkv_out'], {}, 'qkv_bias'));
      packed = 'qkv_out';
    }
    initializers.push(int64Tensor('qkv_sizes', [3], [HIDDEN, HIDDEN, HIDDEN]));
    nodes.push(makeNode('Split', [packed, 'qkv_sizes'], ['q_part', 'k_part', 'v_part'], { axis: -1 }, 'qkv_split'));
    [qIn, kIn, vIn] = ['q_part', 'k_part', 'v_part'];
  } else {
    qIn = projection('q', 'x');
    if (!options.groupedQuery) [kIn, vIn] = [projection('k', 'x'), projection('v', 'x')];
  }
  const q = heads('q', qIn, [0, 2, 1, 3]);
  let k: string;
  let v: string;
  if (options.groupedQuery) {
    const shared = (name: string, perm: number[]) => {
      nodes.push(makeNode('MatMul', ['x', weight(`w_${name}`, [HIDDEN, HEAD_WIDTH])], [`${name}_mm`], {}, name));
      initializers.push(int64Tensor(`${name}_heads_shape`, [4], [0, 0, 1, HEAD_WIDTH]));
      nodes.push(
        makeNode('Reshape', [`${name}_mm`, `${name}_heads_shape`], [`${name}_4d`]),
        makeNode('Transpose', [`${name}_4d`], [`${name}_t`], { perm }),
        makeNode('Concat', [`${name}_t`, `${name}_t`], [`${name}_repeated`], { axis: 1 }, `${name}_repeat`),
      );
      return `${name}_repeated`;
    };
    [k, v] = [shared('k', [0, 2, 3, 1]), shared('v', [0, 2, 1, 3])];
  } else {
    [k, v] = [heads('k', kIn, [0, 2, 3, 1]), heads('v', vIn, [0, 2, 1, 3])];
  }
  initializers.push(floatTensor('scale', [], Float64Array.of(2)));
  nodes.push(
    makeNode('MatMul', [q, k], ['scores'], {}, 'qk'),
    makeNode('Div', ['scores', 'scale'], ['scaled'], {}, 'scale'),
  );
  let logits = 'scaled';
  if (options.nanoGpt) {
    const causal = Float64Array.from({ length: 64 * 64 }, (_, i) => (i % 64 <= Math.floor(i / 64) ? 1 : 0));
    initializers.push(
      floatTensor('causal', [1, 1, 64, 64], causal),
      floatTensor('zero', [], Float64Array.of(0)),
      floatTensor('minus_inf', [], Float64Array.of(-Infinity)),
      int64Tensor('causal_starts', [2], [0, 0]),
      int64Tensor('causal_axes', [2], [2, 3]),
    );
    nodes.push(
      makeNode('Concat', [sizeOfX('causal_t', 1), sizeOfX('causal_t2', 1)], ['causal_ends'], { axis: 0 }),
      makeNode('Slice', ['causal', 'causal_starts', 'causal_ends', 'causal_axes'], ['causal_tt']),
      makeNode('Equal', ['causal_tt', 'zero'], ['future']),
      makeNode('Where', ['future', 'minus_inf', 'scaled'], ['masked'], {}, 'masked_fill'),
    );
    logits = 'masked';
  }
  if (options.mask) {
    initializers.push(
      floatTensor('one', [], Float64Array.of(1)),
      floatTensor('big', [], Float64Array.of(-10000)),
      int64Tensor('mask_axes', [2], [1, 2]),
    );
    nodes.push(
      makeNode('Cast', ['mask'], ['mask_f'], { to: F }),
      makeNode('Sub', ['one', 'mask_f'], ['inverted']),
      makeNode('Mul', ['inverted', 'big'], ['mask_bias']),
      makeNode('Unsqueeze', ['mask_bias', 'mask_axes'], ['mask_4d']),
      makeNode('Add', ['scaled', 'mask_4d'], ['masked'], {}, 'apply_mask'),
    );
    logits = 'masked';
  }
  nodes.push(
    makeNode('Softmax', [logits], ['probs'], { axis: -1 }, 'softmax'),
    makeNode('MatMul', ['probs', v], ['context'], {}, 'pv'),
    makeNode('Transpose', ['context'], ['context_t'], { perm: [0, 2, 1, 3] }, 'merge_transpose'),
    makeNode('Reshape', ['context_t', shape('merge_shape', [HIDDEN])], ['merged'], {}, 'merge_heads'),
  );
  const output = projection('o', 'merged');
  nodes.push(makeNode('Identity', [output], ['y']));
  if (options.silentHead !== undefined) {
    const wo = initializers.find((t) => t.name === 'w_o')!;
    const data = randomArray(HIDDEN * HIDDEN, 999, 0.5);
    data.fill(0, options.silentHead * HEAD_WIDTH * HIDDEN, (options.silentHead + 1) * HEAD_WIDTH * HIDDEN);
    initializers[initializers.indexOf(wo)] = floatTensor('w_o', [HIDDEN, HIDDEN], data);
  }
  const inputs = [valueInfo('x', F, ['N', 'T', HIDDEN])];
  if (options.mask) inputs.push(valueInfo('mask', TensorProto_DataType.INT64, ['N', 'T']));
  return makeModel({ nodes, inputs, outputs: [valueInfo('y', F, ['N', 'T', HIDDEN])], initializers });
}

export type Activation = 'gelu-erf' | 'gelu-tanh' | 'gelu-op' | 'relu' | 'silu' | 'swiglu';
export const FFN_HIDDEN = 16;

/**
 * Feed-forward block on x [N, T, 8]: MatMul + bias → activation → MatMul + bias
 * (SwiGLU: two projections multiplied).
 */
export function feedForward(activation: Activation): ModelProto {
  const nodes: NodeProto[] = [];
  let seed = 500;
  const initializers: TensorProto[] = [];
  const constant = (name: string, value: number) => {
    initializers.push(floatTensor(name, [], Float64Array.of(value)));
    return name;
  };
  const weight = (name: string, dims: number[], scale = 0.5) => {
    initializers.push(
      floatTensor(
        name,
        dims,
        randomArray(
          dims.reduce((a, b) => a * b, 1),
          seed++,
          scale,
        ),
      ),
    );
    return name;
  };
  const linear = (name: string, input: string, k: number, n: number) => {
    nodes.push(makeNode('MatMul', [input, weight(`w_${name}`, [k, n])], [`${name}_mm`], {}, name));
    nodes.push(makeNode('Add', [`${name}_mm`, weight(`b_${name}`, [n], 0.1)], [`${name}_out`], {}, `${name}_bias`));
    return `${name}_out`;
  };
  const h = linear('fc1', 'x', HIDDEN, FFN_HIDDEN);
  const op = (type: string, inputs: string[], output: string) => {
    nodes.push(makeNode(type, inputs, [output]));
    return output;
  };
  let act: string;
  switch (activation) {
    case 'gelu-erf':
      act = op(
        'Mul',
        [
          op(
            'Mul',
            [
              h,
              op(
                'Add',
                [op('Erf', [op('Div', [h, constant('sqrt2', Math.SQRT2)], 'e1')], 'e2'), constant('one', 1)],
                'e3',
              ),
            ],
            'e4',
          ),
          constant('half', 0.5),
        ],
        'act',
      );
      break;
    case 'gelu-tanh': {
      const cube = op('Mul', [op('Pow', [h, constant('three', 3)], 't1'), constant('c', 0.044715)], 't2');
      const inner = op('Mul', [op('Add', [h, cube], 't3'), constant('k', Math.sqrt(2 / Math.PI))], 't4');
      act = op(
        'Mul',
        [op('Mul', [h, op('Add', [op('Tanh', [inner], 't5'), constant('one', 1)], 't6')], 't7'), constant('half', 0.5)],
        'act',
      );
      break;
    }
    case 'gelu-op':
      act = op('Gelu', [h], 'act');
      break;
    case 'relu':
      act = op('Relu', [h], 'act');
      break;
    case 'silu':
      act = op('Mul', [h, op('Sigmoid', [h], 's1')], 'act');
      break;
    case 'swiglu': {
      const up = linear('fc3', 'x', HIDDEN, FFN_HIDDEN);
      act = op('Mul', [op('Mul', [h, op('Sigmoid', [h], 's1')], 's2'), up], 'act');
      break;
    }
  }
  const y = linear('fc2', act, FFN_HIDDEN, HIDDEN);
  nodes.push(makeNode('Identity', [y], ['y']));
  return makeModel({
    nodes,
    inputs: [valueInfo('x', F, ['N', 'T', HIDDEN])],
    outputs: [valueInfo('y', F, ['N', 'T', HIDDEN])],
    initializers,
    opset: activation === 'gelu-op' ? 20 : 13,
  });
}

/**
 * ONNX Runtime's fused attention (com.microsoft): MultiHeadAttention on separate Q, K, V
 * projections, or Attention with the packed projection inside; then the output projection.
 */
export function fusedAttention(op: 'MultiHeadAttention' | 'Attention', silentHead?: number): ModelProto {
  let seed = 700;
  const initializers: TensorProto[] = [];
  const weight = (name: string, dims: number[], scale = 0.5) => {
    const data = randomArray(
      dims.reduce((a, b) => a * b, 1),
      seed++,
      scale,
    );
    initializers.push(floatTensor(name, dims, data));
    return name;
  };
  const nodes: NodeProto[] = [];
  const fused = (inputs: string[]) => {
    const node = makeNode(op, inputs, ['context'], { num_heads: HEADS }, 'fused');
    node.domain = 'com.microsoft';
    return node;
  };
  if (op === 'MultiHeadAttention') {
    for (const p of ['q', 'k', 'v'])
      nodes.push(makeNode('MatMul', ['x', weight(`w_${p}`, [HIDDEN, HIDDEN])], [p], {}, p));
    nodes.push(fused(['q', 'k', 'v', weight('b_qkv', [3 * HIDDEN], 0.1)]));
  } else {
    nodes.push(fused(['x', weight('w_qkv', [HIDDEN, 3 * HIDDEN]), weight('b_qkv', [3 * HIDDEN], 0.1)]));
  }
  const wo = randomArray(HIDDEN * HIDDEN, 999, 0.5);
  if (silentHead !== undefined) wo.fill(0, silentHead * HEAD_WIDTH * HIDDEN, (silentHead + 1) * HEAD_WIDTH * HIDDEN);
  initializers.push(floatTensor('w_o', [HIDDEN, HIDDEN], wo));
  nodes.push(makeNode('MatMul', ['context', 'w_o'], ['y'], {}, 'o'));
  const model = makeModel({
    nodes,
    inputs: [valueInfo('x', F, ['N', 'T', HIDDEN])],
    outputs: [valueInfo('y', F, ['N', 'T', HIDDEN])],
    initializers,
  });
  model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n }));
  return model;
}
