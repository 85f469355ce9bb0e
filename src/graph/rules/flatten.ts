import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt } from './helpers.ts';

/** Flatten from the channel axis: each channel becomes a contiguous block of features (C×H×W order). */
registerRule('Flatten', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const shape = ctx.shapes.get(arrival.tensor);
    if (!shape) return block('Flatten input shape is unknown');
    let axis = intAttr(node, 'axis', 1);
    if (axis < 0) axis += shape.length;
    if (axis !== arrival.layout.axis)
      return block(`Flatten at axis ${axis} mixes the channel axis ${arrival.layout.axis} with others`);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    // The output is 2-D: everything before the axis becomes rows, the channels axis 1.
    const layout = { axis: 1, block: arrival.layout.block * inner, offset: (arrival.layout.offset ?? 0) * inner };
    return { kind: 'pass', outputs: [{ name: node.output[0], layout }] };
  },
});
