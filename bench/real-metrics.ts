// Task metrics for the corpus models, computed from the raw outputs of the original and the
// compressed model on the same held-out inputs. Each metric first reduces one sample's outputs to
// what the task uses (a class, a score, boxes, a mask), so the original's are computed once.
import { halfToFloat } from '../src/onnx/float16.ts';
import type { HostTensor } from '../src/onnx/runtime.ts';
import type { Task } from './real-corpus.ts';

export type Outputs = Record<string, HostTensor>;

export interface MetricValue {
  /** What `value` measures, e.g. "top-1 agreement". */
  name: string;
  value: number;
  /** Short, for the table: "98.5% agree", "cos 0.9991". */
  text: string;
  details: Record<string, number>;
}

export interface Metric<S> {
  summarize(outputs: Outputs): S;
  compare(original: S[], candidate: S[]): MetricValue;
}

export function floats(t: HostTensor | undefined, name = '?'): Float32Array {
  if (!t) throw new Error(`the model has no output "${name}"`);
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return Float32Array.from(t.data as Uint16Array, halfToFloat);
  if (t.type === 'float64') return Float32Array.from(t.data as Float64Array);
  throw new Error(`output "${name}" has type ${t.type}, expected floats`);
}

const output = (outputs: Outputs, name: string) => floats(outputs[name], name);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function agreement(a: (number | boolean)[], b: (number | boolean)[]): number {
  return a.filter((x, i) => x === b[i]).length / a.length;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb || 1e-30);
}

function relativeError(original: Float32Array, candidate: Float32Array): number {
  let diff = 0,
    norm = 0;
  for (let i = 0; i < original.length; i++) {
    diff += (candidate[i] - original[i]) ** 2;
    norm += original[i] ** 2;
  }
  return Math.sqrt(diff / (norm || 1e-30));
}

function softmax(logits: Float32Array): Float32Array {
  const top = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Top-1 agreement, and how far the probability of the original's top class moved (softmax of the outputs). */
const classifier = (name: string): Metric<Float32Array> => ({
  summarize: (o) => softmax(output(o, name)),
  compare(a, b) {
    const top = a.map(argmax);
    const value = agreement(top, b.map(argmax));
    const shift = mean(a.map((p, i) => Math.abs(p[top[i]] - b[i][top[i]])));
    return {
      name: 'top-1 agreement',
      value,
      text: `${pct(value)} agree, |Δp| ${shift.toFixed(3)}`,
      details: { samples: a.length, originalClasses: new Set(top).size, meanAbsTopProbabilityShift: shift },
    };
  },
});

/** Cosine similarity of raw output vectors, and the largest relative L2 error of one sample. */
function vectorMetric(
  name: string,
  values: (o: Outputs) => Float32Array,
  extra?: (a: Float32Array[], b: Float32Array[]) => [string, string, number],
): Metric<Float32Array> {
  return {
    summarize: (o) => values(o).slice(),
    compare(a, b) {
      const cosines = a.map((x, i) => cosine(x, b[i]));
      const maxRelative = Math.max(...a.map((x, i) => relativeError(x, b[i])));
      const value = mean(cosines);
      const details: Record<string, number> = {
        samples: a.length,
        minCosine: Math.min(...cosines),
        maxRelativeError: maxRelative,
      };
      let text = `cos ${value.toFixed(4)}, max rel. err. ${maxRelative.toFixed(3)}`;
      if (extra) {
        const [key, shown, v] = extra(a, b);
        details[key] = v;
        text += `, ${shown}`;
      }
      return { name, value, text, details };
    },
  };
}

/** Mean distance between corresponding landmarks, in units of the face box (outputs are 0..1 of it). */
function landmarkError(a: Float32Array[], b: Float32Array[]): [string, string, number] {
  const perSample = a.map((x, s) => {
    let sum = 0;
    for (let p = 0; p < x.length; p += 2) sum += Math.hypot(x[p] - b[s][p], x[p + 1] - b[s][p + 1]);
    return sum / (x.length / 2);
  });
  const value = mean(perSample);
  return ['meanPointError', `point err. ${pct(value)} of box`, value];
}

const POSE_OUTPUTS = ['output', '617', '618'];

/** predictPose: softmax over 66 bins of 3°, expectation, −99° (yaw, pitch, roll). */
function poseAngles(raw: Float32Array): number[] {
  return [0, 1, 2].map((k) => {
    const bins = raw.subarray(k * 66, (k + 1) * 66);
    const top = Math.max(...bins);
    let sum = 0,
      weighted = 0;
    bins.forEach((v, i) => {
      const e = Math.exp(v - top);
      sum += e;
      weighted += e * i;
    });
    return (weighted / sum) * 3 - 99;
  });
}

function poseError(a: Float32Array[], b: Float32Array[]): [string, string, number] {
  const errors = a.flatMap((x, s) => {
    const pa = poseAngles(x);
    const pb = poseAngles(b[s]);
    return pa.map((v, k) => Math.abs(v - pb[k]));
  });
  const value = mean(errors);
  return ['meanAngleErrorDegrees', `|Δangle| ${value.toFixed(2)}°`, value];
}

function concatenated(o: Outputs, names: string[]): Float32Array {
  const parts = names.map((n) => output(o, n));
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const SSR_OUTPUTS = [
  'prob_stage_1',
  'prob_stage_2',
  'prob_stage_3',
  'stage1_delta_k',
  'stage2_delta_k',
  'stage3_delta_k',
  'index_offset_stage1',
  'index_offset_stage2',
  'index_offset_stage3',
];

/** mergeGender / mergeAge of the package: SSR-Net's soft stagewise regression (3 stages of 3 bins), times V. */
export function ssrMerge(x: Float32Array, V: number): number {
  let a = 0,
    b = 0,
    c = 0;
  for (let i = 0; i < 3; i++) a += (i + x[12 + i]) * x[i];
  a /= 3 * (1 + x[9]);
  for (let i = 0; i < 3; i++) b += (i + x[15 + i]) * x[3 + i];
  b = b / (3 * (1 + x[9])) / (3 * (1 + x[10]));
  for (let i = 0; i < 3; i++) c += (i + x[18 + i]) * x[6 + i];
  c = c / (3 * (1 + x[9])) / (3 * (1 + x[10])) / (3 * (1 + x[11]));
  return (a + b + c) * V;
}

const ssr = (what: 'gender' | 'age'): Metric<number> => ({
  summarize: (o) => ssrMerge(concatenated(o, SSR_OUTPUTS), what === 'age' ? 101 : 1),
  compare(a, b): MetricValue {
    const meanAbs = mean(a.map((x, i) => Math.abs(x - b[i])));
    if (what === 'age')
      return {
        name: 'mean |Δ age| (years)',
        value: meanAbs,
        text: `|Δage| ${meanAbs.toFixed(2)} y`,
        details: { samples: a.length },
      };
    const value = agreement(
      a.map((x) => x >= 0.5),
      b.map((x) => x >= 0.5),
    );
    return {
      name: 'decision agreement (score ≥ 0.5)',
      value,
      text: `${pct(value)} agree, |Δscore| ${meanAbs.toFixed(3)}`,
      details: { samples: a.length, meanAbsScoreDifference: meanAbs },
    };
  },
});

// --- fr_detect: decoded as lib/fr_detect.js does -------------------------------------------------

type Box = [number, number, number, number];
const DETECT_SIZE = [320, 240, 320, 240];

/**
 * Boxes in input pixels: score ≥ 0.65, top 750, then the package's NMS (bottom edge order, overlap over the other
 * box's area ≥ 0.4).
 */
export function decodeFaces(scores: Float32Array, boxes: Float32Array): Box[] {
  const found: { box: Box; score: number }[] = [];
  for (let i = 0; i < scores.length / 2; i++) {
    const score = scores[2 * i + 1];
    if (score >= 0.65) found.push({ box: [0, 1, 2, 3].map((k) => boxes[4 * i + k] * DETECT_SIZE[k]) as Box, score });
  }
  found.sort((x, y) => y.score - x.score);
  let candidates = found.slice(0, 750).filter(({ box }) => box[2] - box[0] > 0 && box[3] - box[1] > 0);
  candidates.sort((x, y) => x.box[3] - y.box[3]);
  const picked: Box[] = [];
  while (candidates.length > 0) {
    const last = candidates[0].box;
    picked.push(last);
    candidates = candidates.slice(1).filter(({ box }) => {
      const w = Math.max(0, Math.min(box[2], last[2]) - Math.max(box[0], last[0]) + 1);
      const h = Math.max(0, Math.min(box[3], last[3]) - Math.max(box[1], last[1]) + 1);
      return (w * h) / ((box[2] - box[0]) * (box[3] - box[1])) < 0.4;
    });
  }
  return picked;
}

function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h;
  return union > 0 ? (w * h) / union : 0;
}

/** Greedy one-to-one matching of candidate boxes to the original's, best IoU first. */
function matches(original: Box[], candidate: Box[], threshold: number): number {
  const pairs = original
    .flatMap((o, i) => candidate.map((c, j) => ({ i, j, v: iou(o, c) })))
    .filter((p) => p.v >= threshold);
  pairs.sort((x, y) => y.v - x.v);
  const usedO = new Set<number>(),
    usedC = new Set<number>();
  for (const p of pairs) {
    if (usedO.has(p.i) || usedC.has(p.j)) continue;
    usedO.add(p.i);
    usedC.add(p.j);
  }
  return usedO.size;
}

const detector: Metric<Box[]> = {
  summarize: (o) => decodeFaces(output(o, 'scores'), output(o, 'boxes')),
  compare(a, b) {
    let tp = 0,
      originalBoxes = 0,
      candidateBoxes = 0;
    a.forEach((boxes, i) => {
      tp += matches(boxes, b[i], 0.5);
      originalBoxes += boxes.length;
      candidateBoxes += b[i].length;
    });
    const fp = candidateBoxes - tp,
      fn = originalBoxes - tp;
    const value = tp + fp + fn === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn);
    return {
      name: "F1 of boxes vs the original's (IoU ≥ 0.5)",
      value,
      text: `F1 ${value.toFixed(3)}`,
      details: { samples: a.length, originalBoxes, candidateBoxes, truePositives: tp },
    };
  },
};

// --- ISNet: the alpha mask thresholded at 0.5; PP-OCR's text map at the package's threshold ------

function maskMetric(name: string, threshold?: number): Metric<Uint8Array> {
  const cut = threshold ?? 0.5;
  const title = threshold === undefined ? 'mean mask IoU (alpha ≥ 0.5)' : `mean mask IoU (map ≥ ${threshold})`;
  return {
    summarize(o) {
      const alpha = output(o, name);
      return Uint8Array.from(alpha, (v) => (v >= cut ? 1 : 0));
    },
    compare(a, b) {
      const ious = a.map((m, s) => {
        let inter = 0,
          union = 0;
        for (let i = 0; i < m.length; i++) {
          inter += m[i] & b[s][i];
          union += m[i] | b[s][i];
        }
        return union === 0 ? 1 : inter / union;
      });
      const value = mean(ious);
      return {
        name: title,
        value,
        text: `IoU ${value.toFixed(3)}`,
        details: { samples: a.length, minIoU: Math.min(...ious) },
      };
    },
  };
}

// --- PP-OCR recogniser: CTC greedy decoding as Recognition.js does it -----------------------------

/** Class indices of one line: the best class per time step, repeats merged, blanks (0) dropped. */
export function ctcDecode(probabilities: Float32Array, classes: number): number[] {
  const out: number[] = [];
  let previous = -1;
  for (let t = 0; t < probabilities.length / classes; t++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[t * classes + c] > probabilities[t * classes + best]) best = c;
    if (best !== 0 && best !== previous) out.push(best);
    previous = best;
  }
  return out;
}

export function editDistance(a: readonly number[], b: readonly number[]): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next.push(Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length];
}

const ctc = (name: string): Metric<number[]> => ({
  summarize(o) {
    const t = o[name];
    return ctcDecode(output(o, name), t.dims[t.dims.length - 1]);
  },
  compare(a, b) {
    const value = mean(a.map((x, i) => (x.length === b[i].length && x.every((c, k) => c === b[i][k]) ? 1 : 0)));
    const errors = a.reduce((sum, x, i) => sum + editDistance(x, b[i]), 0);
    const characters = a.reduce((sum, x) => sum + x.length, 0);
    const cer = errors / Math.max(1, characters);
    return {
      name: "decoded text identical to the original's (CTC greedy)",
      value,
      text: `${pct(value)} same text, CER ${pct(cer)}`,
      details: { samples: a.length, characterErrorRate: cer, originalCharacters: characters },
    };
  },
});

// --- openWakeWord heads: detection at a score threshold; the mel front end in dB -----------------

const score = (name: string, threshold: number): Metric<number> => ({
  summarize: (o) => output(o, name)[0],
  compare(a, b) {
    const value = agreement(
      a.map((p) => p > threshold),
      b.map((p) => p > threshold),
    );
    const shift = mean(a.map((p, i) => Math.abs(p - b[i])));
    return {
      name: `detection agreement (score > ${threshold})`,
      value,
      text: `${pct(value)} agree, |Δscore| ${shift.toFixed(3)}`,
      details: {
        samples: a.length,
        detectionsOriginal: a.filter((p) => p > threshold).length,
        detectionsCandidate: b.filter((p) => p > threshold).length,
        meanAbsScoreDifference: shift,
      },
    };
  },
});

/** Mean absolute difference of the log-mel values, in dB (the embedding sees them as x/10 + 2). */
function decibelError(a: Float32Array[], b: Float32Array[]): [string, string, number] {
  const value = mean(a.map((x, s) => x.reduce((sum, v, i) => sum + Math.abs(v - b[s][i]), 0) / x.length));
  return ['meanAbsDifferenceDb', `|Δ| ${value.toFixed(2)} dB`, value];
}

// --- Silero VAD: speech decision per chunk ------------------------------------------------------

const vad: Metric<number> = {
  summarize: (o) => output(o, 'output')[0],
  compare(a, b) {
    const value = agreement(
      a.map((p) => p >= 0.5),
      b.map((p) => p >= 0.5),
    );
    return {
      name: 'per-chunk speech decision agreement (p ≥ 0.5)',
      value,
      text: `${pct(value)} agree, |Δp| ${mean(a.map((p, i) => Math.abs(p - b[i]))).toFixed(3)}`,
      details: {
        chunks: a.length,
        speechShareOriginal: mean(a.map((p) => (p >= 0.5 ? 1 : 0))),
        meanAbsProbabilityDifference: mean(a.map((p, i) => Math.abs(p - b[i]))),
      },
    };
  },
};

export function metricFor(task: Task): Metric<unknown> {
  switch (task.kind) {
    case 'classifier':
      return classifier(task.output) as Metric<unknown>;
    case 'ssr':
      return ssr(task.what) as Metric<unknown>;
    case 'embedding':
      return vectorMetric('mean cosine similarity', (o) => output(o, task.output)) as Metric<unknown>;
    case 'landmarks':
      return vectorMetric('mean cosine similarity', (o) => output(o, task.output), landmarkError) as Metric<unknown>;
    case 'pose':
      return vectorMetric(
        'mean cosine similarity (3×66 bin logits)',
        (o) => concatenated(o, POSE_OUTPUTS),
        poseError,
      ) as Metric<unknown>;
    case 'detector':
      return detector as Metric<unknown>;
    case 'mask':
      return maskMetric(task.output, task.threshold) as Metric<unknown>;
    case 'vad':
      return vad as Metric<unknown>;
    case 'ctc':
      return ctc(task.output) as Metric<unknown>;
    case 'score':
      return score(task.output, task.threshold) as Metric<unknown>;
    case 'spectrogram':
      return vectorMetric(
        'mean cosine similarity (log-mel, dB)',
        (o) => output(o, task.output),
        decibelError,
      ) as Metric<unknown>;
  }
}
