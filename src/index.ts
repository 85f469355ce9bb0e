/**
 * idprune as a library: compress an ONNX model by structured pruning, inspect what can be pruned,
 * and compare two models, as the `idprune` command does. Every function takes a model as the
 * bytes of an .onnx file or its path, and data as a path (.npy, .npz, or a folder of
 * `<input name>.npy`) or as arrays in memory. Bad input (a file that is not ONNX, data of the
 * wrong shape, an unreachable target) rejects with an {@link IdpruneError}.
 *
 * @module
 */
import {
  budgetOf,
  compressWithReport,
  type CompressTargets,
  DEFAULT_BATCH_SIZE,
  heldOutTargetOf,
} from './api/compress.ts';
import { type DataSource, type LabelsSource, loadData, loadLabels } from './api/data.ts';
import { type Evaluation, evaluateModels } from './api/evaluate.ts';
import { type ModelSummary, summarizeModel } from './api/inspect.ts';
import { loadModel, type ModelSource } from './api/model.ts';
import { checkOptions } from './api/check-options.ts';
import { version } from './api/version.ts';
import type { Augment } from './calibrate/mirror.ts';
import type { OutputMetric } from './compress/output-error.ts';
import type { Progress } from './progress.ts';
import type { ReadOptions } from './data/read-options.ts';
import { DEFAULT_LATENCY_RUNS } from './evaluate/latency.ts';
import { inputSpecs } from './onnx/shapes.ts';
import type { CompressionReport } from './report/report.ts';

export type { ArrayData, DataSource, LabelsSource } from './api/data.ts';
export type { ReadOptions } from './data/read-options.ts';
export type { Progress } from './progress.ts';
export type { CompressTargets } from './api/compress.ts';
export type { Evaluation } from './api/evaluate.ts';
export type { ModelSummary } from './api/inspect.ts';
export type { ModelSource } from './api/model.ts';
export type { Comparison } from './evaluate/compare.ts';
export type { Latency } from './evaluate/latency.ts';
export type { OutputMetric } from './compress/output-error.ts';
export type { Augment } from './calibrate/mirror.ts';
export type { InputSpec } from './onnx/shapes.ts';
export type { CompressionReport, HeldOutEstimate, ModelSize } from './report/report.ts';
export type { SpaceSummary } from './report/spaces.ts';
export { IdpruneError } from './errors.ts';

/** Options of {@link compress}: one size target (default `targetFlops: 0.5`) and how to reach it. */
export interface CompressOptions extends CompressTargets {
  /**
   * 'corrected' (default) refits each layer against the original network given the pruned layers
   * before it; 'plain' folds the interpolation from the statistics alone: faster, less accurate
   * at strong compression, and it leaves coupled spaces (residual streams) intact.
   */
  mode?: 'corrected' | 'plain';
  /**
   * How per-layer sizes are chosen: 'measured' by the output error of pruning each space alone,
   * 'estimated' by the statistics alone. Default: measured in corrected mode, estimated in plain.
   */
  allocation?: 'measured' | 'estimated';
  /**
   * How the measured allocation reads the outputs: 'auto' (default) by their decisions for
   * Softmax, LogSoftmax and Sigmoid outputs and by relative L2 for others; 'decisions' reads every
   * output as class scores along its last axis (logits); 'relative' reads all as relative L2.
   */
  metric?: OutputMetric;
  /** Kept counts are multiples of this (default 8, or 1 where 8 cannot meet the target). */
  roundTo?: number;
  /** Keep at least this many channels in every space (default 1). */
  minKeep?: number;
  /** Leave the spaces touching these nodes or tensors intact. */
  skip?: string[];
  /** Leave coupled spaces (residual streams, gated branches) intact. */
  keepCoupled?: boolean;
  /** The input marking padding tokens with 0 (default: attention_mask if the model has it). */
  maskInput?: string;
  /** Samples per inference batch (default 64; a model's fixed batch size wins). */
  batchSize?: number;
  /**
   * 'auto' (default): calibration images fewer than 128 are joined by their left-right mirror
   * images (more rows for the statistics and refits); 'mirror' always, 'none' never.
   */
  augment?: Augment;
  /**
   * Estimate the agreement on unseen data from the calibration data alone: the same compression fitted
   * on three quarters of it, compared with the original on the quarter it did not see (report.estimate).
   */
  estimate?: boolean;
  /**
   * Held-out data: the report then holds the agreement with the original (accuracy with labels) and the latency ratio.
   */
  evaluate?: { data: DataSource; labels?: LabelsSource };
  /** How images, audio or text given by path become the model's inputs (sizes, normalisation, tokenizer). */
  read?: ReadOptions;
  /** Told where each pass over the data stands (label, samples done of total); silent by default. */
  progress?: Progress;
}

/** What {@link compress} returns. */
export interface CompressResult {
  /** The compressed model as an .onnx file's bytes, its weights inline. */
  model: Uint8Array;
  /**
   * What changed: sizes before and after, each space's kept channels and error, timings; the command's `--json` report.
   */
  report: CompressionReport;
}

/**
 * Compresses a model to a budget, choosing the channels to keep from the calibration data and
 * folding a least-squares correction into the layers that read them.
 *
 * @param model the model to compress: .onnx bytes or a path
 * @param data calibration samples: a path or arrays in memory (a few hundred samples are typical)
 */
export async function compress(
  model: ModelSource,
  data: DataSource,
  options: CompressOptions = {},
): Promise<CompressResult> {
  checkOptions(options);
  const budget = budgetOf(options);
  const loaded = loadModel(model);
  const inputs = inputSpecs(loaded.model);
  // Every input is read and checked before the long work starts.
  const read = { modelPath: typeof model === 'string' ? model : undefined, ...options.read };
  const calibration = await loadData(data, inputs, 'calibration data', read);
  const evaluation = options.evaluate && {
    dataset: await loadData(options.evaluate.data, inputs, 'evaluation data', read),
    labels: options.evaluate.labels === undefined ? undefined : loadLabels(options.evaluate.labels),
  };
  const { result, report } = await compressWithReport(loaded, calibration, {
    ...options,
    budget,
    heldOutTarget: heldOutTargetOf(options),
    evaluation,
    version,
    date: new Date(),
  });
  return { model: result.bytes, report };
}

/** Options of {@link inspect}. */
export interface InspectOptions {
  /** Samples of the size the model will be fed: they set the sizes of free input dimensions and pick If branches. */
  data?: DataSource;
  /** How images, audio or text given by path become the model's inputs. */
  read?: ReadOptions;
}

/**
 * Analyses a model without changing it: inputs, outputs, parameters, FLOPs and every channel
 * space, prunable or with the reason why not.
 */
export async function inspect(model: ModelSource, options: InspectOptions = {}): Promise<ModelSummary> {
  const loaded = loadModel(model);
  const read = { modelPath: typeof model === 'string' ? model : undefined, ...options.read };
  const data =
    options.data === undefined ? undefined : await loadData(options.data, inputSpecs(loaded.model), 'data', read);
  return summarizeModel(loaded.model, data);
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** One class label per sample, to report accuracy. */
  labels?: LabelsSource;
  /** Samples per inference batch (default 64). */
  batchSize?: number;
  /** Timed runs per model for the latency ratio (default 20). */
  runs?: number;
  /** How images, audio or text given by path become the models' inputs. */
  read?: ReadOptions;
}

/**
 * Compares two models with the same inputs on the same data: top-1 agreement, accuracy with
 * labels, output deviation, both sizes and the latency ratio.
 */
export async function evaluate(
  original: ModelSource,
  candidate: ModelSource,
  data: DataSource,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  checkOptions(options);
  return evaluateModels(loadModel(original, 'original model'), loadModel(candidate, 'candidate model'), data, {
    labels: options.labels,
    batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
    runs: options.runs ?? DEFAULT_LATENCY_RUNS,
    read: { modelPath: typeof original === 'string' ? original : undefined, ...options.read },
  });
}
