import type { Budget } from '../../compress/allocate.ts';
import { compressModel, describeBudget, type CorrectionMode } from '../../compress/pipeline.ts';
import { batchSizeFor, makeDataset, sliceFeeds } from '../../calibrate/dataset.ts';
import { IdpruneError } from '../../errors.ts';
import { compareModels } from '../../evaluate/compare.ts';
import { measureLatency } from '../../evaluate/latency.ts';
import { nodeRuntime } from '../../onnx/runtime-node.ts';
import { inputSpecs } from '../../onnx/shapes.ts';
import { buildReport } from '../../report/report.ts';
import { formatCompression } from '../../report/text.ts';
import { analyzeForData } from '../analyze.ts';
import { checkOutputPath, externalDataPath, readArrays, readLabels, readModel, writeAtomic, writeModel } from '../files.ts';
import { terminalProgress } from '../progress-bar.ts';

export interface CompressFlags {
  calib: string;
  output: string;
  targetFlops?: number;
  targetParams?: number;
  tolerance?: number;
  keepNeurons?: number;
  keepHeads?: number;
  mode: CorrectionMode;
  roundTo?: number;
  minKeep: number;
  skip: string[];
  keepCoupled?: boolean;
  allocation?: 'measured' | 'estimated';
  maskInput?: string;
  batchSize: number;
  eval?: string;
  labels?: string;
  minAgreement?: number;
  json?: string;
  force?: boolean;
}

function budgetOf(flags: CompressFlags): Budget {
  const keep = flags.keepNeurons !== undefined || flags.keepHeads !== undefined;
  const given = [flags.targetFlops, flags.targetParams, flags.tolerance, keep || undefined].filter((x) => x !== undefined);
  if (given.length > 1) throw new IdpruneError('give one of --target-flops, --target-params, --tolerance and --keep-neurons / --keep-heads');
  if (keep) return { kind: 'keep', neurons: flags.keepNeurons, heads: flags.keepHeads };
  if (flags.targetParams !== undefined) return { kind: 'params', fraction: flags.targetParams };
  if (flags.tolerance !== undefined) return { kind: 'tolerance', error: flags.tolerance };
  return { kind: 'flops', fraction: flags.targetFlops ?? 0.5 };
}

export async function compressCommand(path: string, flags: CompressFlags, version: string): Promise<void> {
  const budget = budgetOf(flags);
  if (flags.minAgreement !== undefined && !flags.eval) throw new IdpruneError('--min-agreement needs --eval data');
  if (flags.labels && !flags.eval) throw new IdpruneError('--labels needs --eval data');
  checkOutputPath(flags.output, [path], Boolean(flags.force));
  if (flags.json) checkOutputPath(flags.json, [path], true);
  const { model, bytes: original, external } = readModel(path);
  if (external) checkOutputPath(externalDataPath(flags.output), [path], Boolean(flags.force));
  const inputs = inputSpecs(model);
  // Every input is read and checked before the long work starts.
  const calibration = makeDataset(readArrays(flags.calib, 'calibration data'), inputs, flags.calib);
  const evaluation = flags.eval ? makeDataset(readArrays(flags.eval, 'evaluation data'), inputs, flags.eval) : undefined;
  const labels = flags.labels ? readLabels(flags.labels) : undefined;
  if (evaluation && labels && labels.length < evaluation.count) {
    throw new IdpruneError(`labels ${flags.labels} hold ${labels.length} entries for ${evaluation.count} samples`);
  }
  const progress = terminalProgress();
  const date = new Date();

  const result = await compressModel(model, () => calibration, nodeRuntime, {
    budget,
    mode: flags.mode,
    roundTo: flags.roundTo,
    minKeep: flags.minKeep,
    skip: flags.skip,
    keepCoupled: flags.keepCoupled,
    allocation: flags.allocation,
    maskInput: flags.maskInput,
    batchSize: flags.batchSize,
    progress,
    version,
    date,
  });
  const { analysis: after } = await analyzeForData(result.model, calibration);
  const report = buildReport(result, { params: after.params, flops: after.flops }, { version, date, target: describeBudget(budget), mode: flags.mode });

  if (evaluation) {
    const batchSize = batchSizeFor(inputs, flags.batchSize);
    const start = performance.now();
    report.evaluation = await compareModels(original, result.bytes, { runtime: nodeRuntime, dataset: evaluation, inputs, batchSize, labels, progress });
    report.latency = await measureLatency(original, result.bytes, sliceFeeds(evaluation, inputs, 0, Math.min(batchSize, evaluation.count)), nodeRuntime);
    report.timingsSeconds.evaluation = (performance.now() - start) / 1000;
  }

  console.log(formatCompression(report));
  if (flags.json) writeAtomic(flags.json, JSON.stringify(report, null, 2) + '\n');
  if (flags.minAgreement !== undefined && report.evaluation!.agreement < flags.minAgreement) {
    throw new IdpruneError(
      `agreement ${(100 * report.evaluation!.agreement).toFixed(2)}% is below --min-agreement ${(100 * flags.minAgreement).toFixed(2)}%; no model written`,
    );
  }
  writeModel(flags.output, result.model, external);
  console.log(`\nwrote ${flags.output}`);
}
