import type { Dataset } from '../calibrate/dataset.ts';
import { batchSizeFor } from '../calibrate/dataset.ts';
import { analyzeForData } from './analyze.ts';
import { latencies, latencyMeterFor } from './evaluate.ts';
import type { LoadedModel } from '../io/files.ts';
import type { Budget } from '../compress/allocate.ts';
import { type CompressOptions, DEFAULT_BATCH_SIZE } from '../compress/options.ts';
import { compressPrepared, type CompressResult, describeBudget } from '../compress/pipeline.ts';
import { type Prepared, prepareCompression, type Statistics } from '../compress/prepare.ts';
import { IdpruneError } from '../errors.ts';
import { compareModels } from '../evaluate/compare.ts';
import { nodeRuntime } from '../onnx/runtime-node.ts';
import { inputSpecs } from '../onnx/shapes.ts';
import { buildReport, type CompressionReport } from '../report/report.ts';
import type { COMPRESSION_OPTIONS, LatencyRuntime, OptionValues, TARGET_OPTIONS } from './option-table.ts';
import { type HeldOutEstimator, heldOutEstimator, type HeldOutTarget, searchFlops } from './held-out.ts';

/** How much to keep: at most one of these; none means targetFlops 0.5. */
export type CompressTargets = OptionValues<typeof TARGET_OPTIONS>;

export { DEFAULT_BATCH_SIZE };

/** The size budget of the targets; with a held-out target (see heldOutTargetOf), a placeholder the search replaces. */
export function budgetOf(
  targets: CompressTargets & Pick<OptionValues<typeof COMPRESSION_OPTIONS>, 'latencyBatch' | 'threads'>,
): Budget {
  const keep = targets.keepNeurons !== undefined || targets.keepHeads !== undefined;
  const given = [
    targets.targetFlops,
    targets.targetParams,
    targets.targetLatency,
    targets.tolerance,
    keep || undefined,
    targets.targetAgreement,
    targets.targetCosine,
  ];
  if (given.filter((x) => x !== undefined).length > 1) {
    throw new IdpruneError(
      'give one of --target-flops, --target-params, --target-latency, --tolerance, --keep-neurons / --keep-heads, ' +
        '--target-agreement and --target-cosine',
    );
  }
  if (keep) return { kind: 'keep', neurons: targets.keepNeurons, heads: targets.keepHeads };
  if (targets.targetParams !== undefined) return { kind: 'params', fraction: targets.targetParams };
  if (targets.targetLatency !== undefined)
    return {
      kind: 'latency',
      fraction: targets.targetLatency,
      batch: targets.latencyBatch ?? 1,
      threads: targets.threads,
    };
  if (targets.tolerance !== undefined) return { kind: 'tolerance', error: targets.tolerance };
  return { kind: 'flops', fraction: targets.targetFlops ?? 0.5 };
}

export function heldOutTargetOf(targets: CompressTargets): HeldOutTarget | undefined {
  if (targets.targetAgreement !== undefined) return { metric: 'agreement', value: targets.targetAgreement };
  if (targets.targetCosine !== undefined) return { metric: 'cosine', value: targets.targetCosine };
  return undefined;
}

/** A compression as the command and the library run it: pipeline options, held-out data, provenance. */
export interface CompressionRun extends Omit<CompressOptions, 'version' | 'date'> {
  /** Held-out data to compare the compressed model with the original on. */
  evaluation?: { dataset: Dataset; labels?: ArrayLike<number | bigint> };
  /** Estimate the agreement on unseen data from the calibration data alone (see held-out.ts). */
  estimate?: boolean;
  /** Intra-op threads of the timed runs (default: the runtime's). */
  threads?: number;
  /** Where latencies are timed (default: onnxruntime-node). */
  runtime?: LatencyRuntime;
  /** Compress to the smallest FLOPs that meets this on held-out calibration samples, instead of `budget`. */
  heldOutTarget?: HeldOutTarget;
  version: string;
  date: Date;
}

/**
 * Compresses a model and builds its report: sizes after, per-space outcomes and, given held-out data, agreement and
 * latency.
 */
export async function compressWithReport(
  loaded: LoadedModel,
  calibration: Dataset,
  run: CompressionRun,
): Promise<{ result: CompressResult; report: CompressionReport }> {
  return compressPreparedWithReport(loaded, await prepareRun(loaded, calibration, run), run, { lastUse: true });
}

/** The budget-independent part of a run (see prepareCompression): `saved` statistics skip the statistics pass. */
export function prepareRun(
  loaded: LoadedModel,
  calibration: Dataset,
  run: Omit<CompressionRun, 'budget'> & { shard?: boolean },
  saved?: Statistics,
): Promise<Prepared> {
  return prepareCompression(loaded.model, () => calibration, nodeRuntime, run, saved);
}

/**
 * A prepared model compressed to the run's budget, with its report. With `lastUse`, the prepared
 * statistics are let go on the way (see compressPrepared): no other budget can be compressed from it.
 * An `estimator` shared by several budgets (a sweep) prepares its held-out split once.
 */
export async function compressPreparedWithReport(
  loaded: LoadedModel,
  prepared: Prepared,
  run: CompressionRun,
  { lastUse = false, estimator }: { lastUse?: boolean; estimator?: HeldOutEstimator } = {},
): Promise<{ result: CompressResult; report: CompressionReport }> {
  const { evaluation, progress, version, date } = run;
  const batchSize = run.batchSize ?? DEFAULT_BATCH_SIZE;
  const searchStart = performance.now();
  const searched =
    run.heldOutTarget && (await searchFlops(loaded, prepared.calibration, { ...run, batchSize }, run.heldOutTarget));
  const searchSeconds = (performance.now() - searchStart) / 1000;
  const budget: Budget = searched ? { kind: 'flops', fraction: searched.fraction } : run.budget;
  const target = searched
    ? `${searched.search.metric} ${searched.search.value} on held-out calibration samples: ${describeBudget(budget)}`
    : describeBudget(budget);
  const result = await compressPrepared(prepared, {
    budget,
    roundTo: run.roundTo,
    minKeep: run.minKeep,
    version,
    date,
    lastUse,
    latencyMeter: run.runtime === 'web' ? latencyMeterFor('web') : undefined,
  });
  const { analysis: after } = await analyzeForData(result.model, prepared.dataset);
  const report = buildReport(
    result,
    { params: after.params, flops: after.flops },
    { version, date, target, mode: prepared.mode },
  );

  if (searched) {
    report.search = searched.search;
    report.estimate = searched.estimate;
    report.timingsSeconds.search = searchSeconds;
  } else if (run.estimate) {
    const start = performance.now();
    const estimating = estimator ?? heldOutEstimator(loaded, prepared.calibration, { ...run, batchSize });
    report.estimate = await estimating.at(budget, { lastUse: !estimator });
    report.timingsSeconds.estimate = (performance.now() - start) / 1000;
  }
  if (evaluation) {
    const { dataset, labels } = evaluation;
    const inputs = dataset.inputs;
    const evalBatch = batchSizeFor(inputs, run.batchSize ?? DEFAULT_BATCH_SIZE);
    const start = performance.now();
    report.evaluation = await compareModels(loaded.bytes, result.bytes, {
      runtime: nodeRuntime,
      dataset,
      inputs,
      batchSize: evalBatch,
      labels,
      progress,
      candidateInputs: inputSpecs(result.model),
    });
    report.latency = await latencies(
      loaded.bytes,
      result.bytes,
      dataset,
      { batch: evalBatch, threads: run.threads },
      inputSpecs(result.model),
      latencyMeterFor(run.runtime),
    );
    report.timingsSeconds.evaluation = (performance.now() - start) / 1000;
  }
  return { result, report };
}
