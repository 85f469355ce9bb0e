import { registerRule } from '../registry.ts';
import { passElementwise } from './broadcast.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/**
 * Where(condition, x, y) with the channels in x or y: element-wise, when the condition is the same
 * for every channel (a causal mask [1, 1, T, T] over per-head scores) and the other value is a
 * broadcast or per-channel constant, or the same channels.
 */
registerRule('Where', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input === 0) return block('Where reads the channels as its condition');
    const condition = ctx.constant(node.input[0])
      ? ctx.index.constants.get(node.input[0])!.dims.map(Number)
      : ctx.shapes.get(node.input[0]);
    const rank = rankOf(ctx, node.output[0]);
    if (!condition || rank === undefined) return block('Where condition shape is unknown');
    const axis = arrival.layout.axis - (rank - condition.length);
    if (axis >= 0 && condition[axis] !== 1) return block('Where condition differs between channels');
    return passElementwise(ctx, arrival, [arrival.input === 1 ? 2 : 1]);
  },
});
