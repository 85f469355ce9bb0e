import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, channelAxisSize, convInputBlock, convProduction, nodeAt, perChannel } from './helpers.ts';

/**
 * Conv with a constant weight [O, C/group, k…]: with group 1 it produces O channels and absorbs its
 * input space; a depthwise Conv (group = C, one filter per channel) passes the space through and
 * is sliced with it.
 */
registerRule('Conv', {
  produce: (ctx, i) => convProduction(ctx, i, 0),
  visit(ctx, arrival) {
    const blocked = convInputBlock(ctx, arrival, 'Conv');
    if (blocked) return blocked;
    const node = nodeAt(ctx, arrival);
    const group = intAttr(node, 'group', 1);
    if (group === 1) return { kind: 'consume', weight: perChannel(arrival, 1, 1) };
    const weight = ctx.constantDims(node.input[1])!;
    const bias = node.input[2];
    const channels = channelAxisSize(ctx, arrival);
    if (group !== channels || weight[0] !== group || weight[1] !== 1) {
      return block(`grouped Conv (group ${group} on ${channels} channels) is not supported yet`);
    }
    if (bias && !ctx.constant(bias)) return block('depthwise Conv bias is computed at run time');
    const slices = [perChannel(arrival, 1, 0)];
    if (bias) slices.push(perChannel(arrival, 2, 0));
    return {
      kind: 'pass',
      outputs: [{ name: node.output[0], layout: arrival.layout }],
      slices,
      groups: [arrival.node],
    };
  },
});
