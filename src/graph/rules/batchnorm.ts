import { registerRule } from '../registry.ts';
import { block, nodeAt, passFirstOutput, perChannel } from './helpers.ts';

/** BatchNormalization: per-channel scale, bias, mean and variance on axis 1, sliced with the space. */
registerRule('BatchNormalization', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('BatchNormalization reads the channels as a parameter');
    if (arrival.layout.axis !== 1 || arrival.layout.block !== 1)
      return block('BatchNormalization channels are not on axis 1');
    if (!node.input.slice(1, 5).every((name) => ctx.constant(name)))
      return block('BatchNormalization parameters are computed at run time');
    const passed = passFirstOutput(ctx, arrival);
    if (passed.kind !== 'pass') return passed;
    return { ...passed, slices: [1, 2, 3, 4].map((input) => perChannel(arrival, input, 0)) };
  },
});
