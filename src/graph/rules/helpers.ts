import type { NodeProto } from 'onnx-buf';
import { intAttr } from '../../onnx/graph-index.ts';
import type { Arrival, ConstantSlice, Production, RuleContext, Visit } from '../types.ts';

export const block = (reason: string): Visit => ({ kind: 'block', reason });

export function nodeAt(ctx: RuleContext, arrival: Arrival | number): NodeProto {
  return ctx.index.nodes[typeof arrival === 'number' ? arrival : arrival.node];
}

/** Passes the space unchanged to the node's first output; other outputs must be unused. */
export function passFirstOutput(ctx: RuleContext, arrival: Arrival): Visit {
  const node = nodeAt(ctx, arrival);
  const extraUsed = node.output
    .slice(1)
    .some((name) => name && (ctx.index.consumers.has(name) || ctx.index.graphOutputs.has(name)));
  if (extraUsed) return block(`${node.opType} uses a secondary output`);
  return { kind: 'pass', outputs: [{ name: node.output[0], layout: arrival.layout }] };
}

/** Constant input `input` of the arrival's node, holding one slice per channel of the arriving tensor along `axis`. */
export function perChannel(arrival: Arrival, input: number, axis: number): ConstantSlice {
  return { node: arrival.node, input, axis, block: arrival.layout.block, offset: arrival.layout.offset };
}

/** Entries of the tensor's channel axis taken by other spaces or by none: the space fills it when 0. */
export function channelAxisSize(ctx: RuleContext, arrival: Arrival): number | undefined {
  return ctx.shapes.get(arrival.tensor)?.[arrival.layout.axis];
}

/**
 * The output channels of a Conv-like node (group 1) with a constant weight whose output channels
 * lie on `weightAxis` (0 for Conv, 1 for ConvTranspose) and an optional constant bias.
 */
export function convProduction(ctx: RuleContext, i: number, weightAxis: number): Production | null {
  const node = nodeAt(ctx, i);
  const weightDims = ctx.constantDims(node.input[1]);
  if (!weightDims || intAttr(node, 'group', 1) !== 1) return null;
  const bias = node.input[2];
  if (bias && !ctx.constant(bias)) return null;
  const slices = [{ node: i, input: 1, axis: weightAxis, block: 1 }];
  if (bias) slices.push({ node: i, input: 2, axis: 0, block: 1 });
  return { output: node.output[0], layout: { axis: 1, block: 1 }, channels: weightDims[weightAxis], slices };
}

/** Why a Conv-like node cannot read the arriving channels as its input channels, if it cannot. */
export function convInputBlock(ctx: RuleContext, arrival: Arrival, op: string): Visit | undefined {
  const node = nodeAt(ctx, arrival);
  if (arrival.input !== 0) return block(`${op} reads the channels as its weight`);
  if (!ctx.constant(node.input[1])) return block(`${op} weight is computed at run time`);
  if (arrival.layout.axis !== 1 || arrival.layout.block !== 1) return block(`${op} input channels are not on axis 1`);
  return undefined;
}

export function rankOf(ctx: RuleContext, tensor: string): number | undefined {
  return ctx.shapes.get(tensor)?.length;
}
