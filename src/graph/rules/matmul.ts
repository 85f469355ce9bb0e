import { registerRule } from '../registry.ts';
import { block, nodeAt, perChannel, rankOf } from './helpers.ts';

/** MatMul X·W with a constant 2-D W [K, N]: produces N channels on X's last axis and absorbs K. */
registerRule('MatMul', {
  produce(ctx, i) {
    const node = nodeAt(ctx, i);
    const w = ctx.constantDims(node.input[1]);
    const rank = rankOf(ctx, node.output[0]);
    if (!w || w.length !== 2 || rank === undefined || ctx.constant(node.input[0])) return null;
    return {
      output: node.output[0],
      layout: { axis: rank - 1, block: 1 },
      channels: w[1],
      slices: [{ node: i, input: 1, axis: 1, block: 1 }],
    };
  },
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('MatMul reads the channels as its right operand');
    const w = ctx.constantDims(node.input[1]);
    if (!w || w.length !== 2) return block('MatMul right operand is not a constant matrix');
    const rank = rankOf(ctx, arrival.tensor);
    if (arrival.layout.axis !== (rank ?? 0) - 1) return block('MatMul input channels are not on the last axis');
    return { kind: 'consume', weight: perChannel(arrival, 1, 0) };
  },
});
