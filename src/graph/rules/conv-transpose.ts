import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, convInputBlock, convProduction, nodeAt, perChannel } from './helpers.ts';

/** ConvTranspose with a constant weight [C_in, C_out, k…] and group 1: produces C_out channels, absorbs C_in. */
registerRule('ConvTranspose', {
  produce: (ctx, i) => convProduction(ctx, i, 1),
  visit(ctx, arrival) {
    const blocked = convInputBlock(ctx, arrival, 'ConvTranspose');
    if (blocked) return blocked;
    if (intAttr(nodeAt(ctx, arrival), 'group', 1) !== 1) return block('grouped ConvTranspose is not supported');
    return { kind: 'consume', weight: perChannel(arrival, 1, 0) };
  },
});
