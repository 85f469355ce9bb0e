import type { ModelProto, NodeProto, TensorProto } from 'onnx-buf';
import { TensorProto_DataType } from 'onnx-buf';
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
}

/** Self-attention: y = softmax(Q Kᵀ / 2 + mask) V · Wo (+ biases), heads split and merged by Reshape. */
export function selfAttention(options: AttentionOptions = {}): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let seed = 300;
  const weight = (name: string, dims: number[], scale = 0.5) => {
    initializers.push(floatTensor(name, dims, randomArray(dims.reduce((a, b) => a * b, 1), seed++, scale)));
    return name;
  };
  const projection = (name: string, input: string) => {
    nodes.push(makeNode('MatMul', [input, weight(`w_${name}`, [HIDDEN, HIDDEN])], [`${name}_mm`], {}, name));
    if (!options.bias) return `${name}_mm`;
    nodes.push(makeNode('Add', [`${name}_mm`, weight(`b_${name}`, [HIDDEN], 0.1)], [`${name}_out`], {}, `${name}_bias`));
    return `${name}_out`;
  };
  const shape = (name: string, tail: number[]): string => {
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
    tail.forEach((v, j) => initializers.push(int64Tensor(`${name}_c${j}`, [1], [v])));
    nodes.push(makeNode('Concat', [...pieces, ...tail.map((_, j) => `${name}_c${j}`)], [name], { axis: 0 }, `${name}_concat`));
    return name;
  };
  const heads = (name: string, input: string, perm: number[]) => {
    nodes.push(
      makeNode('Reshape', [input, shape(`${name}_heads_shape`, [HEADS, HEAD_WIDTH])], [`${name}_4d`], {}, `${name}_split_heads`),
      makeNode('Transpose', [`${name}_4d`], [`${name}_t`], { perm }, `${name}_transpose`),
    );
    return `${name}_t`;
  };
  const q = heads('q', projection('q', 'x'), [0, 2, 1, 3]);
  const k = heads('k', projection('k', 'x'), [0, 2, 3, 1]);
  const v = heads('v', projection('v', 'x'), [0, 2, 1, 3]);
  initializers.push(floatTensor('scale', [], Float64Array.of(2)));
  nodes.push(makeNode('MatMul', [q, k], ['scores'], {}, 'qk'), makeNode('Div', ['scores', 'scale'], ['scaled'], {}, 'scale'));
  let logits = 'scaled';
  if (options.mask) {
    initializers.push(floatTensor('one', [], Float64Array.of(1)), floatTensor('big', [], Float64Array.of(-10000)), int64Tensor('mask_axes', [2], [1, 2]));
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
