import type { ChannelSpace, NormOfSquares } from './types.ts';
import { type GraphIndex, intAttr } from '../onnx/graph-index.ts';
import type { Shapes } from '../onnx/shapes.ts';
import { elementCount, isFloatTensor, tensorDims } from '../onnx/tensor.ts';

/** A cost that scales with the kept fraction of each space it names (bilinear for a layer between two spaces). */
export interface CostTerm {
  value: number;
  spaces: number[];
  /** The node (FLOPs) or constant (parameters) the cost belongs to. */
  node?: number;
  constant?: string;
}

export interface CostModel {
  /** Multiply-accumulates per sample of Conv, ConvTranspose, Gemm and MatMul. */
  flops: CostTerm[];
  /** Elements of float constants (weights, biases, per-channel parameters). */
  params: CostTerm[];
  /** Elements per sample of each node's first output: how much an element-wise node reads and writes. */
  outputs: CostTerm[];
}

/** A cost the allocation spends: its total, and the part of it that one space's size changes. */
export interface Cost {
  total(keepFraction: (space: number) => number): number;
  partOf(space: number, keepFraction: (space: number) => number): number;
}

/** The cost that is the sum of bilinear terms. */
export function termsCost(terms: readonly CostTerm[]): Cost {
  const termsOf = new Map<number, CostTerm[]>();
  for (const term of terms) for (const s of new Set(term.spaces)) termsOf.set(s, [...(termsOf.get(s) ?? []), term]);
  return {
    total: (keepFraction) => totalCost(terms, keepFraction),
    partOf: (space, keepFraction) => totalCost(termsOf.get(space) ?? [], keepFraction),
  };
}

/** MACs per sample of a node, from the probed shapes (batch 1); 0 for ops that do no matrix work. */
export function nodeMacs(index: GraphIndex, shapes: Shapes, i: number): number {
  const node = index.nodes[i];
  const out = shapes.get(node.output[0]);
  const a = shapes.get(node.input[0]);
  const b =
    shapes.get(node.input[1]) ??
    (index.constants.has(node.input[1]) ? tensorDims(index.constants.get(node.input[1])!) : undefined);
  if (!out || !b) return 0;
  if (node.domain === 'com.microsoft') {
    // Attention: the packed projection, then the scores and their product with V. MultiHeadAttention,
    // on projected Q, K, V: the scores and their product with V.
    if (node.opType === 'Attention' && a) return elementCount(a) * b[1] + 2 * a[0] * a[1] * a[1] * (b[1] / 3);
    if (node.opType === 'MultiHeadAttention' && a) return 2 * elementCount(a) * b[1];
    return 0;
  }
  switch (node.opType) {
    case 'Conv': // each output element reads C/group · k… inputs
      return elementCount(out) * elementCount(b.slice(1));
    case 'ConvTranspose':
      return a ? elementCount(a) * elementCount(b.slice(1)) : 0;
    case 'Gemm':
      return elementCount(out) * (intAttr(node, 'transB', 0) ? b[1] : b[0]);
    case 'MatMul':
      return elementCount(out) * (b.length >= 2 ? b[b.length - 2] : b[0]);

    default:
      return 0;
  }
}

/** Per axis of a node or constant: the spaces lying on it and the share of the axis each holds. */
type AxisShares = Map<string, Map<number, number>>;

export function buildCostModel(index: GraphIndex, shapes: Shapes, spaces: readonly ChannelSpace[]): CostModel {
  const nodeAxes = new Map<number, AxisShares>();
  const outputAxes = new Map<number, AxisShares>();
  const constantAxes = new Map<string, AxisShares>();
  const link = <K>(map: Map<K, AxisShares>, key: K, axis: string, space: number, share: number) => {
    const axes = map.get(key) ?? new Map<string, Map<number, number>>();
    const shares = axes.get(axis) ?? new Map<number, number>();
    axes.set(axis, shares.set(space, (shares.get(space) ?? 0) + share)); // a space may lie in several places
    map.set(key, axes);
  };
  for (const space of spaces.filter((s) => s.prunable)) {
    const width = (tensor: string) =>
      space.tensors
        .filter((t) => t.name === tensor)
        .reduce((sum, { layout }) => sum + (space.channels * layout.block) / shapes.get(tensor)![layout.axis], 0);
    const constantShare = (node: number, input: number, axis: number, block: number) => {
      const name = index.nodes[node].input[input];
      link(
        constantAxes,
        name,
        `axis ${axis}`,
        space.id,
        (space.channels * block) / tensorDims(index.constants.get(name)!)[axis],
      );
    };
    for (const p of space.producers) link(nodeAxes, p, 'out', space.id, width(index.nodes[p].output[0]));
    for (const name of new Set(space.tensors.map((t) => t.name))) {
      const producer = index.producer.get(name);
      if (producer !== undefined && index.nodes[producer].output[0] === name)
        link(outputAxes, producer, 'out', space.id, width(name));
    }
    // Layers the channels pass through: a depthwise Conv, a MatMul batched over heads (attention scores).
    for (const n of space.channelwise) {
      const read = index.nodes[n].input.find((name) => space.tensors.some((t) => t.name === name));
      if (read) link(nodeAxes, n, 'through', space.id, width(read));
    }
    for (const c of space.consumers) {
      link(nodeAxes, c.node, 'in', space.id, width(c.reads));
      constantShare(c.node, c.weight.input, c.weight.axis, c.weight.block);
    }
    for (const s of space.slices) constantShare(s.node, s.input, s.axis, s.block);
  }
  const flops: CostTerm[] = [];
  index.nodes.forEach((_, i) => {
    const value = nodeMacs(index, shapes, i);
    if (value > 0) flops.push(...expandTerms(value, nodeAxes.get(i), { node: i }));
  });
  const params: CostTerm[] = [];
  for (const [name, t] of index.constants) {
    if (isFloatTensor(t))
      params.push(...expandTerms(elementCount(tensorDims(t)), constantAxes.get(name), { constant: name }));
  }
  const outputs: CostTerm[] = [];
  index.nodes.forEach((node, i) => {
    const dims = shapes.get(node.output[0]);
    if (dims) outputs.push(...expandTerms(elementCount(dims), outputAxes.get(i), { node: i }));
  });
  for (const space of spaces) {
    for (const norm of space.norms) {
      const [flopTerms, paramTerms] = normReconstructionTerms(space, norm, shapes);
      flops.push(...flopTerms);
      params.push(...paramTerms);
    }
  }
  return { flops, params, outputs };
}

/**
 * What a pruned RMSNorm adds (surgery's reconstruction of the removed channels for its mean of
 * squares): a [kept, removed] matrix, applied at every position. With f the kept fraction of n
 * channels that is n²·f·(1 − f) weights: one term n²·f and one −n²·f².
 */
function normReconstructionTerms(space: ChannelSpace, norm: NormOfSquares, shapes: Shapes): [CostTerm[], CostTerm[]] {
  const n = space.channels;
  const dims = shapes.get(norm.source) ?? [];
  const axis = space.tensors.find((t) => t.name === norm.source)?.layout.axis ?? dims.length - 1;
  const positions = elementCount(dims) / (dims[axis] ?? 1);
  const terms = (scale: number): CostTerm[] => [
    { value: scale * n * n, spaces: [space.id], node: norm.squares },
    { value: -scale * n * n, spaces: [space.id, space.id], node: norm.squares },
  ];
  return [terms(positions), terms(1)];
}

/**
 * A cost that is a product over axes of (Σ share·fraction of each space on the axis + the rest),
 * written out as bilinear terms: a Conv reading a Concat of two spaces costs in proportion to each.
 */
function expandTerms(
  value: number,
  axes: AxisShares | undefined,
  owner: Pick<CostTerm, 'node' | 'constant'>,
): CostTerm[] {
  let terms: CostTerm[] = [{ value, spaces: [], ...owner }];
  for (const shares of axes?.values() ?? []) {
    const rest = 1 - [...shares.values()].reduce((a, b) => a + b, 0);
    terms = terms.flatMap((term) => [
      ...[...shares].map(([space, share]) => ({ ...term, value: term.value * share, spaces: [...term.spaces, space] })),
      ...(rest > 1e-9 ? [{ ...term, value: term.value * rest }] : []),
    ]);
  }
  return terms;
}

/** Total cost when space s keeps keep[s] of its channels[s]. */
export function totalCost(terms: readonly CostTerm[], keepFraction: (space: number) => number): number {
  let total = 0;
  for (const term of terms) {
    let v = term.value;
    for (const s of term.spaces) v *= keepFraction(s);
    total += v;
  }
  return total;
}
