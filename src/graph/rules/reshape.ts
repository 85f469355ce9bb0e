import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import type { Layout, ShapeEntry } from '../types.ts';
import { block, nodeAt } from './helpers.ts';

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * Reshape that leaves the channels contiguous:
 * - merging the channel axis with all that follow (a flatten, e.g. [N, C, H, W] → [N, C·H·W]),
 *   every axis before it kept;
 * - keeping the channel axis and all that follow, the axes before it merged or split
 *   (tokens of channels-last exports, e.g. [N, H, W, C] → [N, H·W, C]).
 * An explicit channel count in the shape constant follows the kept channels.
 */
registerRule('Reshape', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('the channels arrive as a Reshape shape');
    if (!ctx.constant(node.input[1])) return block('Reshape shape is computed at run time');
    const inShape = ctx.shapes.get(arrival.tensor);
    const outShape = ctx.shapes.get(node.output[0]);
    if (!inShape || !outShape) return block('Reshape shapes are unknown');
    const { axis } = arrival.layout;
    const spec = readIntTensor(ctx.index.constants.get(node.input[1])!);

    let layout: Layout;
    const flattens = outShape.length === axis + 1 && inShape.slice(0, axis).every((d, i) => d === outShape[i]) && outShape[axis] === product(inShape.slice(axis));
    const trailing = inShape.length - axis;
    const keepsTail = outShape.length >= trailing && inShape.slice(axis).join() === outShape.slice(outShape.length - trailing).join();
    if (flattens) {
      const inner = product(inShape.slice(axis + 1));
      layout = { axis, block: arrival.layout.block * inner, offset: (arrival.layout.offset ?? 0) * inner };
    } else if (keepsTail) {
      layout = { ...arrival.layout, axis: outShape.length - trailing };
    } else {
      return block(`Reshape from [${inShape}] to [${outShape}] splits or moves the channel axis`);
    }
    const shapeEntries: ShapeEntry[] = [];
    const entry = spec[layout.axis];
    if (entry > 0) shapeEntries.push({ node: arrival.node, input: 1, position: layout.axis, block: layout.block });
    else if (entry === 0 && (layout.axis !== axis || flattens)) return block('Reshape copies an input size (0) where the channel count is needed');
    return { kind: 'pass', outputs: [{ name: node.output[0], layout }], shapeEntries };
  },
});
