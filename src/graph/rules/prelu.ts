import { registerRule } from '../registry.ts';
import { passElementwise } from './broadcast.ts';
import { block } from './helpers.ts';

/** PRelu: a per-channel (or shared) constant slope, sliced with the channels. */
registerRule('PRelu', {
  visit(ctx, arrival) {
    const node = ctx.index.nodes[arrival.node];
    if (arrival.input !== 0) return block('PRelu reads the channels as its slope');
    if (!ctx.constant(node.input[1])) return block('PRelu slope is computed at run time');
    return passElementwise(ctx, arrival, [1]);
  },
});
