import { registerRule } from '../registry.ts';
import { block, passFirstOutput } from './helpers.ts';

/**
 * Element-wise ops that act on each channel alone (extra inputs, if any, are scalars such as
 * Clip's bounds): the space passes through unchanged.
 */
registerRule(
  [
    'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Celu',
    'Softplus', 'Softsign', 'Erf', 'Gelu', 'Mish', 'ThresholdedRelu', 'Abs', 'Neg', 'Exp', 'Sqrt', 'Reciprocal',
    'Dropout', 'Identity', 'Cast',
  ],
  {
    visit(ctx, arrival) {
      if (arrival.input !== 0) return block('the channels arrive as a scalar parameter');
      return passFirstOutput(ctx, arrival);
    },
  },
);
