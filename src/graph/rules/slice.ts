import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import type { ShapeEntry } from '../types.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/**
 * Slice (inputs form, opset ≥ 10). Slicing other axes passes the space on, whatever the bounds (a
 * rotary embedding's rotate_half computes them at run time from the head size). On the channel axis
 * the space passes when the range holds all of its channels, at an offset within the output; bounds
 * past the space move down with the removed channels. A range cutting through the space stops it.
 */
registerRule('Slice', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('the channels arrive as Slice bounds');
    const constants = node.input.slice(1).map((name) => (name ? ctx.index.constants.get(name) : undefined));
    if (node.input.length < 3) return block('Slice has no bounds');
    const [starts, ends, axesInput, stepsInput] = constants.map((t) => (t ? readIntTensor(t) : undefined));
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    const layout = arrival.layout;
    const output = node.output[0];
    const otherAxes = axesInput?.every((a) => (a < 0 ? a + rank : a) !== layout.axis);
    if (otherAxes) return { kind: 'pass', outputs: [{ name: output, layout }] };
    if (node.input.slice(1).some((name, i) => name && !constants[i]))
      return block('Slice bounds are computed at run time');
    const axes = (axesInput ?? starts!.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a));
    const i = axes.indexOf(layout.axis);
    if (i < 0) return { kind: 'pass', outputs: [{ name: output, layout }] };
    if ((stepsInput?.[i] ?? 1) !== 1) return block('Slice steps through the channel axis');

    const size = ctx.shapes.get(arrival.tensor)![layout.axis];
    const first = layout.offset ?? 0;
    const last = first + arrival.channels * layout.block;
    const shapeEntries: ShapeEntry[] = [];
    const bound = (raw: number, input: number): number | undefined => {
      const at = Math.min(Math.max(raw < 0 ? raw + size : raw, 0), size);
      if (at > first && at < last) return undefined;
      // A bound past the space moves down; one counted from the end already does; one at the end stays there.
      if (at >= last && raw >= 0 && raw < size)
        shapeEntries.push({ node: arrival.node, input, position: i, block: layout.block });
      if (at <= first && raw < 0) return undefined;
      return at;
    };
    const from = bound(starts![i], 1);
    const to = bound(ends![i], 2);
    if (from === undefined || to === undefined) return block('Slice cuts through the channels of one layer');
    if (to <= first || from >= last) return { kind: 'pass', outputs: [], shapeEntries };
    return { kind: 'pass', outputs: [{ name: output, layout: { ...layout, offset: first - from } }], shapeEntries };
  },
});
