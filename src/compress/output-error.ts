import type { ModelProto, NodeProto } from 'onnx-buf';
import { carriedState, intAttr } from '../onnx/graph-index.ts';
import { defaultOpset } from '../onnx/opset.ts';

/*
 * The error of a compressed model's outputs, in the units its user judges it by. A relative L2 of
 * raw outputs barely moves when a class probability crosses from 0.51 to 0.49, yet that is a
 * changed decision; it moves a lot when a confident logit drops from 12 to 9, which changes
 * nothing. So outputs that carry decisions are measured by their decision margins:
 *
 *   a row's margin m = s_top − max_{j ≠ top} s_j on the original's log-scores s, and m' the same
 *   difference (for the original's top class) on the compressed model's; the row's error is
 *   ((m − m') / m)², capped at 1: a flipped decision counts 1, a margin moved by a tenth of
 *   itself 0.01, so rows near the boundary weigh most.
 *
 * The error of such an output is the mean over its rows (samples × positions): a flip-equivalent
 * fraction. Other outputs (maps, regressions, embeddings, states) keep the relative squared error
 * ‖ΔY‖² / ‖Y‖² of each output.
 */

/** How the error of the model's outputs is measured: by their kind (auto), as decisions, or as relative L2. */
export type OutputMetric = 'auto' | 'decisions' | 'relative';
export const OUTPUT_METRICS: readonly OutputMetric[] = ['auto', 'decisions', 'relative'];

/** How one float output is read. */
export type OutputReading =
  /** Class scores along `axis` (log-probabilities after `log`: a Softmax's output is probabilities). */
  | { kind: 'classes'; axis: number; log: boolean; flattenFrom?: boolean }
  /** Independent yes/no decisions, one per entry: a Sigmoid's probabilities (≥ 0.5 is yes). */
  | { kind: 'binary' }
  | { kind: 'relative' };

export interface OutputKind {
  name: string;
  reading: OutputReading;
}

/** What the report says of an output's reading. */
export function describeReading(reading: OutputReading): string {
  if (reading.kind === 'classes') return 'decisions (class margins)';
  if (reading.kind === 'binary') return 'decisions (yes/no margins)';
  return 'relative L2';
}

/**
 * How each graph output is read, but for state carried to the next call (a KV cache). 'auto': a
 * Softmax, LogSoftmax or Sigmoid output carries decisions, anything else is read as relative L2
 * (logits and embeddings look alike from outside).
 * 'decisions': outputs that are not such a head are read as class scores along their last axis
 * (where it has 2 or more entries). 'relative': every output as relative L2.
 */
export function outputKinds(
  model: ModelProto,
  shapes: ReadonlyMap<string, readonly number[]>,
  metric: OutputMetric = 'auto',
): OutputKind[] {
  const graph = model.graph!;
  const producer = new Map(graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const opset = defaultOpset(model);
  const state = carriedState(graph);
  return graph.output
    .filter(({ name }) => !state.has(name))
    .map(({ name }) => {
      const shape = shapes.get(name) ?? [];
      if (metric === 'relative') return { name, reading: { kind: 'relative' } };
      let node = producer.get(name);
      while (node && node.opType === 'Identity') node = producer.get(node.input[0]);
      const head =
        node && (node.domain === '' || node.domain === 'ai.onnx') ? headReading(node, shape.length, opset) : undefined;
      if (head) return { name, reading: head };
      if (metric === 'decisions' && shape.length > 0 && shape[shape.length - 1] >= 2)
        return { name, reading: { kind: 'classes', axis: shape.length - 1, log: false } };
      return { name, reading: { kind: 'relative' } };
    });
}

function headReading(node: NodeProto, rank: number, opset: number): OutputReading | undefined {
  const op = node.opType;
  if (op === 'Sigmoid') return { kind: 'binary' };
  if ((op !== 'Softmax' && op !== 'LogSoftmax') || rank === 0) return undefined;
  let axis = intAttr(node, 'axis', opset >= 13 ? -1 : 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return undefined;
  // Before opset 13 the classes are every entry from `axis` on, flattened.
  return { kind: 'classes', axis, log: op === 'Softmax', flattenFrom: opset < 13 };
}

const LOG_FLOOR = 1e-30;
const MARGIN_FLOOR = 1e-6;

/** Per row of an output: the original's decision margin and the candidate's margin for the same decision. */
export interface Margins {
  original: Float64Array;
  candidate: Float64Array;
}

/** The margins of every row of one output (see the header), original and candidate read alike. */
export function decisionMargins(
  reading: OutputReading,
  dims: readonly number[],
  original: ArrayLike<number>,
  candidate: ArrayLike<number>,
): Margins {
  if (reading.kind === 'binary') {
    const logit = (p: number) => Math.log(Math.max(p, LOG_FLOOR)) - Math.log(Math.max(1 - p, LOG_FLOOR));
    const m = new Float64Array(original.length);
    const c = new Float64Array(original.length);
    for (let i = 0; i < original.length; i++) {
      const sign = original[i] >= 0.5 ? 1 : -1;
      m[i] = sign * logit(original[i]);
      c[i] = sign * logit(candidate[i]);
    }
    return { original: m, candidate: c };
  }
  if (reading.kind !== 'classes') throw new Error('decisionMargins: not a decision output');
  const { axis } = reading;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const classes = reading.flattenFrom ? dims.slice(axis).reduce((a, b) => a * b, 1) : dims[axis];
  const inner = reading.flattenFrom ? 1 : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const score = reading.log ? (v: number) => Math.log(Math.max(v, LOG_FLOOR)) : (v: number) => v;
  const rows = outer * inner;
  const m = new Float64Array(rows);
  const c = new Float64Array(rows);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * classes + k) * inner + i;
      let top = 0;
      for (let k = 1; k < classes; k++) if (original[at(k)] > original[at(top)]) top = k;
      let rival = -Infinity;
      let candidateRival = -Infinity;
      for (let k = 0; k < classes; k++) {
        if (k === top) continue;
        rival = Math.max(rival, score(original[at(k)]));
        candidateRival = Math.max(candidateRival, score(candidate[at(k)]));
      }
      m[o * inner + i] = score(original[at(top)]) - rival;
      c[o * inner + i] = score(candidate[at(top)]) - candidateRival;
    }
  }
  return { original: m, candidate: c };
}

/** Summed over rows: the capped squared relative margin change (the header's row error). */
export function marginError({ original, candidate }: Margins): { error: number; rows: number } {
  let error = 0;
  for (let i = 0; i < original.length; i++) {
    const m = original[i];
    if (!(m > 0)) continue; // a tie: no decision to keep
    const change = (m - candidate[i]) / Math.max(m, MARGIN_FLOOR);
    error += Math.min(1, change * change);
  }
  return { error, rows: original.length };
}
