import { intAttr, intsAttr } from '../../onnx/graph-index.ts';
import { readFloatTensor, readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import type { Arrival, NormOfSquares, RuleContext } from '../types.ts';
import { block, channelAxisSize, nodeAt, rankOf } from './helpers.ts';

/**
 * Reductions over axes other than the channel axis (a global pooling written as ReduceMean over
 * H and W, as TensorFlow and ShuffleNet-style exports do): each channel is reduced on its own.
 * Over the channel axis, the mean of squares of RMSNorm (see normOfSquares).
 */
registerRule(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSum', 'ReduceL2'], {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block(`${node.opType} reads the channels as its axes`);
    if (arrival.layout.block !== 1) return block(`${node.opType} over a flattened channel axis`);
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    let axes = intsAttr(node, 'axes');
    if (!axes && node.input[1]) {
      const constant = ctx.index.constants.get(node.input[1]);
      if (!constant) return block(`${node.opType} axes are computed at run time`);
      axes = readIntTensor(constant);
    }
    if (!axes || axes.length === 0) return block(`${node.opType} reduces every axis, the channel axis included`);
    const reduced = axes.map((a) => (a < 0 ? a + rank : a));
    const channelAxis = arrival.layout.axis;
    if (reduced.includes(channelAxis)) {
      const norm = reduced.length === 1 ? normOfSquares(ctx, arrival) : undefined;
      return norm ? { kind: 'norm', norm } : block(`${node.opType} reduces the channel axis`);
    }
    const keepDims = intAttr(node, 'keepdims', 1) === 1;
    const axis = keepDims ? channelAxis : channelAxis - reduced.filter((a) => a < channelAxis).length;
    return { kind: 'pass', outputs: [{ name: node.output[0], layout: { ...arrival.layout, axis } }] };
  },
});

/** Scalar ops between RMSNorm's mean of squares and the scale it multiplies the stream by. */
const SCALE_OPS = new Set(['Add', 'Sqrt', 'Reciprocal', 'Div', 'Pow', 'Cast']);

/**
 * RMSNorm as exporters spell it: x · 1/√(mean(x²) + ε) (· w): ReduceMean over the channel axis of
 * Pow(x, 2) or x · x, kept dims, then scalar ops down to a Mul or Div of x by that scale, then an
 * optional per-channel weight. The normalized stream must be what layers read (checked when the
 * space is complete). Anything else reducing the channels is not a norm this follows.
 */
function normOfSquares(ctx: RuleContext, arrival: Arrival): NormOfSquares | undefined {
  const node = nodeAt(ctx, arrival);
  if (node.opType !== 'ReduceMean' || intAttr(node, 'keepdims', 1) !== 1 || arrival.layout.block !== 1) return;
  if ((arrival.layout.offset ?? 0) !== 0 || channelAxisSize(ctx, arrival) !== arrival.channels) return;
  const squares = ctx.index.producer.get(arrival.tensor);
  const square = squares === undefined ? undefined : ctx.index.nodes[squares];
  const exponent =
    square?.opType === 'Pow' && ctx.constantDims(square.input[1])
      ? ctx.index.constants.get(square.input[1])
      : undefined;
  const squared =
    (square?.opType === 'Mul' && square.input[0] === square.input[1]) ||
    (exponent !== undefined && readFloatValue(exponent) === 2);
  if (!square || !squared || squares === undefined) return;
  const source = square.input[0];
  let scale = node.output[0];
  for (let step = 0; step < 6; step++) {
    const readers = ctx.index.consumers.get(scale) ?? [];
    if (readers.length !== 1) return;
    const next = ctx.index.nodes[readers[0]];
    const normalizes =
      ((next.opType === 'Mul' || next.opType === 'Div') && next.input[0] === source && next.input[1] === scale) ||
      (next.opType === 'Mul' && next.input[1] === source && next.input[0] === scale);
    if (normalizes)
      return { squares, reduce: arrival.node, source, ...weighted(ctx, next.output[0], arrival.channels) };
    // The scale must stay a function of the mean alone: its other operands are constants (ε, exponents).
    const others = next.input.filter((name) => name && name !== scale);
    if (!SCALE_OPS.has(next.opType) || !others.every((name) => ctx.constant(name))) return;
    scale = next.output[0];
  }
  return undefined;
}

/** The stream layers read after the norm: through a Mul by a per-channel constant weight where there is one. */
function weighted(ctx: RuleContext, normalized: string, channels: number): Pick<NormOfSquares, 'reads' | 'weight'> {
  const readers = ctx.index.consumers.get(normalized) ?? [];
  const mul = readers.length === 1 ? ctx.index.nodes[readers[0]] : undefined;
  if (mul?.opType === 'Mul') {
    const input = mul.input[0] === normalized ? 1 : 0;
    const dims = ctx.constantDims(mul.input[input]);
    if (dims?.length === 1 && dims[0] === channels)
      return { reads: mul.output[0], weight: { node: readers[0], input } };
  }
  return { reads: normalized };
}

function readFloatValue(tensor: Parameters<typeof readFloatTensor>[0]): number | undefined {
  const { data } = readFloatTensor(tensor);
  return data.length === 1 ? data[0] : undefined;
}
