import { intsAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { nodeAt, rankOf } from './helpers.ts';

/**
 * Transpose moves the channel axis (NCHW ↔ NHWC in channels-last exports); the axis moves whole,
 * so the channels keep their place along it.
 */
registerRule('Transpose', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    const perm = intsAttr(node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    return {
      kind: 'pass',
      outputs: [{ name: node.output[0], layout: { ...arrival.layout, axis: perm.indexOf(arrival.layout.axis) } }],
    };
  },
});
