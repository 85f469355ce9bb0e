import { registerRule } from '../registry.ts';
import type { ConstantSlice } from '../types.ts';
import { block, channelAxisSize, nodeAt, perChannel, rankOf } from './helpers.ts';

/**
 * Add / Sub / Mul / Div. With a constant operand that is per-channel or broadcast (a bias, a scale)
 * the space passes through and the constant is sliced with it. With two activations the output
 * joins both: that is channel-wise only when both are the same space (x · erf(x) in GELU);
 * the builder checks that, and otherwise the join is a residual stream. An activation of size 1 on
 * the channel axis is broadcast to every channel and joins nothing.
 */
registerRule(['Add', 'Sub', 'Mul', 'Div'], {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const otherIndex = arrival.input === 0 ? 1 : 0;
    const other = node.input[otherIndex];
    const output = { name: node.output[0], layout: arrival.layout };
    const outRank = rankOf(ctx, node.output[0]);
    const inRank = rankOf(ctx, arrival.tensor);
    if (outRank === undefined || inRank !== outRank) return block(`${node.opType} broadcasts the channel tensor to another rank`);
    if (!ctx.constant(other)) {
      // An activation broadcast along the channel axis (an attention mask [B,1,1,T]) carries no channels.
      const otherShape = ctx.shapes.get(other);
      const otherAxis = otherShape ? arrival.layout.axis - (outRank - otherShape.length) : -1;
      if (otherShape && (otherAxis < 0 || otherShape[otherAxis] === 1) && arrival.layout.block === 1) return { kind: 'pass', outputs: [output] };
      return { kind: 'pass', outputs: [output], sameSpace: [other] };
    }
    const dims = ctx.constantDims(other);
    if (!dims) return block(`${node.opType} constant operand is not a float tensor`);
    // Align the constant's axes with the activation's from the right (numpy broadcasting).
    const axis = arrival.layout.axis - (outRank - dims.length);
    const size = axis >= 0 ? dims[axis] : 1;
    const full = channelAxisSize(ctx, arrival);
    const slices: ConstantSlice[] = [];
    // One entry is a broadcast, even where the tensor holds a single channel.
    if (size === full && size !== 1) slices.push(perChannel(arrival, otherIndex, axis));
    else if (size !== 1) return block(`${node.opType} constant has ${size} entries on the channel axis, expected 1 or ${full}`);
    return { kind: 'pass', outputs: [output], slices };
  },
});
