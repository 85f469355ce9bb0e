import type { ChannelSpace } from '../graph/types.ts';
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
}

/** MACs per sample of a node, from the probed shapes (batch 1); 0 for ops that do no matrix work. */
export function nodeMacs(index: GraphIndex, shapes: Shapes, i: number): number {
  const node = index.nodes[i];
  const out = shapes.get(node.output[0]);
  const a = shapes.get(node.input[0]);
  const b = shapes.get(node.input[1]) ?? (index.constants.has(node.input[1]) ? tensorDims(index.constants.get(node.input[1])!) : undefined);
  if (!out || !b) return 0;
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

export function buildCostModel(index: GraphIndex, shapes: Shapes, spaces: readonly ChannelSpace[]): CostModel {
  const prunable = spaces.filter((s) => s.prunable);
  const nodeSpaces = new Map<number, Set<number>>();
  const constantSpaces = new Map<string, Set<number>>();
  const link = <K>(map: Map<K, Set<number>>, key: K, space: number) => {
    const set = map.get(key) ?? new Set<number>();
    set.add(space);
    map.set(key, set);
  };
  for (const space of prunable) {
    for (const p of space.producers) link(nodeSpaces, p, space.id);
    for (const n of space.channelwise) link(nodeSpaces, n, space.id); // a depthwise Conv's MACs
    for (const c of space.consumers) {
      link(nodeSpaces, c.node, space.id);
      link(constantSpaces, index.nodes[c.node].input[c.weight.input], space.id);
    }
    for (const s of space.slices) link(constantSpaces, index.nodes[s.node].input[s.input], space.id);
  }
  const flops: CostTerm[] = [];
  index.nodes.forEach((_, i) => {
    const value = nodeMacs(index, shapes, i);
    if (value > 0) flops.push({ value, spaces: [...(nodeSpaces.get(i) ?? [])], node: i });
  });
  const params: CostTerm[] = [];
  for (const [name, t] of index.constants) {
    if (!isFloatTensor(t)) continue;
    params.push({ value: elementCount(tensorDims(t)), spaces: [...(constantSpaces.get(name) ?? [])], constant: name });
  }
  return { flops, params };
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
