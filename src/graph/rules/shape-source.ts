import { readIntTensor, tensorDims } from '../../onnx/tensor.ts';
import type { RuleContext, ShapeEntry } from '../types.ts';

/**
 * Where each entry of a shape operand comes from: a constant (the entry can be rewritten in place),
 * or, for shapes built at run time (PyTorch: Shape → Gather → Unsqueeze → Concat with constants),
 * the Concat input holding it, when that input is a one-element constant.
 */
export interface ShapeSource {
  /** The entry values where known (-2 where computed at run time). */
  values: number[];
  /**
   * Where entry `position` is written. An entry computed at run time is replaced by a constant
   * (see ShapeEntry.computed) when its original size `value` is given; else undefined. That constant
   * is -1 where the op infers it (`inferable`: a Reshape) and no other entry is -1.
   */
  entry(position: number, block: number, value?: number, inferable?: boolean): ShapeEntry | undefined;
}

export function shapeSource(ctx: RuleContext, node: number, input: number): ShapeSource | undefined {
  const name = ctx.index.nodes[node].input[input];
  const constant = ctx.index.constants.get(name);
  if (constant) {
    const values = readIntTensor(constant);
    return { values, entry: (position, block) => ({ node, input, position, block }) };
  }
  const producer = ctx.index.producer.get(unwrapped(ctx, name));
  const concat = producer === undefined ? undefined : ctx.index.nodes[producer];
  if (producer === undefined || !concat || concat.opType !== 'Concat' || concat.domain !== '') return undefined;
  const pieces = concat.input.map((piece) => {
    const value = ctx.index.constants.get(piece);
    const values = value ? readIntTensor(value) : undefined;
    return values?.length === 1 ? values[0] : undefined;
  });
  const length = (piece: string) => {
    const constant = ctx.index.constants.get(piece);
    return (constant ? tensorDims(constant) : ctx.shapes.get(piece))?.join();
  };
  if (concat.input.some((piece) => length(piece) !== '1')) return undefined;
  const values = pieces.map((v) => v ?? -2);
  return {
    values,
    entry: (position, block, value, inferable = true) => {
      const at = { node: producer, input: position, position: 0, block };
      if (pieces[position] !== undefined) return at;
      if (value === undefined) return undefined;
      return { ...at, computed: { value, infer: inferable && !values.includes(-1) } };
    },
  };
}

/**
 * The shape vector under the wrappers PyTorch's expand puts around it: a Reshape to [-1], and
 * Where(Equal(s, -1), 1, s), which changes nothing in a shape without -1 entries.
 */
function unwrapped(ctx: RuleContext, name: string): string {
  const producer = ctx.index.producer.get(name);
  const node = producer === undefined ? undefined : ctx.index.nodes[producer];
  if (node?.domain !== '') return name;
  if (node.opType === 'Reshape') {
    const shape = ctx.index.constants.get(node.input[1]);
    const flat = shape && readIntTensor(shape).join() === '-1' && ctx.shapes.get(node.input[0])?.length === 1;
    return flat ? unwrapped(ctx, node.input[0]) : name;
  }
  if (node.opType === 'Where') {
    const condition = ctx.index.producer.get(node.input[0]);
    const equal = condition === undefined ? undefined : ctx.index.nodes[condition];
    return equal?.opType === 'Equal' && equal.input.includes(node.input[2]) ? unwrapped(ctx, node.input[2]) : name;
  }
  return name;
}
