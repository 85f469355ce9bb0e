import { registerRule } from '../registry.ts';
import type { Visit } from '../types.ts';
import { block, nodeAt, perChannel, rankOf } from './helpers.ts';

/**
 * MatMul X·W with a constant 2-D W [K, N]: produces N channels on X's last axis and absorbs K.
 * MatMul of two activations (attention: scores = Q·Kᵀ, outputs = P·V) passes channels that lie on
 * a batch axis (the heads), joining both operands.
 */
registerRule('MatMul', {
  produce(ctx, i) {
    const node = nodeAt(ctx, i);
    const w = ctx.constantDims(node.input[1]);
    const rank = rankOf(ctx, node.output[0]);
    if (w?.length !== 2 || rank === undefined || ctx.constant(node.input[0])) return null;
    return {
      output: node.output[0],
      layout: { axis: rank - 1, block: 1 },
      channels: w[1],
      slices: [{ node: i, input: 1, axis: 1, block: 1 }],
    };
  },
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const other = node.input[1 - arrival.input];
    if (!ctx.constant(other)) return batched(ctx, arrival.tensor, node.output[0], other, arrival.layout);
    if (arrival.input !== 0) return block('MatMul reads the channels as its right operand');
    const w = ctx.constantDims(node.input[1]);
    if (w?.length !== 2) return block('MatMul right operand is not a constant matrix');
    const rank = rankOf(ctx, arrival.tensor);
    if (arrival.layout.axis !== (rank ?? 0) - 1) return block('MatMul input channels are not on the last axis');
    return { kind: 'consume', weight: perChannel(arrival, 1, 0) };
  },
});

function batched(
  ctx: Parameters<typeof rankOf>[0],
  input: string,
  output: string,
  other: string,
  layout: { axis: number; block: number; offset?: number },
): Visit {
  const rank = rankOf(ctx, input);
  if (rank === undefined || rank < 3 || rankOf(ctx, output) !== rank || rankOf(ctx, other) !== rank) {
    return block('MatMul of two activations of different ranks');
  }
  if (layout.axis >= rank - 2) return block('MatMul of two activations contracts or mixes the channels');
  return { kind: 'pass', outputs: [{ name: output, layout }], sameSpace: [other] };
}
