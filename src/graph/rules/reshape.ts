import { registerRule } from '../registry.ts';
import type { Layout, Visit } from '../types.ts';
import { block, nodeAt } from './helpers.ts';
import { shapeSource } from './shape-source.ts';

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Reshape that leaves the channels contiguous:
 * - merging the channel axis with some or all that follow (a flatten, e.g. [N, C, H, W] → [N, C·H·W],
 *   or heads back into features, [B, T, H, Dh] → [B, T, H·Dh]), every axis before it kept;
 * - splitting each channel's block off to an axis of its own ([B, T, H·Dh] → [B, T, H, Dh]); where
 *   the block is smaller than the new axis, the channels go on in groups (attention heads);
 * - keeping the channel axis and all that follow, the axes before it merged or split
 *   (tokens of channels-last exports, e.g. [N, H, W, C] → [N, H·W, C]);
 * - adding or removing axes of size 1 only ([1, C, 1, 1] → [C] in an export for batch 1).
 * The shape operand is a constant or, as PyTorch exports build it, a Concat of single entries; the
 * entry giving the channel count follows the kept channels.
 */
registerRule('Reshape', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('the channels arrive as a Reshape shape');
    const source = shapeSource(ctx, arrival.node, 1);
    if (!source) return block('Reshape shape is computed at run time');
    const inShape = ctx.shapes.get(arrival.tensor);
    const outShape = ctx.shapes.get(node.output[0]);
    if (!inShape || !outShape) return block('Reshape shapes are unknown');
    const { axis } = arrival.layout;
    const offset = arrival.layout.offset ?? 0;
    const whole = offset === 0 && inShape[axis] === arrival.channels * arrival.layout.block;

    let layout: Layout;
    const leading = same(inShape.slice(0, axis), outShape.slice(0, axis));
    const trailing = inShape.length - axis;
    const merged = leading ? mergedAxes(inShape, outShape, axis) : 0;
    if (merged > 0) {
      const inner = product(inShape.slice(axis + 1, axis + 1 + merged));
      layout = { axis, block: arrival.layout.block * inner, offset: offset * inner };
    } else if (
      leading &&
      whole &&
      outShape.length === inShape.length + 1 &&
      outShape[axis] * outShape[axis + 1] === inShape[axis] &&
      same(inShape.slice(axis + 1), outShape.slice(axis + 2))
    ) {
      const split = splitBlock(arrival.layout.block, outShape[axis + 1]);
      if ('kind' in split) return split;
      layout = { axis, block: split.block };
    } else if (outShape.length >= trailing && same(inShape.slice(axis), outShape.slice(outShape.length - trailing))) {
      layout = { ...arrival.layout, axis: outShape.length - trailing };
    } else if (inShape[axis] > 1 && onlySingletonsMove(inShape, outShape)) {
      layout = { ...arrival.layout, axis: nonSingletonAxis(outShape, nonSingletonIndex(inShape, axis)) };
    } else {
      return block(`Reshape from [${inShape}] to [${outShape}] splits or moves the channel axis`);
    }
    const value = source.values[layout.axis];
    if (value === 0 && (layout.axis !== axis || inShape[axis] !== outShape[layout.axis])) {
      return block('Reshape copies an input size (0) where the channel count is needed');
    }
    if (value === -1 || value === 0) return { kind: 'pass', outputs: [{ name: node.output[0], layout }] };
    // A count computed at run time is replaced where the space fills the axis: its size is then the
    // space's, fixed by the weights whatever the input (nanoGPT's view(B, T, C) after attention).
    const fills = (layout.offset ?? 0) === 0 && outShape[layout.axis] === arrival.channels * layout.block;
    const entry = source.entry(layout.axis, layout.block, fills ? outShape[layout.axis] : undefined);
    if (!entry) return block('the channel count of a Reshape is computed at run time');
    return { kind: 'pass', outputs: [{ name: node.output[0], layout }], shapeEntries: [entry] };
  },
});

/** True when the two shapes differ only by axes of size 1 (a Squeeze or Unsqueeze written as a Reshape). */
function onlySingletonsMove(a: readonly number[], b: readonly number[]): boolean {
  return same(
    a.filter((d) => d !== 1),
    b.filter((d) => d !== 1),
  );
}

const nonSingletonIndex = (shape: readonly number[], axis: number) =>
  shape.slice(0, axis).filter((d) => d !== 1).length;
const nonSingletonAxis = (shape: readonly number[], index: number) =>
  shape.findIndex((d, i) => d !== 1 && nonSingletonIndex(shape, i) === index);

/**
 * How many axes after the channel axis merge into it ([B, kv, n, T, D] → [B, kv·n, T, D] repeating
 * keys for grouped-query attention; all of them in a flatten), the later axes unchanged; 0 if none.
 */
function mergedAxes(inShape: readonly number[], outShape: readonly number[], axis: number): number {
  for (let count = 1; axis + count < inShape.length; count++) {
    if (
      outShape[axis] === product(inShape.slice(axis, axis + count + 1)) &&
      same(inShape.slice(axis + count + 1), outShape.slice(axis + 1))
    )
      return count;
  }
  return 0;
}

/**
 * Splitting entries of `block` per channel into an axis of `size`: exact; channels grouped by
 * size / block where the axis is coarser; each channel taking block / size entries of the new
 * axis where it is finer (a group of attention heads).
 */
function splitBlock(blockSize: number, size: number): Visit | { block: number } {
  if (size === blockSize) return { block: 1 };
  if (size > blockSize && size % blockSize === 0) return { kind: 'regroup', unit: size / blockSize };
  if (size < blockSize && blockSize % size === 0) return { block: blockSize / size };
  return block(`Reshape splits each channel's ${blockSize} entries into parts of ${size}`);
}
