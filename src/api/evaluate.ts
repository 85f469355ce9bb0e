import { batchSizeFor, type Dataset, timingFeeds } from '../calibrate/dataset.ts';
import type { Progress } from '../progress.ts';
import { analyzeForData } from './analyze.ts';
import type { LoadedModel } from '../io/files.ts';
import { IdpruneError } from '../errors.ts';
import { type Comparison, compareModels } from '../evaluate/compare.ts';
import { compareGeneration, type DecoderCall, decoderCallOf, type GenerationComparison } from '../evaluate/generate.ts';
import { type Latency, type LatencyMeter, type LatencySetting, runtimeMeter } from '../onnx/latency.ts';
import { webLatencyMeter } from '../io/web-latency.ts';
import type { LatencyRuntime } from './option-table.ts';
import { nodeRuntime } from '../onnx/runtime-node.ts';
import type { Feeds } from '../onnx/runtime.ts';
import { type InputSpec, inputSpecs } from '../onnx/shapes.ts';
import { withEmptyCaches } from '../calibrate/decoder-inputs.ts';
import type { ModelSize } from '../report/report.ts';
import type { ReadOptions } from '../data/read-options.ts';
import { type DataSource, type LabelsSource, loadData, loadLabels } from './data.ts';

/** Two models compared on the same data: agreement and deviation, their sizes, their latency. */
export interface Evaluation extends Comparison {
  original: ModelSize;
  candidate: ModelSize;
  /** The latency at batch 1 and, where larger, at the batch size. */
  latency: Latency[];
  /** Greedy continuations compared (language models, where asked). */
  generation?: GenerationComparison;
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
  /** Tokens to generate after each sample's first tokens (language models). */
  generate?: number;
  /** Where the latencies are timed (default: onnxruntime-node). */
  runtime?: LatencyRuntime;
}

/** The meter that times latencies where the user will run the model. */
export function latencyMeterFor(runtime: LatencyRuntime = 'node'): LatencyMeter {
  return runtime === 'web' ? webLatencyMeter() : runtimeMeter(nodeRuntime);
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
    candidateInputs: inputSpecs(candidate.model),
  });
  const latency = await latencies(
    original.bytes,
    candidate.bytes,
    dataset,
    { batch: batchSize, threads: run.threads, runs: run.runs },
    inputSpecs(candidate.model),
    latencyMeterFor(run.runtime),
  );
  const generation =
    run.generate === undefined ? undefined : await generations(original, candidate, dataset, run.generate);
  return {
    ...comparison,
    original: { params: before.params, flops: before.flops },
    candidate: { params: after.params, flops: after.flops },
    latency,
    generation,
  };
}

const GENERATION_PROMPTS = 64;

/** Both models continue the first T − steps tokens of up to 64 samples by `steps` tokens. */
async function generations(
  original: LoadedModel,
  candidate: LoadedModel,
  dataset: Dataset,
  steps: number,
): Promise<GenerationComparison> {
  const calls: [DecoderCall, DecoderCall] = [decoderCallOf(original.model), decoderCallOf(candidate.model)];
  const ids = dataset.arrays[calls[0].ids];
  const tokens = ids.shape[1];
  if (steps >= tokens)
    throw new IdpruneError(`--generate ${steps} leaves no prompt: the samples hold ${tokens} tokens`);
  const rows = Math.min(GENERATION_PROMPTS, dataset.count);
  const all = BigInt64Array.from(ids.rows(0, rows) as ArrayLike<number | bigint>, BigInt);
  const promptTokens = tokens - steps;
  const prompts = BigInt64Array.from(
    { length: rows * promptTokens },
    (_, i) => all[Math.floor(i / promptTokens) * tokens + (i % promptTokens)],
  );
  return compareGeneration(nodeRuntime, original.bytes, candidate.bytes, calls, prompts, rows, steps);
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
  candidateInputs: readonly InputSpec[] = dataset.inputs,
  meter: LatencyMeter = runtimeMeter(nodeRuntime),
): Promise<Latency[]> {
  const sizes = [...new Set([1, setting.batch].map((b) => batchSizeFor(dataset.inputs, b)))];
  const measured: Latency[] = [];
  for (const batch of sizes) {
    const feeds = timingFeeds(dataset, dataset.inputs, batch);
    const fed: [Feeds, Feeds] = [feeds, withEmptyCaches(feeds, candidateInputs)];
    measured.push(await meter(original, candidate, fed, { ...setting, batch }));
  }
  return measured;
}
