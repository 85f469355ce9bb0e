import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, perChannel } from './helpers.ts';

/** ConvTranspose with a constant weight [C_in, C_out, k…] and group 1: produces C_out channels, absorbs C_in. */
registerRule('ConvTranspose', {
  produce(ctx, i) {
    const node = nodeAt(ctx, i);
    const weightDims = ctx.constantDims(node.input[1]);
    if (!weightDims || intAttr(node, 'group', 1) !== 1) return null;
    const bias = node.input[2];
    if (bias && !ctx.constant(bias)) return null;
    const slices = [{ node: i, input: 1, axis: 1, block: 1 }];
    if (bias) slices.push({ node: i, input: 2, axis: 0, block: 1 });
    return { output: node.output[0], layout: { axis: 1, block: 1 }, channels: weightDims[1], slices };
  },
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('ConvTranspose reads the channels as its weight');
    if (!ctx.constant(node.input[1])) return block('ConvTranspose weight is computed at run time');
    if (arrival.layout.axis !== 1 || arrival.layout.block !== 1) return block('ConvTranspose input channels are not on axis 1');
    if (intAttr(node, 'group', 1) !== 1) return block('grouped ConvTranspose is not supported');
    return { kind: 'consume', weight: perChannel(arrival, 1, 0) };
  },
});
