import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, perChannel, rankOf } from './helpers.ts';

/**
 * Concat along the channel axis places each input's channels at an offset of the output axis:
 * the space continues there, beside the other inputs' channels (which may be other spaces).
 * Along another axis every input must carry the same channels: a constant operand (a class token)
 * is sliced with the space, an activation joins it.
 */
registerRule('Concat', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const rank = rankOf(ctx, arrival.tensor);
    if (rank === undefined) return block('Concat input shape is unknown');
    if (node.input.filter((name) => name === arrival.tensor).length > 1)
      return block('Concat reads the same channels twice');
    let axis = intAttr(node, 'axis', 0);
    if (axis < 0) axis += rank;
    const layout = arrival.layout;
    if (axis === layout.axis) {
      let before = 0;
      for (const name of node.input.slice(0, arrival.input)) {
        const size = ctx.shapes.get(name)?.[axis] ?? ctx.constantDims(name)?.[axis];
        if (size === undefined) return block(`Concat input "${name}" has an unknown size on the channel axis`);
        before += size;
      }
      return {
        kind: 'pass',
        outputs: [{ name: node.output[0], layout: { ...layout, offset: before + (layout.offset ?? 0) } }],
      };
    }
    const others = node.input.filter((_, i) => i !== arrival.input);
    const constants = others.filter((name) => ctx.constant(name));
    const slices = constants.map((name) => perChannel(arrival, node.input.indexOf(name), layout.axis));
    if (
      constants.some((name) => ctx.constantDims(name)?.[layout.axis] !== ctx.shapes.get(arrival.tensor)?.[layout.axis])
    ) {
      return block('Concat constant operand does not carry the channels');
    }
    const sameSpace = others.filter((name) => !ctx.constant(name));
    return { kind: 'pass', outputs: [{ name: node.output[0], layout }], slices, sameSpace };
  },
});
