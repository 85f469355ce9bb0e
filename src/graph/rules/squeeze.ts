import { intsAttr } from '../../onnx/graph-index.ts';
import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import type { RuleContext, Visit } from '../types.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/** Axes of a Squeeze / Unsqueeze: an attribute before opset 13, a constant input from 13 on. */
function axesOf(ctx: RuleContext, node: number): number[] | undefined | 'computed' {
  const proto = nodeAt(ctx, node);
  const attribute = intsAttr(proto, 'axes');
  if (attribute) return attribute;
  if (!proto.input[1]) return undefined;
  const constant = ctx.index.constants.get(proto.input[1]);
  return constant ? readIntTensor(constant) : 'computed';
}

const normalize = (axes: number[], rank: number) => axes.map((a) => (a < 0 ? a + rank : a));

/**
 * Squeeze and Unsqueeze move the channel axis (a pooled [N, C, 1, 1] squeezed to [N, C] before a
 * classifier's Gemm); squeezing the channel axis itself (one channel left) is not followed.
 */
registerRule(['Squeeze', 'Unsqueeze'], {
  visit(ctx, arrival): Visit {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block(`the channels arrive as ${node.opType} axes`);
    const axes = axesOf(ctx, arrival.node);
    if (axes === 'computed') return block(`${node.opType} axes are computed at run time`);
    const inShape = ctx.shapes.get(arrival.tensor);
    const outRank = rankOf(ctx, node.output[0]);
    if (!inShape || outRank === undefined) return block(`${node.opType} shapes are unknown`);
    const { axis } = arrival.layout;
    let moved: number;
    if (node.opType === 'Squeeze') {
      const squeezed = axes ? normalize(axes, inShape.length) : inShape.flatMap((d, i) => (d === 1 ? [i] : []));
      if (squeezed.includes(axis)) return block('Squeeze removes the channel axis');
      moved = axis - squeezed.filter((a) => a < axis).length;
    } else {
      if (!axes) return block('Unsqueeze has no axes');
      const inserted = new Set(normalize(axes, outRank));
      const kept = Array.from({ length: outRank }, (_, i) => i).filter((i) => !inserted.has(i));
      moved = kept[axis];
    }
    return { kind: 'pass', outputs: [{ name: node.output[0], layout: { ...arrival.layout, axis: moved } }] };
  },
});
