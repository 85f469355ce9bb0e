import type { ModelProto, NodeProto, TensorProto } from 'onnx-buf';
import { TensorProto_DataType } from 'onnx-buf';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../../src/onnx/build.ts';
import { randomArray } from './models.ts';

/*
 * Grouped-query attention as PyTorch exports a Llama layer: x [N, 5, 8]; 4 query heads of width 4
 * over 2 key/value heads; heads by Reshape [0, 0, -1, 4]; a rotary embedding whose rotate_half
 * Slices at a bound computed from the head width at run time; keys and values repeated to the query
 * heads by repeat_kv (Unsqueeze → Expand → Reshape, every size read from the tensor's Shape).
 */

const F = TensorProto_DataType.FLOAT;
export const GQA_HIDDEN = 8;
export const GQA_TOKENS = 5;
export const QUERY_HEADS = 4;
export const KV_HEADS = 2;
export const GQA_HEAD_WIDTH = 4;
const GROUP = QUERY_HEADS / KV_HEADS;

export interface GroupedQueryOptions {
  /** Zero output-projection rows of this group's query heads: removing the group changes nothing. */
  silentGroup?: number;
}

export function groupedQueryAttention(options: GroupedQueryOptions = {}): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let seed = 700;
  let count = 0;
  const fresh = (prefix: string) => `${prefix}_${count++}`;
  const weight = (name: string, dims: number[], data?: Float64Array) => {
    initializers.push(floatTensor(name, dims, data ?? randomArray(dims[0] * dims[1], seed++, 0.5)));
    return name;
  };
  const ints = (values: number[], scalar = false) => {
    const name = fresh('int');
    initializers.push(int64Tensor(name, scalar ? [] : [values.length], values));
    return name;
  };
  const node = (op: string, inputs: string[], attributes: Parameters<typeof makeNode>[3] = {}, name?: string) => {
    const output = fresh(op.toLowerCase());
    nodes.push(makeNode(op, inputs, [output], attributes, name ?? output));
    return output;
  };
  /** Unsqueeze(Gather(Shape(tensor), i)), optionally times a constant. */
  const sizeOf = (tensor: string, i: number, times?: number) => {
    let size = node('Gather', [node('Shape', [tensor]), ints([i], true)], { axis: 0 });
    if (times !== undefined) size = node('Mul', [size, ints([times], true)]);
    return node('Unsqueeze', [size, ints([0])]);
  };
  const heads = (name: string, width: number) => {
    const projected = node('MatMul', ['x', weight(`w_${name}`, [GQA_HIDDEN, width])], {}, name);
    const split = node('Reshape', [projected, ints([0, 0, -1, GQA_HEAD_WIDTH])]);
    return node('Transpose', [split], { perm: [0, 2, 1, 3] });
  };
  const angles = Float64Array.from({ length: GQA_TOKENS * GQA_HEAD_WIDTH }, (_, i) => {
    const [t, j] = [Math.floor(i / GQA_HEAD_WIDTH), i % (GQA_HEAD_WIDTH / 2)];
    return t / 10000 ** ((2 * j) / GQA_HEAD_WIDTH);
  });
  initializers.push(
    floatTensor('cos', [1, 1, GQA_TOKENS, GQA_HEAD_WIDTH], angles.map(Math.cos)),
    floatTensor('sin', [1, 1, GQA_TOKENS, GQA_HEAD_WIDTH], angles.map(Math.sin)),
  );
  const rotary = (x: string) => {
    const half = node('Unsqueeze', [
      node('Div', [node('Gather', [node('Shape', [x]), ints([-1], true)], { axis: 0 }), ints([2], true)]),
      ints([0]),
    ]);
    const first = node('Slice', [x, ints([0]), half, ints([-1]), ints([1])]);
    const second = node('Slice', [x, half, ints([2 ** 31 - 1]), ints([-1]), ints([1])]);
    const rotated = node('Concat', [node('Neg', [second]), first], { axis: -1 });
    return node('Add', [node('Mul', [x, 'cos']), node('Mul', [rotated, 'sin'])]);
  };
  const repeatKv = (x: string) => {
    const expanded = node('Expand', [
      node('Unsqueeze', [x, ints([2])]),
      node('Concat', [sizeOf(x, 0), sizeOf(x, 1), ints([GROUP]), sizeOf(x, 2), sizeOf(x, 3)], { axis: 0 }),
    ]);
    const merged = node('Concat', [sizeOf(x, 0), sizeOf(x, 1, GROUP), sizeOf(x, 2), sizeOf(x, 3)], { axis: 0 });
    return node('Reshape', [expanded, merged]);
  };

  const q = rotary(heads('q', QUERY_HEADS * GQA_HEAD_WIDTH));
  const k = repeatKv(rotary(heads('k', KV_HEADS * GQA_HEAD_WIDTH)));
  const v = repeatKv(heads('v', KV_HEADS * GQA_HEAD_WIDTH));
  const scores = node('MatMul', [q, node('Transpose', [k], { perm: [0, 1, 3, 2] })], {}, 'qk');
  const probs = node('Softmax', [node('Div', [scores, weight('scale', [], Float64Array.of(2))])], { axis: -1 });
  const context = node('Transpose', [node('MatMul', [probs, v], {}, 'pv')], { perm: [0, 2, 1, 3] });
  const merged = node('Reshape', [context, ints([0, 0, -1])]);
  const wo = randomArray(QUERY_HEADS * GQA_HEAD_WIDTH * GQA_HIDDEN, seed++, 0.5);
  if (options.silentGroup !== undefined) {
    const rows = GROUP * GQA_HEAD_WIDTH * GQA_HIDDEN;
    wo.fill(0, options.silentGroup * rows, (options.silentGroup + 1) * rows);
  }
  const output = node('MatMul', [merged, weight('w_o', [QUERY_HEADS * GQA_HEAD_WIDTH, GQA_HIDDEN], wo)], {}, 'o');
  nodes.push(makeNode('Identity', [output], ['y']));
  return makeModel({
    nodes,
    inputs: [valueInfo('x', F, ['N', GQA_TOKENS, GQA_HIDDEN])],
    outputs: [valueInfo('y', F, ['N', GQA_TOKENS, GQA_HIDDEN])],
    initializers,
  });
}
