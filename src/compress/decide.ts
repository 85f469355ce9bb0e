import type { Analysis } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { type AllocationInput, allocateChannels, reachable, spaceRounding } from './allocate.ts';
import type { BudgetOptions } from './options.ts';
import { type OutputKind, outputKinds } from './output-error.ts';
import { interpolated, type Prepared, type Timer } from './prepare.ts';
import { readTensors } from './space-tensors.ts';
import type { SpaceDecision } from './surgery.ts';

/** What one budget decides for a prepared model. */
export interface Decisions {
  /** The kept channel count of every prunable space, by id. */
  kept: Map<number, number>;
  /** Every pruned space's plain decision: its kept channels (sorted) and the interpolation of each read tensor. */
  pruned: SpaceDecision[];
  /** Kept neuron counts are multiples of this (see BudgetOptions.roundTo)… */
  roundTo: number;
  /** …or finer on narrow spaces without convolutions (see convolutional). */
  finerOnNarrow: boolean;
  /** Whether the sizes were chosen by the measured output error (sensitivity.ts), and how it read each output. */
  measured: boolean;
  outputs?: OutputKind[];
  /** Seconds the measurement of the output-error curves took, where it was made (once per preparation). */
  sensitivitySeconds?: number;
}

/** The kept channels of every space under one budget, and the plain interpolation of every pruned one. */
export async function decide(
  prepared: Prepared,
  options: BudgetOptions,
  products: MatrixProducts,
  timed: Timer,
): Promise<Decisions> {
  const { analysis, statistics } = prepared;
  const { rankings } = statistics;
  const prunable = analysis.spaces.filter((s) => s.prunable);
  // A FLOPs or parameter budget is spent by the measured damage to the model's outputs (sensitivity.ts).
  const measured =
    (options.budget.kind === 'flops' || options.budget.kind === 'params') && prepared.allocation === 'measured';
  const sensitivity = measured ? await prepared.sensitivity.get(products) : undefined;
  // The default rounding is finer on narrow spaces that no convolution writes or reads (see finerRounding).
  const defaultRounding = options.roundTo === undefined;
  const sizing: Omit<AllocationInput, 'roundTo'> = {
    spaces: new Map(
      prunable.map((s) => [
        s.id,
        {
          channels: s.channels,
          unit: s.unit,
          ranking: rankings.get(s.id)!,
          readPoints: readTensors(s).length,
          outputError: sensitivity?.curves.get(s.id),
          finerRounding: defaultRounding && !convolutional(analysis, s),
        },
      ]),
    ),
    flops: analysis.cost.flops,
    params: analysis.cost.params,
    budget: options.budget,
    minKeep: options.minKeep ?? 1,
  };
  const roundTo = roundingFor(options, sizing);
  const finerOnNarrow =
    roundTo > 1 &&
    [...sizing.spaces.values()].some((s) => s.finerRounding && spaceRounding(s.channels, roundTo) < roundTo);
  const given = options.keep;
  const kept = given
    ? new Map(prunable.map((s) => [s.id, given.get(s.id)?.length ?? s.channels]))
    : await timed('selection', () => allocateChannels({ ...sizing, roundTo }));
  const keepOf = (space: ChannelSpace) =>
    given?.has(space.id)
      ? [...given.get(space.id)!]
      : [...rankings.get(space.id)!.order.slice(0, kept.get(space.id)!)].sort((a, b) => a - b);
  const toPrune = prunable.filter((s) => kept.get(s.id)! < s.channels);
  const pruned = await timed('interpolation', async () => {
    const decisions: SpaceDecision[] = [];
    for (const space of toPrune)
      decisions.push(await interpolated((key) => statistics.grams.get(key)!, space, keepOf(space), products));
    return decisions;
  });
  return {
    kept,
    pruned,
    roundTo,
    finerOnNarrow,
    measured,
    outputs: measured ? outputKinds(prepared.model, analysis.shapes, prepared.metric) : undefined,
    sensitivitySeconds: sensitivity?.seconds,
  };
}

const DEFAULT_ROUND_TO = 8;

const CONVOLUTIONS = new Set(['Conv', 'ConvTranspose']);

/**
 * Whether a convolution writes, reads or passes (depthwise) the space. ONNX Runtime's CPU
 * convolutions run blocked layouts only on channel counts that are multiples of 8 (16 with
 * AVX-512): a 16–64-channel face detector rounded finer kept more of its decisions (F1 0.978 vs
 * 0.947 at 0.7 FLOPs) but ran 1.24× slower than the original instead of 0.80×. Matrix products
 * have no such cliff, so only spaces without convolutions are rounded finer by default.
 */
function convolutional(analysis: Analysis, space: ChannelSpace): boolean {
  const nodes = [...space.producers, ...space.consumers.map((c) => c.node), ...space.groups];
  return nodes.some((n) => CONVOLUTIONS.has(analysis.index.nodes[n].opType));
}

/**
 * The rounding asked for; else multiples of 8 (runtimes run them faster; finer on narrow spaces
 * without convolutions, see convolutional) where they can meet the target, and single neurons where
 * they cannot or where a fixed fraction per space is asked.
 */
function roundingFor(options: BudgetOptions, sizing: Omit<AllocationInput, 'roundTo'>): number {
  if (options.roundTo !== undefined) return options.roundTo;
  if (options.budget.kind === 'keep') return 1;
  return reachable({ ...sizing, roundTo: DEFAULT_ROUND_TO }) ? DEFAULT_ROUND_TO : 1;
}
