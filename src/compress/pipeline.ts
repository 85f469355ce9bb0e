import type { ModelProto } from 'onnx-buf';
import type { Dataset } from '../calibrate/dataset.ts';
import type { Analysis } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import type { Runtime } from '../onnx/runtime.ts';
import { topologicallySorted } from '../onnx/graph-index.ts';
import { encodeModel, setMetadata } from '../onnx/model.ts';
import { runtimeProducts } from '../onnx/runtime-products.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import type { Budget } from './allocate.ts';
import { decide } from './decide.ts';
import { type LatencySearch, sizesForLatency } from './latency-budget.ts';
import { refit } from './fit.ts';
import type { Allocation, BudgetOptions, CompressOptions } from './options.ts';
import type { OutputKind } from './output-error.ts';
import { type Prepared, prepareCompression, timer } from './prepare.ts';
import { applySurgery } from './surgery.ts';

/*
 * The pipeline, in four stages that each return a new value:
 *   prepare (prepare.ts)  model + calibration data → analysis, statistics, rankings (any budget)
 *   decide  (decide.ts)   prepared + budget → kept channels per space, plain interpolations
 *   rewrite (surgery.ts)  decisions → the pruned network with the plain interpolations folded in
 *   fit     (fit.ts)      the corrected mode: consumers refitted against the original network
 */

export interface SpaceOutcome {
  space: ChannelSpace;
  kept: number;
  /**
   * Estimated relative error of keeping these channels, on the calibration data (original network):
   * at the consumers' outputs where the ranking weighs channels by their consumers, else
   * ‖Z − Z_S T‖_F / ‖Z‖_F.
   */
  error: number;
  keep: number[];
}

export interface CompressResult {
  model: ModelProto;
  bytes: Uint8Array;
  analysis: Analysis;
  outcomes: SpaceOutcome[];
  calibrationSamples: number;
  /** Whether the calibration images were joined by their mirror images (see mirror.ts). */
  mirrored: boolean;
  passes: number;
  /** How the per-layer sizes were chosen (see CompressOptions.allocation). */
  allocation: Allocation;
  /** Kept neuron counts are multiples of this (see CompressOptions.roundTo)… */
  roundTo: number;
  /** …of this in spaces of convolutions (see decide.ts). */
  convolutionRoundTo: number;
  /** Whether narrow spaces were rounded finer (the default rounding on spaces no convolution touches). */
  finerOnNarrow: boolean;
  /** How the measured allocation read each output (with the estimated allocation, nothing was read). */
  outputs?: OutputKind[];
  timings: Record<string, number>;
  /** The If branches compressed in place, taken by every calibration sample (see branches.ts). */
  branches?: string[];
  /** With a latency budget: the runtime's latency model and the sizes timed against the original. */
  latencySearch?: LatencySearch;
}

/**
 * model + calibration data → channel spaces → statistics → selection → surgery → smaller model.
 * An If whose branch the calibration data fixes is compressed inside that branch (branches.ts).
 */
export async function compressModel(
  model: ModelProto,
  calibration: (model: { inputs: InputSpec[] }) => Dataset,
  runtime: Runtime,
  options: CompressOptions,
): Promise<CompressResult> {
  return compressPrepared(await prepareCompression(model, calibration, runtime, options), {
    ...options,
    lastUse: true,
  });
}

/** The prepared model compressed to one budget; a prepared model can be compressed to several (unless `lastUse`). */
export async function compressPrepared(prepared: Prepared, options: BudgetOptions): Promise<CompressResult> {
  const products = runtimeProducts(prepared.pass.runtime);
  const timings: Record<string, number> = { ...prepared.timings };
  const timed = timer(timings);
  try {
    const forLatency =
      options.budget.kind === 'latency' ? await sizesForLatency(prepared, options, products, timed) : undefined;
    if (forLatency) timings.latency = forLatency.search.seconds;
    const decisions = await decide(prepared, options, products, timed, forLatency?.sizes);
    if (decisions.sensitivitySeconds !== undefined) timings.sensitivity = decisions.sensitivitySeconds;
    // The Gram matrices are not read again: let them go (a gigabyte for a BERT-base-sized encoder).
    if (options.lastUse) prepared.statistics.grams.clear();
    // Consumers that cannot be refitted (and in the plain mode, all) keep the plain interpolation.
    const surgered = await timed('surgery', () => applySurgery(prepared.model, decisions.pruned, products));
    const fitted =
      prepared.mode === 'corrected'
        ? await refit(prepared, decisions, surgered, products, timed)
        : { model: surgered, passes: 0 };
    setMetadata(fitted.model, {
      'idprune.version': options.version ?? 'unknown',
      'idprune.target': describeBudget(options.budget),
      'idprune.mode': prepared.mode,
      'idprune.allocation': decisions.measured ? 'measured' : 'estimated',
      'idprune.round_to': describeRounding(decisions),
      'idprune.date': (options.date ?? new Date()).toISOString(),
      'idprune.calibration_samples': String(prepared.calibration.count),
    });
    const output = topologicallySorted(prepared.restore ? prepared.restore(fitted.model) : fitted.model);
    const keepOf = new Map(decisions.pruned.map((d) => [d.space.id, d.keep]));
    const outcomes = prepared.analysis.spaces
      .filter((s) => s.prunable)
      .map((space) => {
        const kept = decisions.kept.get(space.id)!;
        return {
          space,
          kept,
          error: Math.sqrt(prepared.statistics.rankings.get(space.id)!.relativeError[kept]),
          keep: keepOf.get(space.id) ?? [],
        };
      });
    return {
      model: output,
      bytes: encodeModel(output),
      analysis: prepared.analysis,
      outcomes,
      calibrationSamples: prepared.calibration.count,
      mirrored: prepared.mirrored,
      passes: 1 + fitted.passes,
      allocation: decisions.measured ? 'measured' : 'estimated',
      roundTo: decisions.roundTo,
      convolutionRoundTo: decisions.convolutionRoundTo,
      finerOnNarrow: decisions.finerOnNarrow,
      outputs: decisions.outputs,
      timings,
      branches: prepared.branches,
      latencySearch: forLatency?.search,
    };
  } finally {
    await products.release();
  }
}

export function describeBudget(budget: Budget): string {
  if (budget.kind === 'tolerance') return `tolerance=${budget.error}`;
  if (budget.kind === 'keep')
    return [
      budget.neurons !== undefined && `neurons=${budget.neurons}`,
      budget.heads !== undefined && `heads=${budget.heads}`,
    ]
      .filter(Boolean)
      .join(',');
  if (budget.kind === 'latency') return `latency=${budget.fraction} at batch ${budget.batch}`;
  return `${budget.kind}=${budget.fraction}`;
}

/** "8", or "8, 16 in convolutions of 32 channels or more" where their rounding differs. */
export function describeRounding(r: { roundTo: number; convolutionRoundTo: number }): string {
  if (r.convolutionRoundTo === r.roundTo) return String(r.roundTo);
  return `${r.roundTo}, ${r.convolutionRoundTo} in convolutions of ${2 * r.convolutionRoundTo} channels or more`;
}
