import { intsAttr } from '../../onnx/graph-index.ts';
import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/** Pad of the spatial axes (pads as an input from opset 11, an attribute before): each channel alone. */
registerRule('Pad', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('the channels arrive as Pad parameters');
    let pads = intsAttr(node, 'pads');
    if (node.input[1]) {
      const constant = ctx.index.constants.get(node.input[1]);
      if (!constant) return block('Pad amounts are computed at run time');
      pads = readIntTensor(constant);
    }
    if (node.input[3]) return block('Pad with explicit axes');
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    const axis = arrival.layout.axis;
    if (!pads || pads.length !== 2 * rank) return block('Pad amounts are missing');
    if (arrival.layout.block !== 1) return block('Pad of a flattened channel axis');
    if (pads[axis] !== 0 || pads[axis + rank] !== 0) return block('Pad adds entries on the channel axis');
    return { kind: 'pass', outputs: [{ name: node.output[0], layout: arrival.layout }] };
  },
});
