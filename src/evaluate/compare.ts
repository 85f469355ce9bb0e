import { batches, batchOf, checkFillsBatch, type Dataset, usableCount } from '../calibrate/dataset.ts';
import { withEmptyCaches } from '../calibrate/decoder-inputs.ts';
import { type Progress, silentProgress } from '../progress.ts';
import { IdpruneError } from '../errors.ts';
import { floatValues, type HostTensor, type Runtime } from '../onnx/runtime.ts';
import type { InputSpec } from '../onnx/shapes.ts';

export interface Comparison {
  samples: number;
  /** Decisions compared: samples, or samples × positions for per-token outputs (a language model's logits). */
  rows: number;
  /**
   * Share of rows where both models make the same decision: the top-1 class (argmax over the last
   * axis), or for one score per row the side of a threshold (0.5 for probabilities, 0 for logits).
   */
  agreement: number;
  accuracy?: { original: number; candidate: number };
  /** With a label per position (next tokens): exp of the mean cross-entropy of each model's scores. */
  perplexity?: { original: number; candidate: number };
  maxAbsDifference: number;
  /** ‖candidate − original‖₂ / ‖original‖₂ over all outputs. */
  relativeL2: number;
  cosine: number;
}

export interface CompareOptions {
  runtime: Runtime;
  dataset: Dataset;
  inputs: readonly InputSpec[];
  batchSize: number;
  labels?: ArrayLike<number | bigint>;
  progress?: Progress;
  /** The candidate's inputs where they differ from `inputs` (a KV cache with fewer heads). */
  candidateInputs?: readonly InputSpec[];
}

/** −log softmax(scores)[label] of one row. */
function crossEntropy(values: ArrayLike<number>, start: number, classes: number, label: number): number {
  let top = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < classes; c++) top = Math.max(top, values[start + c]);
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += Math.exp(values[start + c] - top);
  return top + Math.log(sum) - values[start + label];
}

function toNumbers(t: HostTensor): ArrayLike<number> {
  const values = floatValues(t);
  if (!values) throw new IdpruneError(`model output has type ${t.type}; comparison needs a float output`);
  return values;
}

/** Runs both models on the same batches and compares their first outputs. */
export async function compareModels(
  original: Uint8Array,
  candidate: Uint8Array,
  options: CompareOptions,
): Promise<Comparison> {
  const { runtime, dataset, inputs, batchSize } = options;
  const progress = options.progress ?? silentProgress;
  checkFillsBatch(dataset, inputs, batchSize);
  const total = usableCount(dataset, inputs, batchSize);
  if (options.labels && options.labels.length < total) {
    throw new IdpruneError(`labels hold ${options.labels.length} entries for ${total} samples`);
  }
  const a = await runtime.load(original);
  const b = await runtime.load(candidate);
  const output = a.outputNames[0];
  if (!b.outputNames.includes(output)) {
    await Promise.all([a.release(), b.release()]);
    throw new IdpruneError(`the candidate model has no output named "${output}"`);
  }
  let rows = 0,
    same = 0,
    correctA = 0,
    correctB = 0,
    samples = 0;
  // Labels for every position of every sample (next tokens) rather than one per sample.
  const perPosition = options.labels !== undefined && options.labels.length > total;
  let lossA = 0,
    lossB = 0;
  let maxAbs = 0,
    diff2 = 0,
    norm2A = 0,
    norm2B = 0,
    dot = 0;
  const scores: { a: number; b: number; label?: number }[] = [];
  try {
    progress.begin('evaluation', total);
    for (const feeds of batches(dataset, inputs, batchSize)) {
      const batch = batchOf(feeds, inputs);
      const labelOf = (r: number) => {
        if (!options.labels) return undefined;
        if (perPosition) return Number(options.labels[rows + r]);
        return perBatch === batch ? Number(options.labels[samples + r]) : undefined;
      };
      const ya = (await a.run(feeds, [output]))[output];
      const fedB = options.candidateInputs ? withEmptyCaches(feeds, options.candidateInputs) : feeds;
      const yb = (await b.run(fedB, [output]))[output];
      if (ya.dims.join() !== yb.dims.join())
        throw new IdpruneError(
          `output "${output}" has shape [${ya.dims}] in the original and [${yb.dims}] in the candidate`,
        );
      const va = toNumbers(ya);
      const vb = toNumbers(yb);
      for (let i = 0; i < va.length; i++) {
        const d = vb[i] - va[i];
        maxAbs = Math.max(maxAbs, Math.abs(d));
        diff2 += d * d;
        norm2A += va[i] * va[i];
        norm2B += vb[i] * vb[i];
        dot += va[i] * vb[i];
      }
      const classes = ya.dims.at(-1) ?? 1;
      const perBatch = va.length / classes;
      if (classes === 1) {
        // One score per row: its decision is which side of a threshold it falls, found at the end.
        for (let r = 0; r < perBatch; r++)
          scores.push({
            a: va[r],
            b: vb[r],
            label: labelOf(r),
          });
      }
      for (let r = 0; classes > 1 && r < perBatch; r++) {
        const ta = argmax(va, r * classes, classes);
        const tb = argmax(vb, r * classes, classes);
        if (ta === tb) same++;
        const label = labelOf(r);
        if (label !== undefined) {
          if (ta === label) correctA++;
          if (tb === label) correctB++;
          if (perPosition) {
            lossA += crossEntropy(va, r * classes, classes, label);
            lossB += crossEntropy(vb, r * classes, classes, label);
          }
        }
      }
      rows += perBatch;
      samples += batch;
      progress.advance(samples);
    }
  } finally {
    progress.end();
    await Promise.all([a.release(), b.release()]);
  }
  if (scores.length > 0) {
    // Probabilities (every original score in [0, 1]) are read at 0.5, logits at 0.
    const threshold = scores.every((s) => s.a >= 0 && s.a <= 1) ? 0.5 : 0;
    for (const { a, b, label } of scores) {
      if (a >= threshold === b >= threshold) same++;
      if (label !== undefined) {
        if (Number(a >= threshold) === label) correctA++;
        if (Number(b >= threshold) === label) correctB++;
      }
    }
  }
  if (perPosition && options.labels!.length !== rows)
    throw new IdpruneError(`labels hold ${options.labels!.length} entries for ${rows} positions`);
  return {
    samples,
    rows,
    agreement: same / rows,
    // Accuracy needs a label per decision: one per sample (a classifier), or per position (next tokens).
    accuracy:
      options.labels && (rows === samples || perPosition)
        ? { original: correctA / rows, candidate: correctB / rows }
        : undefined,
    perplexity: perPosition ? { original: Math.exp(lossA / rows), candidate: Math.exp(lossB / rows) } : undefined,
    maxAbsDifference: maxAbs,
    relativeL2: norm2A > 0 ? Math.sqrt(diff2 / norm2A) : Math.sqrt(diff2),
    cosine: norm2A > 0 && norm2B > 0 ? dot / Math.sqrt(norm2A * norm2B) : 1,
  };
}

/** The index of the largest of the n values from offset. */
export function argmax(v: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[offset + i] > v[offset + best]) best = i;
  return best;
}
