import type { Arrival, ConstantSlice, RuleContext, Visit } from '../types.ts';
import { block, channelAxisSize, nodeAt, perChannel, rankOf } from './helpers.ts';

/** What an element-wise op's other operand asks of the space: constants to slice, activations to join. */
interface OperandTerms {
  slices: ConstantSlice[];
  sameSpace: string[];
}

/**
 * How operand `index` of an element-wise op with numpy broadcasting sits against the arriving
 * channels. A constant with one entry per channel is sliced with them, one broadcast to every
 * channel is left alone; an activation of size 1 on the channel axis (an attention mask) carries
 * no channels, any other must hold the same channels (`sameSpace`: the builder joins the two).
 */
function operandTerms(ctx: RuleContext, arrival: Arrival, index: number): OperandTerms | Visit {
  const node = nodeAt(ctx, arrival);
  const name = node.input[index];
  const terms: OperandTerms = { slices: [], sameSpace: [] };
  if (!name) return terms;
  const outRank = rankOf(ctx, node.output[0]);
  if (outRank === undefined || rankOf(ctx, arrival.tensor) !== outRank)
    return block(`${node.opType} broadcasts the channel tensor to another rank`);
  if (!ctx.constant(name)) {
    const shape = ctx.shapes.get(name);
    const axis = shape ? arrival.layout.axis - (outRank - shape.length) : -1;
    const full = channelAxisSize(ctx, arrival);
    if (shape && (axis < 0 || shape[axis] === 1) && (arrival.layout.block === 1 || full !== 1)) return terms;
    return { ...terms, sameSpace: [name] };
  }
  const dims = ctx.constantDims(name);
  if (!dims) return block(`${node.opType} constant operand is not a float tensor`);
  // Align the constant's axes with the activation's from the right.
  const axis = arrival.layout.axis - (outRank - dims.length);
  const size = axis >= 0 ? dims[axis] : 1;
  const full = channelAxisSize(ctx, arrival);
  // One entry is a broadcast, even where the tensor holds a single channel.
  if (size === full && size !== 1) return { ...terms, slices: [perChannel(arrival, index, axis)] };
  if (size !== 1)
    return block(`${node.opType} constant operand has ${size} entries on the channel axis, expected 1 or ${full}`);
  return terms;
}

/** Passes the space to the node's output, with every other input taken as a broadcast operand. */
export function passElementwise(ctx: RuleContext, arrival: Arrival, operands: number[]): Visit {
  const node = nodeAt(ctx, arrival);
  const slices: ConstantSlice[] = [];
  const sameSpace: string[] = [];
  for (const index of operands) {
    const terms = operandTerms(ctx, arrival, index);
    if ('kind' in terms) return terms;
    slices.push(...terms.slices);
    sameSpace.push(...terms.sameSpace);
  }
  return { kind: 'pass', outputs: [{ name: node.output[0], layout: arrival.layout }], slices, sameSpace };
}
