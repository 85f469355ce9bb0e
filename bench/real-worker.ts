// One corpus model, in a process of its own (bench/real.ts starts it): analysis, one plain
// inference pass over the calibration data for reference, then per target: compression with the
// library, FLOPs / parameters kept, the task metric on the held-out data, magnitude pruning at the
// same per-layer sizes (without correction, and with the same interpolation and refits as idprune),
// random channels with that correction, compression time and latency. Prints one `RESULT {json}` line per step;
// a step that fails prints its error and the others go on.
//
// Usage: tsx bench/real-worker.ts <model id> '<options as JSON>'
import type { ModelProto } from 'onnx-buf';
import { heldOutEstimator } from '../src/api/held-out.ts';
import { inlineFixedBranches } from '../src/calibrate/branches.ts';
import { batches, batchSizeFor, type Dataset, makeDataset } from '../src/calibrate/dataset.ts';
import type { ArraySource } from '../src/data/npy.ts';
import { describeReading, type OutputMetric } from '../src/compress/output-error.ts';
import { compressPrepared, type CompressResult } from '../src/compress/pipeline.ts';
import { DEFAULT_BATCH_SIZE } from '../src/compress/options.ts';
import type { Budget } from '../src/compress/allocate.ts';
import { type Prepared, prepareCompression } from '../src/compress/prepare.ts';
import { applySurgery } from '../src/compress/surgery.ts';
import { measureLatency } from '../src/onnx/latency.ts';
import { totalCost } from '../src/graph/cost.ts';
import { type Analysis, analyzeModel } from '../src/graph/analysis.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import type { Feeds, Runtime } from '../src/onnx/runtime.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { type InputSpec, inputSpecs } from '../src/onnx/shapes.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { magnitudeKeep, randomKeep, uncorrected } from './baselines.ts';
import { biasCompensatedModel } from './bias-compensation.ts';
import { latencyAtBatches, summarizeSearch } from './latency-measure.ts';
import { corpusModel, type CorpusModel, loadSplit, modelPath, type Split } from './real-corpus.ts';
import { column, sampleSet, type SampleSet } from './real-data.ts';
import { metricFor, type Metric, type MetricValue, type Outputs } from './real-metrics.ts';

export interface WorkerOptions {
  /** Fractions of the FLOPs to keep, or with `latencyBatch`, of the latency at that batch size (--target-latency). */
  targets: { label: string; fraction: number; split: 'calib' | 'calib16' | 'calib64'; latencyBatch?: number }[];
  /** Measure each compressed model's latency at batch 1 and at this batch, with its spread, twice (bench:latency). */
  timedBatch?: number;
  /** Compare with the peers and estimate (default true); without them, one preparation serves every target. */
  peers?: boolean;
  calibSamples?: number;
  heldoutSamples?: number;
  /** The compression's --metric (default auto). */
  metric?: OutputMetric;
  /** The compression's --round-to (default: 8, finer on narrow spaces without convolutions). */
  roundTo?: number;
}

/** Compressed models are kept here (gitignored) for a closer look. */
const outDir = new URL('./out/real/', import.meta.url).pathname;
const emit = (record: Record<string, unknown>) => console.log(`RESULT ${JSON.stringify(record)}`);
const log = (message: string) => console.error(`[${id}] ${message}`);

/** One line: the library's own message, or the error's name and first line. */
export function oneLine(err: unknown): string {
  const e = err as Error;
  const text = String(e?.message ?? err).split('\n')[0];
  return e?.name && e.name !== 'IdpruneError' && e.name !== 'Error' ? `${e.name}: ${text}` : text;
}

const seconds = (start: number) => (performance.now() - start) / 1000;

/** The first `count` samples of every array with a sample axis (1-D arrays too: scalars repeated per sample). */
function limited(arrays: Map<string, ArraySource>, count: number | undefined): Map<string, ArraySource> {
  if (count === undefined) return arrays;
  return new Map(
    [...arrays].map(([name, a]) => {
      const n = Math.min(count, a.shape[0] ?? 1);
      return [name, a.shape.length === 0 ? a : { ...a, shape: [n, ...a.shape.slice(1)] }];
    }),
  );
}

/** Runs a model over held-out samples, a stateful one chunk by chunk carrying its own state. */
async function runHeldout(
  runtime: Runtime,
  bytes: Uint8Array,
  set: SampleSet,
  entry: CorpusModel,
  starts: number[] | undefined,
  metric: Metric<unknown>,
) {
  const session = await runtime.load(bytes);
  const summaries: unknown[] = [];
  try {
    let state: Outputs[string] | undefined;
    for (let i = 0; i < set.count; i++) {
      const feeds: Feeds = set.feeds(i);
      const recurrence = entry.recurrence;
      if (recurrence && state && !starts![i]) feeds[recurrence.state] = state;
      const outputs = await session.run(feeds);
      if (recurrence) state = outputs[recurrence.stateOut];
      summaries.push(metric.summarize(outputs));
    }
  } finally {
    await session.release();
  }
  return summaries;
}

/**
 * One plain inference pass over a calibration split, as the library batches it (per sample where the library cannot
 * read the data).
 */
async function referencePass(
  bytes: Uint8Array,
  inputs: InputSpec[],
  arrays: Map<string, ArraySource>,
): Promise<{ seconds: number; how: string }> {
  const session = await nodeRuntime.load(bytes);
  try {
    let feeds: Feeds[];
    let how: string;
    try {
      const dataset = makeDataset(arrays, inputs, 'calib');
      const size = batchSizeFor(inputs, 64);
      feeds = [...batches(dataset, inputs, size)];
      how = `batches of ${size}`;
    } catch {
      const set = sampleSet(arrays, inputs);
      feeds = Array.from({ length: set.count }, (_, i) => set.feeds(i));
      how = 'one sample at a time (the library cannot read this data)';
    }
    await session.run(feeds[0]); // warm-up, not counted
    const start = performance.now();
    for (const f of feeds) await session.run(f);
    return { seconds: seconds(start), how };
  } finally {
    await session.release();
  }
}

/**
 * The analysis the library compresses from: an If whose branch every calibration sample takes is
 * inlined first (Silero), so its layers are seen and counted; `branches` names what was inlined.
 */
async function analyzeAsCompressed(
  model: ModelProto,
  dataset: Dataset,
  sampleDims: Record<string, number[]>,
): Promise<{ analysis: Analysis; branches?: string[] }> {
  const inlined = await inlineFixedBranches(model, dataset, nodeRuntime);
  return {
    analysis: await analyzeModel(inlined?.model ?? model, nodeRuntime, { sampleDims }),
    branches: inlined?.taken,
  };
}

/**
 * FLOPs and parameters of the candidate over the original's; the cost model's estimate where the candidate cannot be
 * analysed.
 */
async function keptCost(
  candidate: Uint8Array,
  result: CompressResult,
  dataset: Dataset,
  sampleDims: Record<string, number[]>,
) {
  try {
    const { analysis } = await analyzeAsCompressed(decodeModel(candidate), dataset, sampleDims);
    return {
      flops: analysis.flops / result.analysis.flops,
      params: analysis.params / result.analysis.params,
      estimated: false,
    };
  } catch {
    const kept = new Map(result.outcomes.map((o) => [o.space.id, o.kept / o.space.channels]));
    const fraction = (s: number) => kept.get(s) ?? 1;
    return {
      flops: totalCost(result.analysis.cost.flops, fraction) / result.analysis.flops,
      params: totalCost(result.analysis.cost.params, fraction) / result.analysis.params,
      estimated: true,
    };
  }
}

async function magnitudeModel(result: CompressResult): Promise<Uint8Array> {
  const decisions = result.outcomes
    .filter((o) => o.kept < o.space.channels)
    .map((o) => uncorrected(o.space, magnitudeKeep(result.analysis, o.space, o.kept)));
  return encodeModel(await applySurgery(result.analysis.model, decisions));
}

async function latencyRatio(original: Uint8Array, candidate: Uint8Array, feeds: Feeds): Promise<number> {
  const session = await nodeRuntime.load(original);
  const start = performance.now();
  await session.run(feeds);
  await session.run(feeds);
  const once = seconds(start) / 2;
  await session.release();
  const runs = Math.max(5, Math.min(30, Math.floor(20 / (2 * once))));
  return (await measureLatency(original, candidate, feeds, nodeRuntime, { batch: 1, runs })).ratio;
}

function describeModel(model: ModelProto) {
  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
  return {
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    opset: opset === undefined ? undefined : Number(opset),
    nodes: model.graph!.node.length,
  };
}

async function analyze(model: ModelProto, dataset: Dataset, sampleDims: Record<string, number[]>) {
  const start = performance.now();
  const { analysis, branches } = await analyzeAsCompressed(model, dataset, sampleDims);
  const prunableFlops = analysis.cost.flops.filter((t) => t.spaces.length > 0).reduce((a, t) => a + t.value, 0);
  const reasons: Record<string, number> = {};
  for (const s of analysis.spaces) if (!s.prunable) reasons[s.reason ?? '?'] = (reasons[s.reason ?? '?'] ?? 0) + 1;
  return {
    spaces: analysis.spaces.length,
    prunable: analysis.spaces.filter((s) => s.prunable).length,
    prunableFlopsShare: analysis.flops > 0 ? prunableFlops / analysis.flops : 0,
    flops: analysis.flops,
    params: analysis.params,
    notPrunable: reasons,
    branches,
    seconds: seconds(start),
  };
}

const [id, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}') as WorkerOptions;
const entry = corpusModel(id);
const bytes = new Uint8Array(readFileSync(modelPath(id)));
const model = decodeModel(bytes, id);
const inputs = inputSpecs(model);
const names = inputs.map((i) => i.name);
emit({
  kind: 'model',
  ...describeModel(model),
  inputs: inputs.map((i) => ({ name: i.name, type: i.type, dims: i.dims })),
});

const heldoutArrays = loadSplit(id, 'heldout', names);
const heldout = sampleSet(heldoutArrays, inputs, options.heldoutSamples);
const starts = entry.recurrence ? column(heldoutArrays, entry.recurrence.start, heldout.count) : undefined;
const sampleDims = Object.fromEntries(Object.entries(heldout.feeds(0)).map(([name, t]) => [name, t.dims]));
const metric = metricFor(entry.task);

// 64 samples: the first of the full set (like calib16, the first 16).
const calibration = (split: Split) =>
  split === 'calib64'
    ? limited(loadSplit(id, 'calib', names), Math.min(64, options.calibSamples ?? 64))
    : limited(loadSplit(id, split, names), options.calibSamples);
// The analysis sees the calibration data as compression does (it decides which If branches are fixed).
const calibrationDataset = (split: Split) => makeDataset(calibration(split), inputs, split);

try {
  emit({ kind: 'analysis', ...(await analyze(model, calibrationDataset('calib'), sampleDims)) });
} catch (err) {
  emit({ kind: 'analysis', error: oneLine(err) });
}
const reference: Partial<Record<Split, number>> = {};
for (const split of new Set(options.targets.map((t) => t.split))) {
  try {
    const pass = await referencePass(bytes, inputs, calibration(split));
    reference[split] = pass.seconds;
    emit({ kind: 'reference', split, seconds: pass.seconds, how: pass.how });
  } catch (err) {
    emit({ kind: 'reference', split, error: oneLine(err) });
  }
}

let originalSummaries: unknown[] | undefined;
try {
  const start = performance.now();
  originalSummaries = await runHeldout(nodeRuntime, bytes, heldout, entry, starts, metric);
  emit({ kind: 'heldout', samples: heldout.count, seconds: seconds(start) });
} catch (err) {
  emit({ kind: 'heldout', error: oneLine(err) });
}

async function judge(candidate: Uint8Array): Promise<MetricValue> {
  if (!originalSummaries) throw new Error('the original model could not be run on the held-out data');
  return metric.compare(originalSummaries, await runHeldout(nodeRuntime, candidate, heldout, entry, starts, metric));
}

const preparations = new Map<Split, Promise<Prepared>>();
const prepare = (split: Split) => {
  const arrays = calibration(split);
  const preparing = prepareCompression(
    decodeModel(bytes, id),
    ({ inputs: specs }) => makeDataset(arrays, specs, split),
    nodeRuntime,
    { metric: options.metric },
  );
  if (options.peers === false) preparations.set(split, preparing);
  return preparing;
};

for (const target of options.targets) {
  const record: Record<string, unknown> = { kind: 'run', label: target.label };
  try {
    const measure = target.latencyBatch ? `latency at batch ${target.latencyBatch}` : 'FLOPs';
    log(`compressing to ${target.fraction} of the ${measure} with ${target.split}`);
    const arrays = calibration(target.split);
    const start = performance.now();
    const budget: Budget = target.latencyBatch
      ? { kind: 'latency', fraction: target.fraction, batch: target.latencyBatch }
      : { kind: 'flops', fraction: target.fraction };
    const prepared = await (preparations.get(target.split) ?? prepare(target.split));
    const result = await compressPrepared(prepared, { budget, roundTo: options.roundTo });
    const compressSeconds = seconds(start);
    mkdirSync(outDir, { recursive: true });
    const saved = `${id}-${target.label.replace(/\W+/g, '-')}.onnx`;
    writeFileSync(outDir + saved, result.bytes);
    Object.assign(record, {
      compressSeconds,
      timesOnePass: reference[target.split] ? compressSeconds / reference[target.split]! : undefined,
      calibrationSamples: result.calibrationSamples,
      passes: result.passes,
      allocation: result.allocation,
      outputs: result.outputs?.map((o) => `${o.name}: ${describeReading(o.reading)}`),
      spacesPruned: result.outcomes.filter((o) => o.kept < o.space.channels).length,
      branches: result.branches,
      saved: `bench/out/real/${saved}`,
    });
    Object.assign(record, await keptCost(result.bytes, result, makeDataset(arrays, inputs, target.split), sampleDims));
    try {
      record.metric = await judge(result.bytes);
    } catch (err) {
      record.metricError = oneLine(err);
    }
    try {
      record.latencyRatio = await latencyRatio(bytes, result.bytes, heldout.feeds(0));
    } catch (err) {
      record.latencyError = oneLine(err);
    }
    if (result.latencySearch) record.latencySearch = summarizeSearch(result.latencySearch);
    if (options.timedBatch) {
      try {
        record.latency = await latencyAtBatches(
          bytes,
          result.bytes,
          makeDataset(heldoutArrays, inputs, 'heldout'),
          options.timedBatch,
        );
      } catch (err) {
        record.latencyError = oneLine(err);
      }
    }
    if (options.peers === false) {
      emit(record);
      continue;
    }
    try {
      record.magnitude = await judge(await magnitudeModel(result));
    } catch (err) {
      record.magnitudeError = oneLine(err);
    }
    // Peers at the same per-layer sizes with the same interpolation and refits: what the ID selection itself buys.
    const pruned = result.outcomes.filter((o) => o.kept < o.space.channels);
    const peers: [string, (o: (typeof pruned)[number]) => number[]][] = [
      ['magnitudeCorrected', (o) => magnitudeKeep(result.analysis, o.space, o.kept)],
      ['randomCorrected', (o) => randomKeep(o.space.channels, o.kept, 1000 + o.space.id)],
    ];
    if (target.split === 'calib') {
      try {
        const estimate = await heldOutEstimator({ model, bytes }, makeDataset(arrays, inputs, target.split), {
          metric: options.metric,
          roundTo: options.roundTo,
          batchSize: DEFAULT_BATCH_SIZE,
        }).at(budget, { lastUse: true });
        if (estimate)
          record.estimate = {
            agreement: estimate.agreement,
            interval: estimate.interval,
            cosine: estimate.cosine,
            samples: estimate.samples,
          };
      } catch (err) {
        record.estimateError = oneLine(err);
      }
    }
    try {
      const data = {
        dataset: makeDataset(arrays, inputs, target.split),
        inputs,
        runtime: nodeRuntime,
        batchSize: batchSizeFor(inputs, DEFAULT_BATCH_SIZE),
      };
      record.biasCompensated = await judge(await biasCompensatedModel(result.analysis, result.outcomes, data));
    } catch (err) {
      record.biasCompensatedError = oneLine(err);
    }
    for (const [name, choose] of peers) {
      try {
        const peer = await compressPrepared(prepared, {
          budget,
          roundTo: options.roundTo,
          keep: new Map(pruned.map((o) => [o.space.id, choose(o)])),
        });
        record[name] = await judge(peer.bytes);
      } catch (err) {
        record[`${name}Error`] = oneLine(err);
      }
    }
  } catch (err) {
    record.error = oneLine(err);
  }
  emit(record);
}
