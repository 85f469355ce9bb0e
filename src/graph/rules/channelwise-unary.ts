import { elementCount, tensorDims } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, passFirstOutput } from './helpers.ts';

/**
 * Element-wise ops that act on each channel alone; extra inputs, if any, are constant scalars
 * (Clip's bounds, Pow's exponent): the space passes through unchanged.
 */
registerRule(
  [
    'Relu',
    'LeakyRelu',
    'Clip',
    'Sigmoid',
    'HardSigmoid',
    'HardSwish',
    'Tanh',
    'Elu',
    'Selu',
    'Celu',
    'Softplus',
    'Softsign',
    'Erf',
    'Gelu',
    'Mish',
    'ThresholdedRelu',
    'Abs',
    'Neg',
    'Exp',
    'Sqrt',
    'Reciprocal',
    'Pow',
    'Dropout',
    'Identity',
    'Cast',
  ],
  {
    visit(ctx, arrival) {
      const node = nodeAt(ctx, arrival);
      if (arrival.input !== 0) return block('the channels arrive as a scalar parameter');
      const scalar = (name: string) => {
        const constant = ctx.index.constants.get(name);
        return constant !== undefined && elementCount(tensorDims(constant)) <= 1;
      };
      if (node.input.slice(1).some((name) => name && !scalar(name) && node.opType !== 'Dropout')) {
        return block(`${node.opType} parameters are not constant scalars`);
      }
      return passFirstOutput(ctx, arrival);
    },
  },
);
