import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/**
 * Gather along an axis other than the channels (the last time step of a sequence, x[:, :, -1]):
 * every channel is picked the same way, and the channel axis moves by the rank the indices replace
 * the gathered axis with. A lookup of token ids in a constant table [vocabulary, width] (an
 * embedding) writes width channels on the output's last axis: the table's columns.
 */
registerRule('Gather', {
  produce(ctx, i) {
    const node = nodeAt(ctx, i);
    const table = ctx.constantDims(node.input[0]);
    const rank = rankOf(ctx, node.output[0]);
    if (table?.length !== 2 || intAttr(node, 'axis', 0) !== 0 || ctx.constant(node.input[1]) || rank === undefined)
      return null;
    return {
      output: node.output[0],
      layout: { axis: rank - 1, block: 1 },
      channels: table[1],
      slices: [{ node: i, input: 0, axis: 1, block: 1 }],
    };
  },
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('Gather reads the channels as indices');
    const rank = rankOf(ctx, arrival.tensor);
    const indices = ctx.index.constants.get(node.input[1])?.dims.length ?? rankOf(ctx, node.input[1]);
    if (rank === undefined || indices === undefined) return block('Gather shapes are unknown');
    let axis = intAttr(node, 'axis', 0);
    if (axis < 0) axis += rank;
    const channel = arrival.layout.axis;
    if (axis === channel) return block('Gather picks entries of the channel axis');
    const moved = channel < axis ? channel : channel - 1 + indices;
    return { kind: 'pass', outputs: [{ name: node.output[0], layout: { ...arrival.layout, axis: moved } }] };
  },
});
