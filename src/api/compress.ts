import type { Dataset } from '../calibrate/dataset.ts';
import { batchSizeFor, samplesOf, sliceFeeds } from '../calibrate/dataset.ts';
import { analyzeForData } from '../cli/analyze.ts';
import type { LoadedModel } from '../cli/files.ts';
import type { Budget } from '../compress/allocate.ts';
import { type CompressOptions, compressPrepared, type CompressResult, describeBudget, type Prepared, prepareCompression, type Statistics } from '../compress/pipeline.ts';
import { IdpruneError } from '../errors.ts';
import { compareModels } from '../evaluate/compare.ts';
import { measureLatency } from '../evaluate/latency.ts';
import { nodeRuntime } from '../onnx/runtime-node.ts';
import { buildReport, type CompressionReport, type HeldOutEstimate } from '../report/report.ts';

/** How much to keep: at most one of these; none means targetFlops 0.5. */
export interface CompressTargets {
  /** Keep this fraction of the FLOPs, (0, 1]. */
  targetFlops?: number;
  /** Keep this fraction of the parameters, (0, 1]. */
  targetParams?: number;
  /** Largest relative error allowed in each channel space, instead of a size target. */
  tolerance?: number;
  /** Keep this fraction of every space of single channels or neurons. */
  keepNeurons?: number;
  /** Keep this fraction of the heads of every attention block. */
  keepHeads?: number;
}

export const DEFAULT_BATCH_SIZE = 64;

export function budgetOf(targets: CompressTargets): Budget {
  const keep = targets.keepNeurons !== undefined || targets.keepHeads !== undefined;
  const given = [targets.targetFlops, targets.targetParams, targets.tolerance, keep || undefined].filter((x) => x !== undefined);
  if (given.length > 1) throw new IdpruneError('give one of --target-flops, --target-params, --tolerance and --keep-neurons / --keep-heads');
  if (keep) return { kind: 'keep', neurons: targets.keepNeurons, heads: targets.keepHeads };
  if (targets.targetParams !== undefined) return { kind: 'params', fraction: targets.targetParams };
  if (targets.tolerance !== undefined) return { kind: 'tolerance', error: targets.tolerance };
  return { kind: 'flops', fraction: targets.targetFlops ?? 0.5 };
}

/** A compression as the command and the library run it: pipeline options, held-out data, provenance. */
export interface CompressionRun extends Omit<CompressOptions, 'version' | 'date'> {
  /** Held-out data to compare the compressed model with the original on. */
  evaluation?: { dataset: Dataset; labels?: ArrayLike<number | bigint> };
  /** Estimate the agreement on unseen data from the calibration data alone (see heldOutEstimate). */
  estimate?: boolean;
  version: string;
  date: Date;
}

/** Compresses a model and builds its report: sizes after, per-space outcomes and, given held-out data, agreement and latency. */
export async function compressWithReport(loaded: LoadedModel, calibration: Dataset, run: CompressionRun): Promise<{ result: CompressResult; report: CompressionReport }> {
  return compressPreparedWithReport(loaded, await prepareRun(loaded, calibration, run), run, { lastUse: true });
}

/** The budget-independent part of a run (see prepareCompression): `saved` statistics skip the statistics pass. */
export function prepareRun(loaded: LoadedModel, calibration: Dataset, run: Omit<CompressionRun, 'budget'>, saved?: Statistics): Promise<Prepared> {
  return prepareCompression(loaded.model, () => calibration, nodeRuntime, run, saved);
}

/**
 * A prepared model compressed to the run's budget, with its report. With `lastUse`, the prepared
 * statistics are let go on the way (see compressPrepared): no other budget can be compressed from it.
 */
export async function compressPreparedWithReport(
  loaded: LoadedModel,
  prepared: Prepared,
  run: CompressionRun,
  { lastUse = false } = {},
): Promise<{ result: CompressResult; report: CompressionReport }> {
  const { budget, evaluation, progress, version, date } = run;
  const result = await compressPrepared(prepared, { budget, roundTo: run.roundTo, minKeep: run.minKeep, version, date, lastUse });
  const { analysis: after } = await analyzeForData(result.model, prepared.dataset);
  const report = buildReport(result, { params: after.params, flops: after.flops }, { version, date, target: describeBudget(budget), mode: prepared.mode });

  if (run.estimate) {
    const start = performance.now();
    report.estimate = await heldOutEstimate(loaded, prepared.dataset, run);
    report.timingsSeconds.estimate = (performance.now() - start) / 1000;
  }
  if (evaluation) {
    const { dataset, labels } = evaluation;
    const inputs = dataset.inputs;
    const evalBatch = batchSizeFor(inputs, run.batchSize ?? DEFAULT_BATCH_SIZE);
    const start = performance.now();
    report.evaluation = await compareModels(loaded.bytes, result.bytes, { runtime: nodeRuntime, dataset, inputs, batchSize: evalBatch, labels, progress });
    report.latency = await measureLatency(loaded.bytes, result.bytes, sliceFeeds(dataset, inputs, 0, Math.min(evalBatch, dataset.count)), nodeRuntime);
    report.timingsSeconds.evaluation = (performance.now() - start) / 1000;
  }
  return { result, report };
}

/**
 * What the run keeps on data it did not see, from the calibration data alone: the same compression
 * fitted on three quarters of the samples, compared with the original on the quarter it did not
 * see (every fourth sample, so that an ordered data set is split evenly). It costs about one more
 * compression, and it is a little pessimistic: the model returned is fitted on all the samples.
 */
async function heldOutEstimate(loaded: LoadedModel, calibration: Dataset, run: CompressionRun): Promise<HeldOutEstimate> {
  const all = Array.from({ length: calibration.count }, (_, i) => i);
  const heldOut = all.filter((i) => i % 4 === 3);
  if (heldOut.length === 0) throw new IdpruneError(`--estimate needs at least 4 calibration samples (got ${calibration.count})`);
  const fit = all.filter((i) => i % 4 !== 3);
  const prepared = await prepareCompression(loaded.model, () => samplesOf(calibration, fit), nodeRuntime, run);
  const result = await compressPrepared(prepared, { budget: run.budget, roundTo: run.roundTo, minKeep: run.minKeep, lastUse: true });
  const dataset = samplesOf(calibration, heldOut);
  const batchSize = batchSizeFor(dataset.inputs, run.batchSize ?? DEFAULT_BATCH_SIZE);
  const c = await compareModels(loaded.bytes, result.bytes, { runtime: nodeRuntime, dataset, inputs: dataset.inputs, batchSize, progress: run.progress });
  return {
    samples: c.samples,
    fitSamples: fit.length,
    agreement: c.agreement,
    // Over the samples: rows of per-position outputs are not independent.
    interval: wilsonInterval(c.agreement, c.samples),
    cosine: c.cosine,
    relativeL2: c.relativeL2,
  };
}

/** The 95% Wilson score interval of a proportion p seen in n trials (it stays honest at p = 0 or 1). */
export function wilsonInterval(p: number, n: number): [number, number] {
  const z = 1.96;
  const scale = 1 + (z * z) / n;
  const center = (p + (z * z) / (2 * n)) / scale;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / scale;
  return [Math.max(0, center - half), Math.min(1, center + half)];
}
