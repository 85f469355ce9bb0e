import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import type { ShapeEntry } from '../types.ts';
import { block, nodeAt } from './helpers.ts';

/**
 * Reshape that keeps every axis before the channel axis and merges the channel axis with all
 * that follow (a flatten written as Reshape, e.g. [N, C, H, W] → [N, C·H·W] or [N, C, 1, 1] → [N, C]).
 * An explicit C·H·W in the shape constant is rewritten with the kept count.
 */
registerRule('Reshape', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('the channels arrive as a Reshape shape');
    if (!ctx.constant(node.input[1])) return block('Reshape shape is computed at run time');
    const inShape = ctx.shapes.get(arrival.tensor);
    const outShape = ctx.shapes.get(node.output[0]);
    if (!inShape || !outShape) return block('Reshape shapes are unknown');
    const axis = arrival.layout.axis;
    const merged = inShape.slice(axis).reduce((a, b) => a * b, 1);
    const keepsLeading = outShape.length === axis + 1 && inShape.slice(0, axis).every((d, i) => d === outShape[i]);
    if (!keepsLeading || outShape[axis] !== merged) return block(`Reshape from [${inShape}] to [${outShape}] splits or moves the channel axis`);
    const inner = inShape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const newBlock = arrival.layout.block * inner;
    const offset = (arrival.layout.offset ?? 0) * inner;
    const spec = readIntTensor(ctx.index.constants.get(node.input[1])!);
    const shapeEntries: ShapeEntry[] = [];
    if (spec[axis] > 0) shapeEntries.push({ node: arrival.node, input: 1, position: axis, block: newBlock });
    else if (spec[axis] === 0) return block('Reshape copies the channel axis size (0) where the flattened size is needed');
    return { kind: 'pass', outputs: [{ name: node.output[0], layout: { axis, block: newBlock, offset } }], shapeEntries };
  },
});
