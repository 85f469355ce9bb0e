import { intAttr, intsAttr } from '../../onnx/graph-index.ts';
import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import type { ShapeEntry } from '../types.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/**
 * Split along the channel axis sends the space to the output whose range holds it, at an offset
 * within that output; that output's size (input or attribute `split`) follows the kept count.
 * Split along another axis passes the space to every output.
 */
registerRule('Split', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('the channels arrive as Split sizes');
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    let axis = intAttr(node, 'axis', 0);
    if (axis < 0) axis += rank;
    const layout = arrival.layout;
    const used = node.output.filter((name) => name !== '');
    if (axis !== layout.axis) return { kind: 'pass', outputs: used.map((name) => ({ name, layout })) };

    let sizes: number[] | undefined;
    let entry: Omit<ShapeEntry, 'position' | 'block'>;
    if (node.input[1]) {
      const constant = ctx.index.constants.get(node.input[1]);
      if (!constant) return block('Split sizes are computed at run time');
      sizes = readIntTensor(constant);
      entry = { node: arrival.node, input: 1 };
    } else {
      sizes = intsAttr(node, 'split');
      entry = { node: arrival.node, input: -1, attribute: 'split' };
    }
    if (!sizes) return block('Split into equal parts: removing channels would make them unequal');
    const start = layout.offset ?? 0;
    const end = start + arrival.channels * layout.block;
    let from = 0;
    for (let j = 0; j < sizes.length; j++) {
      const to = from + sizes[j];
      if (start >= from && end <= to) {
        return {
          kind: 'pass',
          outputs: [{ name: node.output[j], layout: { ...layout, offset: start - from } }],
          shapeEntries: [{ ...entry, position: j, block: layout.block }],
        };
      }
      if (start < to && end > from) {
        // Across several parts: each part may go on as a space of its own (a packed projection).
        const whole = start === 0 && end === sizes.reduce((a, b) => a + b, 0);
        if (whole && sizes.every((size) => size % layout.block === 0)) return { kind: 'partition', sizes };
        return block('Split cuts through the channels of one layer');
      }
      from = to;
    }
    return block('Split sizes do not cover the channels');
  },
});
