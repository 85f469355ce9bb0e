import { intAttr } from '../../onnx/graph-index.ts';
import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/**
 * Shape of a tensor holding the space: harmless when its only readers are Gathers of single sizes
 * other than the channel count (batch and token counts in PyTorch exports). Where the channel
 * count itself is read, a computation would no longer match the pruned tensor.
 */
registerRule('Shape', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    const start = intAttr(node, 'start', 0);
    const channelEntry = arrival.layout.axis - (start < 0 ? start + rank : start);
    for (const reader of ctx.index.consumers.get(node.output[0]) ?? []) {
      const gather = ctx.index.nodes[reader];
      const indices =
        gather.opType === 'Gather' && gather.input[0] === node.output[0]
          ? ctx.index.constants.get(gather.input[1])
          : undefined;
      const picked = indices ? readIntTensor(indices) : undefined;
      if (!picked || picked.some((i) => i === channelEntry || i === channelEntry - rank)) {
        return block('Shape: the channel count is used in a computation at run time');
      }
    }
    if (ctx.index.graphOutputs.has(node.output[0])) return block('Shape: the channel count is a model output');
    return { kind: 'pass', outputs: [] };
  },
});
