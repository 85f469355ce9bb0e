import { registerRule } from '../registry.ts';
import { passElementwise } from './broadcast.ts';

/**
 * Add / Sub / Mul / Div, and Max / Min of any number of operands (tf2onnx writes a clip as
 * Max(x, constant)). With constant operands that are per-channel or broadcast (a bias, a scale, a
 * bound) the space passes through and the constants are sliced with it. With two activations the
 * output joins both: that is channel-wise only when both are the same space (x · erf(x) in GELU);
 * the builder checks that, and otherwise the join is a residual stream. An activation of size 1 on
 * the channel axis is broadcast to every channel and joins nothing.
 */
registerRule(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min'], {
  visit(ctx, arrival) {
    const inputs = ctx.index.nodes[arrival.node].input;
    return passElementwise(
      ctx,
      arrival,
      inputs.map((_, i) => i).filter((i) => i !== arrival.input),
    );
  },
});
