import { readFloatTensor, readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import type { ShapeEntry } from '../types.ts';
import { block, nodeAt } from './helpers.ts';

/**
 * Resize / Upsample of the spatial axes: the channel axis keeps scale 1. An explicit output size
 * (Resize's `sizes`) names the channel count, which follows the kept channels.
 */
registerRule(['Resize', 'Upsample'], {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block(`the channels arrive as ${node.opType} parameters`);
    if (arrival.layout.block !== 1) return block(`${node.opType} of a flattened channel axis`);
    const axis = arrival.layout.axis;
    const scalesAt = node.input.length === 2 ? 1 : 2; // Upsample and Resize-10: (X, scales)
    const [scalesName, sizesName] = [node.input[scalesAt], node.opType === 'Resize' ? node.input[3] : undefined];
    const shapeEntries: ShapeEntry[] = [];
    if (sizesName) {
      const sizes = ctx.index.constants.get(sizesName);
      if (!sizes) return block('Resize output sizes are computed at run time');
      if (readIntTensor(sizes).length <= axis) return block('Resize sizes do not cover the channel axis');
      shapeEntries.push({ node: arrival.node, input: 3, position: axis, block: 1 });
    } else if (scalesName) {
      const scales = ctx.index.constants.get(scalesName);
      if (!scales) return block(`${node.opType} scales are computed at run time`);
      if (readFloatTensor(scales).data[axis] !== 1) return block(`${node.opType} scales the channel axis`);
    } else {
      return block(`${node.opType} has neither scales nor sizes`);
    }
    return { kind: 'pass', outputs: [{ name: node.output[0], layout: arrival.layout }], shapeEntries };
  },
});
