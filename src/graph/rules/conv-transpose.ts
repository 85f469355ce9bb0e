import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, convProduction, nodeAt, perChannel } from './helpers.ts';

/** ConvTranspose with a constant weight [C_in, C_out, k…] and group 1: produces C_out channels, absorbs C_in. */
registerRule('ConvTranspose', {
  produce: (ctx, i) => convProduction(ctx, i, 1),
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('ConvTranspose reads the channels as its weight');
    if (!ctx.constant(node.input[1])) return block('ConvTranspose weight is computed at run time');
    if (arrival.layout.axis !== 1 || arrival.layout.block !== 1) return block('ConvTranspose input channels are not on axis 1');
    if (intAttr(node, 'group', 1) !== 1) return block('grouped ConvTranspose is not supported');
    return { kind: 'consume', weight: perChannel(arrival, 1, 0) };
  },
});
