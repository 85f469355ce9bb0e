/**
 * idprune as a library: compress an ONNX model by structured pruning, inspect what can be pruned,
 * and compare two models, as the `idprune` command does. Every function takes a model as the
 * bytes of an .onnx file or its path, and data as a path (.npy, .npz, or a folder of
 * `<input name>.npy`) or as arrays in memory. Bad input (a file that is not ONNX, data of the
 * wrong shape, an unreachable target) rejects with an {@link IdpruneError}.
 *
 * @module
 */
import { budgetOf, compressWithReport, heldOutTargetOf } from './api/compress.ts';
import { type DataSource, type LabelsSource, loadData, loadLabels } from './api/data.ts';
import { type Evaluation, evaluateModels } from './api/evaluate.ts';
import { type ModelSummary, summarizeModel } from './api/inspect.ts';
import { loadModel, type ModelSource } from './api/model.ts';
import {
  COMPRESSION_OPTIONS,
  checkOptions,
  EVALUATE_OPTIONS,
  type OptionValues,
  type TARGET_OPTIONS,
  withDefaults,
} from './api/option-table.ts';
import { version } from './api/version.ts';
import type { Progress } from './progress.ts';
import type { ReadOptions } from './data/read-options.ts';
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
export type { Latency } from './onnx/latency.ts';
export type { OutputMetric } from './compress/output-error.ts';
export type { Augment } from './calibrate/mirror.ts';
export type { InputSpec } from './onnx/shapes.ts';
export type { CompressionReport, HeldOutEstimate, ModelSize } from './report/report.ts';
export type { SpaceSummary } from './report/spaces.ts';
export { IdpruneError } from './errors.ts';

/**
 * Options of {@link compress}: one size target (default `targetFlops: 0.5`) and how to reach it
 * (the tables of api/option-table.ts, which the command line's flags come from too).
 */
export interface CompressOptions extends OptionValues<typeof TARGET_OPTIONS>, OptionValues<typeof COMPRESSION_OPTIONS> {
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
  given: CompressOptions = {},
): Promise<CompressResult> {
  checkOptions(given);
  checkOptions(given.read ?? {}, 'options.read');
  const options = withDefaults(COMPRESSION_OPTIONS, given);
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
  checkOptions(options);
  checkOptions(options.read ?? {}, 'options.read');
  const loaded = loadModel(model);
  const read = { modelPath: typeof model === 'string' ? model : undefined, ...options.read };
  const data =
    options.data === undefined ? undefined : await loadData(options.data, inputSpecs(loaded.model), 'data', read);
  return summarizeModel(loaded.model, data);
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions extends OptionValues<typeof EVALUATE_OPTIONS> {
  /** One class label per sample, to report accuracy. */
  labels?: LabelsSource;
  /** How images, audio or text given by path become the models' inputs. */
  read?: ReadOptions;
}

/**
 * Compares two models with the same inputs on the same data: top-1 agreement, accuracy with
 * labels, output deviation, both sizes and the latency ratio at batch 1 and at the batch size.
 */
export async function evaluate(
  original: ModelSource,
  candidate: ModelSource,
  data: DataSource,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  checkOptions(options);
  checkOptions(options.read ?? {}, 'options.read');
  const { batchSize, runs, threads } = withDefaults(EVALUATE_OPTIONS, options);
  return evaluateModels(loadModel(original, 'original model'), loadModel(candidate, 'candidate model'), data, {
    labels: options.labels,
    batchSize,
    runs,
    threads,
    read: { modelPath: typeof original === 'string' ? original : undefined, ...options.read },
  });
}
