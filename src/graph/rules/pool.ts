import { registerRule } from '../registry.ts';
import { block, passFirstOutput } from './helpers.ts';

/** Spatial pooling works on each channel alone (NCHW). */
registerRule(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool'], {
  visit(ctx, arrival) {
    if (arrival.layout.axis !== 1 || arrival.layout.block !== 1)
      return block('pooling over a tensor whose channels are not on axis 1');
    return passFirstOutput(ctx, arrival);
  },
});
