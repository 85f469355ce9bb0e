import { type GraphIndex, hasSubgraphs, nodeLabel } from '../onnx/graph-index.ts';
import type { Shapes } from '../onnx/shapes.ts';
import { isFloatTensor, tensorDims } from '../onnx/tensor.ts';
import './rules/index.ts';
import { ruleFor } from './registry.ts';
import type { ChannelSpace, RuleContext, SpaceTensor } from './types.ts';

export function ruleContext(index: GraphIndex, shapes: Shapes): RuleContext {
  return {
    index,
    shapes,
    constant: (name) => index.constants.has(name),
    constantDims: (name) => {
      const t = index.constants.get(name);
      return t && isFloatTensor(t) ? tensorDims(t) : undefined;
    },
  };
}

/**
 * Finds every channel space: starting at each producer's output, follows the channels through
 * channel-wise ops to the consumers that absorb them. A space meeting anything it cannot follow
 * is kept, marked unprunable with the first reason found.
 */
export function findChannelSpaces(index: GraphIndex, shapes: Shapes): ChannelSpace[] {
  const ctx = ruleContext(index, shapes);
  const spaces: ChannelSpace[] = [];
  index.nodes.forEach((node, i) => {
    const production = ruleFor(node.opType, node.domain)?.produce?.(ctx, i);
    if (production) spaces.push(traceSpace(ctx, spaces.length, i, production));
  });
  return spaces;
}

function traceSpace(
  ctx: RuleContext,
  id: number,
  producer: number,
  start: { output: string; layout: SpaceTensor['layout']; channels: number; slices: ChannelSpace['slices'] },
): ChannelSpace {
  const { index } = ctx;
  const space: ChannelSpace = {
    id,
    channels: start.channels,
    producers: [producer],
    tensors: [],
    channelwise: [],
    slices: [...start.slices],
    shapeEntries: [],
    groups: [],
    consumers: [],
    prunable: true,
  };
  const stop = (reason: string) => {
    if (space.prunable) {
      space.prunable = false;
      space.reason = reason;
    }
  };
  const members = new Map<string, SpaceTensor>();
  const visited = new Set<number>();
  const sameSpaceChecks: { node: number; other: string; layout: SpaceTensor['layout'] }[] = [];
  const queue: SpaceTensor[] = [{ name: start.output, layout: start.layout }];

  while (queue.length > 0) {
    const tensor = queue.shift()!;
    if (members.has(tensor.name)) continue;
    members.set(tensor.name, tensor);
    space.tensors.push(tensor);
    if (index.graphOutputs.has(tensor.name)) stop(`tensor "${tensor.name}" is a model output`);
    for (const consumer of index.consumers.get(tensor.name) ?? []) {
      if (visited.has(consumer)) continue;
      visited.add(consumer);
      const node = index.nodes[consumer];
      const label = `${node.opType} "${nodeLabel(index, consumer)}"`;
      const rule = ruleFor(node.opType, node.domain);
      if (!rule || hasSubgraphs(node)) {
        stop(`${label}: no rule for op ${node.domain ? node.domain + '.' : ''}${node.opType}`);
        continue;
      }
      const input = node.input.indexOf(tensor.name);
      const visit = rule.visit(ctx, { node: consumer, input, tensor: tensor.name, layout: tensor.layout, channels: space.channels });
      if (visit.kind === 'block') {
        stop(`${label}: ${visit.reason}`);
      } else if (visit.kind === 'consume') {
        space.consumers.push({ node: consumer, reads: tensor.name, weight: visit.weight });
      } else {
        space.channelwise.push(consumer);
        space.slices.push(...(visit.slices ?? []));
        space.shapeEntries.push(...(visit.shapeEntries ?? []));
        space.groups.push(...(visit.groups ?? []));
        for (const other of visit.sameSpace ?? []) sameSpaceChecks.push({ node: consumer, other, layout: tensor.layout });
        queue.push(...visit.outputs);
      }
    }
  }
  for (const check of sameSpaceChecks) {
    const other = members.get(check.other);
    const sameLayout = other && other.layout.axis === check.layout.axis && other.layout.block === check.layout.block;
    if (!sameLayout) {
      const node = index.nodes[check.node];
      stop(`${node.opType} "${nodeLabel(index, check.node)}" joins this space with another activation ("${check.other}"): a residual stream, not supported yet`);
    }
  }
  if (space.consumers.length === 0) stop('no consumer absorbs these channels');
  return space;
}
