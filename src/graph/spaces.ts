import { carriedState, type GraphIndex, hasSubgraphs, nodeLabel } from '../onnx/graph-index.ts';
import type { Shapes } from '../onnx/shapes.ts';
import { isFloatTensor, tensorDims } from '../onnx/tensor.ts';
import './rules/index.ts';
import { ruleFor } from './registry.ts';
import type { ChannelSpace, Production, RuleContext, SpaceTensor } from './types.ts';

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

/** A binary op whose other operand must carry the same channels. */
interface Join {
  node: number;
  other: string;
  layout: SpaceTensor['layout'];
}

interface Traced {
  space: ChannelSpace;
  joins: Join[];
  /** The production traced (a producer, or one part of a packed one) and the unit it was traced with. */
  origin: string;
  relativeUnit: number;
}

/** Rounds of re-tracing spaces whose channels must go on in coarser units to meet another space. */
const MAX_REGROUP_ROUNDS = 4;

export interface SpaceOptions {
  /** Leave coupled spaces (several producers joined by Add / Sub / Mul: residual streams) intact. */
  keepCoupled?: boolean;
}

/**
 * Finds every channel space: starting at each producer's output, follows the channels through
 * channel-wise ops to the consumers that absorb them. Spaces joined by an element-wise op of two
 * activations (a residual stream, a gated branch) are coupled into one: one channel subset for all
 * their producers and consumers. A space meeting anything it cannot follow is kept, marked
 * unprunable with the first reason found.
 */
export function findChannelSpaces(index: GraphIndex, shapes: Shapes, options: SpaceOptions = {}): ChannelSpace[] {
  const ctx = ruleContext(index, shapes);
  const units = new Map<string, number>();
  let traced: Traced[] = [];
  for (let round = 0; round <= MAX_REGROUP_ROUNDS; round++) {
    traced = [];
    index.nodes.forEach((node, i) => {
      const production = ruleFor(node.opType, node.domain)?.produce?.(ctx, i);
      if (production) traced.push(...traceProduction(ctx, i, production, units));
    });
    const requests = coarserUnits(traced);
    if (requests.size === 0) break;
    for (const [origin, unit] of requests) units.set(origin, unit);
  }
  const spaces = coupleJoined(index, traced, options);
  spaces.forEach((space, id) => {
    space.id = id;
    if (space.consumers.length === 0) block(space, 'no consumer absorbs these channels');
    const read = new Set(space.consumers.map((c) => c.reads));
    const unread = space.norms.find((n) => !read.has(n.reads));
    if (unread)
      block(space, `the stream normalized by "${nodeLabel(index, unread.reduce)}" is not read by layers with weights`);
  });
  blockSharedEdits(index, spaces);
  return spaces;
}

/**
 * Two spaces must not edit the same entry: a shape operand computed once and used by the Reshapes
 * of two attention blocks, say, cannot follow both. Such spaces are left intact.
 */
function blockSharedEdits(index: GraphIndex, spaces: ChannelSpace[]): void {
  const owners = new Map<string, ChannelSpace[]>();
  const claim = (key: string, space: ChannelSpace) =>
    owners.set(key, [...new Set([...(owners.get(key) ?? []), space])]);
  for (const space of spaces) {
    for (const e of space.shapeEntries) claim(`shape|${e.node}|${e.input}|${e.attribute}|${e.position}`, space);
    for (const s of space.slices) claim(`slice|${s.node}|${s.input}|${s.axis}|${s.offset ?? 0}`, space);
  }
  for (const [key, claimants] of owners) {
    if (claimants.length < 2) continue;
    const node = index.nodes[Number(key.split('|')[1])];
    for (const space of claimants)
      block(
        space,
        `${node.opType} "${node.name || node.opType}" holds a count or weights that another space also changes`,
      );
  }
}

function block(space: ChannelSpace, reason: string): void {
  if (space.prunable) {
    space.prunable = false;
    space.reason = reason;
  }
}

/** Merges the spaces that joins connect (union-find) and checks every join against the result. */
function coupleJoined(index: GraphIndex, traced: Traced[], options: SpaceOptions): ChannelSpace[] {
  const parent = traced.map((_, i) => i);
  const find = (i: number): number => {
    if (parent[i] !== i) parent[i] = find(parent[i]);
    return parent[i];
  };
  // A tensor may hold several spaces side by side (a Concat output): a join couples the one in the same place.
  const owners = new Map<string, number[]>();
  traced.forEach((t, i) => {
    for (const tensor of t.space.tensors) {
      const key = placeKey(tensor.name, tensor.layout);
      owners.set(key, [...(owners.get(key) ?? []), i]);
    }
  });
  traced.forEach((t, i) => {
    for (const join of t.joins)
      for (const j of owners.get(placeKey(join.other, join.layout)) ?? []) parent[find(j)] = find(i);
  });
  const groups = new Map<number, Traced[]>();
  traced.forEach((t, i) => {
    groups.set(find(i), [...(groups.get(find(i)) ?? []), t]);
  });
  return [...groups.values()].map((group) => {
    const { space, joins } = group.length === 1 ? group[0] : mergeSpaces(group);
    const places = new Set(space.tensors.map((t) => placeKey(t.name, t.layout)));
    for (const join of joins) {
      if (!places.has(placeKey(join.other, join.layout))) {
        const node = index.nodes[join.node];
        block(
          space,
          `${node.opType} "${nodeLabel(index, join.node)}" joins these channels with "${join.other}", ` +
            'which no prunable layer writes',
        );
      }
    }
    // Coupled: several producers joined by an element-wise op (a residual stream, a gate). Heads
    // whose queries and keys meet in attention's MatMul are not, nor is an activation written out
    // as x · sigmoid(x) (one producer).
    if (
      options.keepCoupled &&
      space.producers.length > 1 &&
      joins.some((j) => index.nodes[j.node].opType !== 'MatMul')
    ) {
      block(
        space,
        `coupled space of ${space.producers.length} producers (a residual stream), left intact ` +
          '(--keep-coupled, and always in the plain mode, which cannot correct it)',
      );
    }
    return space;
  });
}

/**
 * Joins that meet another space's tensor on the same axis in blocks k times as large: grouped-query
 * attention, where each key/value head serves k query heads. The finer space is traced again with
 * channels k times as coarse (a group of query heads per key/value head), so that the two meet.
 */
function coarserUnits(traced: Traced[]): Map<string, number> {
  const places = new Map<string, SpaceTensor['layout'][]>();
  for (const t of traced)
    for (const tensor of t.space.tensors) places.set(tensor.name, [...(places.get(tensor.name) ?? []), tensor.layout]);
  const requests = new Map<string, number>();
  for (const t of traced) {
    for (const join of t.joins) {
      const layouts = places.get(join.other) ?? [];
      if (layouts.some((l) => placeKey(join.other, l) === placeKey(join.other, join.layout))) continue;
      const coarser = layouts.find(
        (l) =>
          l.axis === join.layout.axis &&
          (l.offset ?? 0) === (join.layout.offset ?? 0) * (l.block / join.layout.block) &&
          l.block > join.layout.block &&
          l.block % join.layout.block === 0,
      );
      if (coarser) requests.set(t.origin, t.relativeUnit * (coarser.block / join.layout.block));
    }
  }
  return requests;
}

function placeKey(tensor: string, layout: SpaceTensor['layout']): string {
  return `${tensor}|${layout.axis}|${layout.block}|${layout.offset ?? 0}`;
}

function mergeSpaces(parts: Traced[]): Pick<Traced, 'space' | 'joins'> {
  const unique = <T>(items: T[], key: (item: T) => string) => [
    ...new Map(items.map((item) => [key(item), item])).values(),
  ];
  const all = <K extends keyof ChannelSpace>(key: K) => parts.flatMap((p) => p.space[key] as unknown[]);
  const first = parts[0].space;
  // The unit counts neurons per channel where layers read them. Keys and values of grouped-query
  // attention are traced with one head per channel and repeated to the group's query heads before
  // the output projection reads them: there a channel is the group, the coarsest unit of the parts.
  const unit = Math.max(...parts.map((p) => p.space.unit));
  const space: ChannelSpace = {
    id: first.id,
    channels: first.channels,
    unit,
    producers: [...new Set(all('producers') as number[])],
    tensors: unique(all('tensors') as SpaceTensor[], (t) => placeKey(t.name, t.layout)),
    channelwise: [...new Set(all('channelwise') as number[])],
    slices: unique(all('slices') as ChannelSpace['slices'], (s) => `${s.node}|${s.input}|${s.offset ?? 0}`),
    shapeEntries: unique(
      all('shapeEntries') as ChannelSpace['shapeEntries'],
      (e) => `${e.node}|${e.input}|${e.attribute}|${e.position}`,
    ),
    groups: [...new Set(all('groups') as number[])],
    consumers: unique(all('consumers') as ChannelSpace['consumers'], (c) => `${c.node}|${c.weight.offset ?? 0}`),
    norms: unique(all('norms') as ChannelSpace['norms'], (n) => `${n.reduce}`),
    prunable: true,
  };
  for (const part of parts) if (!part.space.prunable) block(space, part.space.reason!);
  if (parts.some((p) => p.space.channels !== space.channels))
    block(space, 'joins activations of different channel counts');
  if (parts.some((p) => unit % p.space.unit !== 0)) block(space, 'joins channels grouped in different units');
  // A tensor may hold the space in several places (the parts of a packed Q/K/V projection), but a
  // consumer must read it in one.
  const places = new Map<string, number>();
  for (const t of space.tensors) places.set(t.name, (places.get(t.name) ?? 0) + 1);
  if (space.consumers.some((c) => places.get(c.reads)! > 1))
    block(space, 'a layer reads the same channels in two places');
  return { space, joins: parts.flatMap((p) => p.joins) };
}

/** Traces a producer's channels: one space, or one per part where a rule cuts them into parts. */
function traceProduction(
  ctx: RuleContext,
  producer: number,
  production: Production,
  units: Map<string, number>,
): Traced[] {
  const traced = traceGrouped(ctx, producer, production, units);
  if (!traced.partition) return [traced];
  const { layout } = production;
  let start = layout.offset ?? 0;
  return traced.partition.flatMap((size) => {
    const first = (start - (layout.offset ?? 0)) / layout.block;
    const part: Production = {
      ...production,
      channels: size / layout.block,
      layout: { ...layout, offset: start },
      slices: production.slices.map((s) => ({ ...s, offset: (s.offset ?? 0) + first * s.block })),
    };
    start += size;
    return traceProduction(ctx, producer, part, units);
  });
}

/** Traces a producer's space, coarsening its channels into units as long as a rule asks for it. */
function traceGrouped(
  ctx: RuleContext,
  producer: number,
  production: Production,
  units: Map<string, number>,
): Traced & { partition?: number[] } {
  const origin = `${producer}|${production.layout.offset ?? 0}`;
  let unit = units.get(origin) ?? 1;
  if (!Number.isInteger(production.channels / unit)) unit = 1;
  for (;;) {
    const grouped: Production = {
      ...production,
      channels: production.channels / unit,
      layout: { ...production.layout, block: production.layout.block * unit },
      slices: production.slices.map((s) => ({ ...s, block: s.block * unit })),
    };
    const traced = { ...traceSpace(ctx, producer, grouped, unit * (production.unit ?? 1)), origin, relativeUnit: unit };
    if (traced.partition && unit === 1) return traced;
    if (traced.regroup === undefined) return traced;
    unit *= traced.regroup;
    if (traced.regroup < 2 || !Number.isInteger(production.channels / unit)) {
      const fallback = { ...traceSpace(ctx, producer, production, production.unit ?? 1), origin, relativeUnit: 1 };
      block(fallback.space, `the channels go on in groups of ${unit}, which do not divide ${production.channels}`);
      return fallback;
    }
  }
}

const carried = new WeakMap<GraphIndex, { state: Map<string, string>; carriedInputs: Set<string> }>();

/** The graph's carried state (a KV cache: output → input) and its inputs, found once per graph. */
function carriedOf(index: GraphIndex): { state: Map<string, string>; carriedInputs: Set<string> } {
  let found = carried.get(index);
  if (!found) {
    const state = carriedState(index.graph);
    found = { state, carriedInputs: new Set(state.values()) };
    carried.set(index, found);
  }
  return found;
}

function traceSpace(
  ctx: RuleContext,
  producer: number,
  start: Production,
  unit: number,
): Omit<Traced, 'origin' | 'relativeUnit'> & { regroup?: number; partition?: number[] } {
  const { index } = ctx;
  const space: ChannelSpace = {
    id: 0,
    channels: start.channels,
    unit,
    producers: [producer],
    tensors: [],
    channelwise: [],
    slices: [...start.slices],
    shapeEntries: [...(start.shapeEntries ?? [])],
    groups: [],
    consumers: [],
    norms: [],
    prunable: true,
  };
  const { state, carriedInputs } = carriedOf(index);
  const members = new Map<string, SpaceTensor>();
  const visited = new Set<number>();
  const joins: Join[] = [];
  const queue: SpaceTensor[] = [{ name: start.output, layout: start.layout }];

  while (queue.length > 0) {
    const tensor = queue.shift()!;
    if (members.has(tensor.name)) continue;
    members.set(tensor.name, tensor);
    space.tensors.push(tensor);
    // State carried to the next call (a KV cache) narrows with the space, in the model's inputs and outputs.
    const isCarried = state.has(tensor.name) || carriedInputs.has(tensor.name);
    if (index.graphOutputs.has(tensor.name) && !isCarried) block(space, `tensor "${tensor.name}" is a model output`);
    for (const consumer of index.consumers.get(tensor.name) ?? []) {
      if (visited.has(consumer)) continue;
      visited.add(consumer);
      const node = index.nodes[consumer];
      const label = `${node.opType} "${nodeLabel(index, consumer)}"`;
      const rule = ruleFor(node.opType, node.domain);
      if (!rule || hasSubgraphs(node)) {
        block(space, `${label}: no rule for op ${node.domain ? `${node.domain}.` : ''}${node.opType}`);
        continue;
      }
      const input = node.input.indexOf(tensor.name);
      const visit = rule.visit(ctx, {
        node: consumer,
        input,
        tensor: tensor.name,
        layout: tensor.layout,
        channels: space.channels,
      });
      if (visit.kind === 'regroup') {
        return { space, joins, regroup: visit.unit };
      } else if (visit.kind === 'partition') {
        if (unit === 1 && tensor.layout.block === start.layout.block) return { space, joins, partition: visit.sizes };
        block(space, `${label}: cuts the channels into parts`);
      } else if (visit.kind === 'block') {
        block(space, `${label}: ${visit.reason}`);
      } else if (visit.kind === 'consume') {
        space.consumers.push({ node: consumer, reads: tensor.name, weight: visit.weight });
      } else if (visit.kind === 'norm') {
        space.norms.push(visit.norm);
      } else {
        space.channelwise.push(consumer);
        space.slices.push(...(visit.slices ?? []));
        space.shapeEntries.push(...(visit.shapeEntries ?? []));
        space.groups.push(...(visit.groups ?? []));
        for (const other of visit.sameSpace ?? []) {
          if (carriedInputs.has(other)) queue.push({ name: other, layout: tensor.layout });
          else joins.push({ node: consumer, other, layout: tensor.layout });
        }
        queue.push(...visit.outputs);
      }
    }
  }
  return { space, joins };
}
