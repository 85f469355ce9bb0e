import { registerRule } from '../registry.ts';
import { block, nodeAt, rankOf } from './helpers.ts';
import { shapeSource } from './shape-source.ts';

/**
 * Expand that copies the channels along other axes (keys repeated for grouped-query attention:
 * [B, kv, 1, T, D] → [B, kv, n, T, D]) passes them on; the channel axis keeps its size. The shape
 * operand's entry there is 1 (kept as is), or the channel axis's size, constant or computed at run
 * time, which follows the kept channels.
 */
registerRule('Expand', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('the channels arrive as an Expand shape');
    const inShape = ctx.shapes.get(arrival.tensor);
    const outShape = ctx.shapes.get(node.output[0]);
    const outRank = rankOf(ctx, node.output[0]);
    if (!inShape || !outShape || outRank === undefined) return block('Expand shapes are unknown');
    const axis = arrival.layout.axis + outRank - inShape.length;
    if (outShape[axis] !== inShape[arrival.layout.axis]) return block('Expand repeats the channel axis');
    const layout = { ...arrival.layout, axis };
    const source = shapeSource(ctx, arrival.node, 1);
    if (!source) return block('Expand shape is computed at run time');
    const position = axis - (outRank - source.values.length);
    const value = source.values[position];
    if (position < 0 || value === 1) return { kind: 'pass', outputs: [{ name: node.output[0], layout }] };
    const fills = (layout.offset ?? 0) === 0 && outShape[axis] === arrival.channels * layout.block;
    const entry = source.entry(position, layout.block, fills ? outShape[axis] : undefined, false);
    if (!entry) return block('the channel count of an Expand is computed at run time');
    return { kind: 'pass', outputs: [{ name: node.output[0], layout }], shapeEntries: [entry] };
  },
});
