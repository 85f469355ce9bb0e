import { batchSizeFor, type Dataset, timingFeeds } from '../calibrate/dataset.ts';
import type { Progress } from '../progress.ts';
import { analyzeForData } from './analyze.ts';
import type { LoadedModel } from '../io/files.ts';
import { IdpruneError } from '../errors.ts';
import { type Comparison, compareModels } from '../evaluate/compare.ts';
import { type Latency, type LatencySetting, measureLatency } from '../onnx/latency.ts';
import { nodeRuntime } from '../onnx/runtime-node.ts';
import { inputSpecs } from '../onnx/shapes.ts';
import type { ModelSize } from '../report/report.ts';
import type { ReadOptions } from '../data/read-options.ts';
import { type DataSource, type LabelsSource, loadData, loadLabels } from './data.ts';

/** Two models compared on the same data: agreement and deviation, their sizes, their latency. */
export interface Evaluation extends Comparison {
  original: ModelSize;
  candidate: ModelSize;
  /** The latency at batch 1 and, where larger, at the batch size. */
  latency: Latency[];
}

export interface EvaluationRun {
  labels?: LabelsSource;
  batchSize: number;
  /** Timed runs per model for the latency ratio, at least. */
  runs: number;
  /** Intra-op threads of the timed runs (default: the runtime's). */
  threads?: number;
  progress?: Progress;
  /** How images, audio or text given by path become inputs. */
  read?: ReadOptions;
}

/** Compares two models with the same inputs on the same data. */
export async function evaluateModels(
  original: LoadedModel,
  candidate: LoadedModel,
  data: DataSource,
  run: EvaluationRun,
): Promise<Evaluation> {
  const inputs = inputSpecs(original.model);
  const names = (specs: typeof inputs) => specs.map((s) => s.name).join(', ');
  if (names(inputs) !== names(inputSpecs(candidate.model))) {
    throw new IdpruneError(
      `the models have different inputs (${names(inputs)} vs ${names(inputSpecs(candidate.model))})`,
    );
  }
  const dataset = await loadData(data, inputs, 'data', run.read, run.progress);
  const { analysis: before } = await analyzeForData(original.model, dataset);
  const { analysis: after } = await analyzeForData(candidate.model, dataset);
  const labels = run.labels === undefined ? undefined : loadLabels(run.labels);
  const batchSize = batchSizeFor(inputs, run.batchSize);
  const comparison = await compareModels(original.bytes, candidate.bytes, {
    runtime: nodeRuntime,
    dataset,
    inputs,
    batchSize,
    labels,
    progress: run.progress,
  });
  const latency = await latencies(original.bytes, candidate.bytes, dataset, {
    batch: batchSize,
    threads: run.threads,
    runs: run.runs,
  });
  return {
    ...comparison,
    original: { params: before.params, flops: before.flops },
    candidate: { params: after.params, flops: after.flops },
    latency,
  };
}

/**
 * The latency of two models at batch 1 (one request at a time) and, where larger, at `batch` (a batch
 * at a time; the data repeated where it has fewer samples); a model's fixed batch size wins.
 */
export async function latencies(
  original: Uint8Array,
  candidate: Uint8Array,
  dataset: Dataset,
  setting: LatencySetting,
): Promise<Latency[]> {
  const sizes = [...new Set([1, setting.batch].map((b) => batchSizeFor(dataset.inputs, b)))];
  const measured: Latency[] = [];
  for (const batch of sizes) {
    const feeds = timingFeeds(dataset, dataset.inputs, batch);
    measured.push(await measureLatency(original, candidate, feeds, nodeRuntime, { ...setting, batch }));
  }
  return measured;
}
