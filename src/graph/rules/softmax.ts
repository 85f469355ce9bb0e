import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, passFirstOutput, rankOf } from './helpers.ts';

/** Softmax / LogSoftmax over an axis other than the channels (attention over keys, per head): each channel alone. */
registerRule(['Softmax', 'LogSoftmax'], {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    let axis = intAttr(node, 'axis', -1);
    if (axis < 0) axis += rank;
    // Before opset 13 Softmax normalizes over every axis from `axis` on; from 13, over `axis` alone.
    // Either way the channels are untouched when they lie before it, or it is the last axis alone.
    const channelAxis = arrival.layout.axis;
    const untouched = channelAxis < axis || (axis === rank - 1 && channelAxis !== axis && arrival.layout.block === 1);
    if (!untouched) return block(`${node.opType} normalizes across the channels`);
    return passFirstOutput(ctx, arrival);
  },
});
