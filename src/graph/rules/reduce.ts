import { intAttr, intsAttr } from '../../onnx/graph-index.ts';
import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/**
 * Reductions over axes other than the channel axis (a global pooling written as ReduceMean over
 * H and W, as TensorFlow and ShuffleNet-style exports do): each channel is reduced on its own.
 */
registerRule(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSum', 'ReduceL2'], {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block(`${node.opType} reads the channels as its axes`);
    if (arrival.layout.block !== 1) return block(`${node.opType} over a flattened channel axis`);
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    let axes = intsAttr(node, 'axes');
    if (!axes && node.input[1]) {
      const constant = ctx.index.constants.get(node.input[1]);
      if (!constant) return block(`${node.opType} axes are computed at run time`);
      axes = readIntTensor(constant);
    }
    if (!axes || axes.length === 0) return block(`${node.opType} reduces every axis, the channel axis included`);
    const reduced = axes.map((a) => (a < 0 ? a + rank : a));
    const channelAxis = arrival.layout.axis;
    if (reduced.includes(channelAxis)) return block(`${node.opType} reduces the channel axis`);
    const keepDims = intAttr(node, 'keepdims', 1) === 1;
    const axis = keepDims ? channelAxis : channelAxis - reduced.filter((a) => a < channelAxis).length;
    return { kind: 'pass', outputs: [{ name: node.output[0], layout: { ...arrival.layout, axis } }] };
  },
});
