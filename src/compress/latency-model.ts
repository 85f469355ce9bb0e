import { type Cost, type CostModel, type CostTerm, totalCost } from '../graph/cost.ts';
import type { GraphIndex } from '../onnx/graph-index.ts';
import type { RunProfile } from '../onnx/runtime.ts';
import { quantile } from '../onnx/latency.ts';

/*
 * A model of the runtime's time, measured on the model itself: the model is run, profiled, at a
 * ladder of uniform widths (every space at 1, 0.75, … of its channels), each kernel's time is given
 * to the node it computes, and each node's time becomes a curve over its own kept share: the share
 * of its multiply-accumulates for a convolution or matrix product (in × out channels), the share of
 * its output for every other node. Kernels that no space changes, and the runtime's time between
 * kernels, are a fixed part. The time of a model of any widths is then the sum of the nodes' curves
 * at their shares plus the fixed part: what the allocation spends instead of FLOPs.
 */

/** The uniform kept fractions the ladder measures, largest first. */
export const LADDER_FRACTIONS = [1, 0.75, 0.5, 0.3] as const;

/** One measured rung: the kept fraction of every prunable space (by id), and its profiled runs. */
export interface LadderRung {
  fractions: ReadonlyMap<number, number>;
  runs: readonly RunProfile[];
}

export interface LatencyModel {
  /** The batch size and intra-op threads it was measured at. */
  batch: number;
  threads: number;
  /** Median time of one run of the original model, in milliseconds. */
  originalMs: number;
  /** Time of the original that no space changes: kernels outside every space and the runtime between kernels. */
  fixedMs: number;
  /** Per node whose work the spaces change: its kept share and its time at each measured share. */
  nodes: NodeCurve[];
}

export interface NodeCurve {
  node: number;
  /** The node's work as cost terms: its kept share is their total at the spaces' fractions over their full total. */
  terms: CostTerm[];
  /** Measured shares, ascending, and the node's median time at each (milliseconds, made non-decreasing). */
  shares: number[];
  ms: number[];
}

/** Operators whose kernels do a convolution's or a matrix product's work, fused or not. */
const MATRIX_KERNELS = /Conv|Gemm|MatMul|Attention/;

/** The original node (by index) whose work a profiled kernel does, where its name tells. */
export function kernelNode(
  name: string,
  op: string,
  index: GraphIndex,
  nodeNames: ReadonlyMap<string, number>,
  isMatrixNode: (node: number) => boolean,
): number | undefined {
  const node = namedNode(name.replace(/^fused /, ''), index, nodeNames);
  // A fused kernel may be named after the last node of its chain (a Conv with its Relu, by the Relu's output).
  if (node !== undefined && MATRIX_KERNELS.test(op)) {
    for (let up = node, steps = 0; steps < 4; steps++) {
      if (isMatrixNode(up)) return up;
      const producer = index.producer.get(index.nodes[up].input[0]);
      if (producer === undefined) break;
      up = producer;
    }
  }
  return node;
}

/** A node named, or whose output is named, `name` or `name` less trailing `_suffix` parts (`…_output_0_nchwc`). */
function namedNode(name: string, index: GraphIndex, nodeNames: ReadonlyMap<string, number>): number | undefined {
  for (let candidate = name; candidate; ) {
    const node = nodeNames.get(candidate) ?? index.producer.get(candidate);
    if (node !== undefined) return node;
    const cut = candidate.lastIndexOf('_');
    if (cut <= 0) break;
    candidate = candidate.slice(0, cut);
  }
  return undefined;
}

/** The latency model of a ladder of profiled runs (the first rung at full width). */
export function fitLatencyModel(
  rungs: readonly LadderRung[],
  index: GraphIndex,
  cost: CostModel,
  nodeNames: ReadonlyMap<string, number>,
  setting: { batch: number; threads: number },
): LatencyModel {
  const flopsTerms = groupByNode(cost.flops);
  const outputTerms = groupByNode(cost.outputs);
  const termsOf = (node: number) => flopsTerms.get(node) ?? outputTerms.get(node) ?? [];
  const changes = (node: number) => termsOf(node).some((t) => t.spaces.length > 0);
  const isMatrixNode = (node: number) => flopsTerms.has(node);
  /** Per rung, per node: the median over runs of the node's kernels' summed time (ms). */
  const perRung = rungs.map((rung) => {
    const times = new Map<number, number[]>();
    rung.runs.forEach((run, r) => {
      for (const kernel of run.kernels) {
        const node = kernelNode(kernel.name, kernel.op, index, nodeNames, isMatrixNode);
        if (node === undefined || !changes(node)) continue;
        const list = times.get(node) ?? rung.runs.map(() => 0);
        list[r] += kernel.microseconds / 1000;
        times.set(node, list);
      }
    });
    return new Map([...times].map(([node, list]) => [node, quantile(list, 0.5)]));
  });
  const full = rungs[0];
  const originalMs = quantile(
    full.runs.map((r) => r.microseconds / 1000),
    0.5,
  );
  const nodes: NodeCurve[] = [...perRung[0].keys()].map((node) => {
    const terms = termsOf(node);
    const whole = totalCost(terms, () => 1);
    const points = rungs
      .map((rung, i) => ({
        share: totalCost(terms, (s) => rung.fractions.get(s) ?? 1) / whole,
        ms: perRung[i].get(node) ?? 0,
      }))
      .sort((a, b) => a.share - b.share);
    // Timing noise must not make a narrower node look slower than a wider one.
    for (let i = points.length - 2; i >= 0; i--) points[i].ms = Math.min(points[i].ms, points[i + 1].ms);
    return { node, terms, shares: points.map((p) => p.share), ms: points.map((p) => p.ms) };
  });
  const variableMs = nodes.reduce((sum, n) => sum + n.ms.at(-1)!, 0);
  return { ...setting, originalMs, fixedMs: Math.max(0, originalMs - variableMs), nodes };
}

function groupByNode(terms: readonly CostTerm[]): Map<number, CostTerm[]> {
  const byNode = new Map<number, CostTerm[]>();
  for (const term of terms)
    if (term.node !== undefined) byNode.set(term.node, [...(byNode.get(term.node) ?? []), term]);
  return byNode;
}

/**
 * A node's time at a kept share: linear between measured shares, in proportion to the share below
 * the smallest (a guess on the fast side, which the check by the clock corrects), flat above.
 */
function curveAt(curve: NodeCurve, share: number): number {
  const { shares, ms } = curve;
  if (share <= shares[0]) return shares[0] > 0 ? (ms[0] * share) / shares[0] : ms[0];
  for (let i = 1; i < shares.length; i++) {
    if (share <= shares[i]) {
      const span = shares[i] - shares[i - 1];
      return span > 0 ? ms[i - 1] + ((share - shares[i - 1]) / span) * (ms[i] - ms[i - 1]) : ms[i];
    }
  }
  return ms.at(-1)!;
}

/** The modelled time (ms) of a model, the fixed part and the nodes the spaces change, as a cost to spend. */
export function latencyCost(model: LatencyModel): Cost {
  const wholes = model.nodes.map((n) => totalCost(n.terms, () => 1));
  const at = (i: number, keepFraction: (space: number) => number) =>
    curveAt(model.nodes[i], totalCost(model.nodes[i].terms, keepFraction) / wholes[i]);
  const nodesOf = new Map<number, number[]>();
  model.nodes.forEach((n, i) => {
    for (const s of new Set(n.terms.flatMap((t) => t.spaces))) nodesOf.set(s, [...(nodesOf.get(s) ?? []), i]);
  });
  return {
    total: (keepFraction) => model.nodes.reduce((sum, _, i) => sum + at(i, keepFraction), model.fixedMs),
    partOf: (space, keepFraction) => (nodesOf.get(space) ?? []).reduce((sum, i) => sum + at(i, keepFraction), 0),
  };
}
