import type { Analysis } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import {
  type AllocationInput,
  allocateChannels,
  convolutionRounding,
  modelledError,
  reachable,
  spaceRounding,
} from './allocate.ts';
import type { BudgetOptions } from './options.ts';
import { type OutputKind, outputKinds } from './output-error.ts';
import { interpolated, type Prepared, type Timer } from './prepare.ts';
import { readTensors } from './space-tensors.ts';
import type { SpaceDecision } from './surgery.ts';

/** The kept channel count of every prunable space under one budget, and how it was chosen. */
export interface Sizes {
  /** The kept channel count of every prunable space, by id. */
  kept: Map<number, number>;
  /** Kept neuron counts are multiples of this (see BudgetOptions.roundTo)… */
  roundTo: number;
  /** …of this in spaces of twice this or more that a convolution writes, reads or passes (convolutional)… */
  convolutionRoundTo: number;
  /** …or finer on narrow spaces without convolutions. */
  finerOnNarrow: boolean;
  /** Whether the sizes were chosen by the measured output error (sensitivity.ts). */
  measured: boolean;
  /** Seconds the measurement of the output-error curves took, where it was made (once per preparation). */
  sensitivitySeconds?: number;
  /** The error of these sizes as the allocation weighs it (allocate.ts modelledError): lower is better. */
  error: number;
}

/** What one budget decides for a prepared model. */
export interface Decisions extends Sizes {
  /** Every pruned space's plain decision: its kept channels (sorted) and the interpolation of each read tensor. */
  pruned: SpaceDecision[];
  /** How the measured allocation read each output, where the sizes were measured. */
  outputs?: OutputKind[];
}

/**
 * The kept channels of every space under one budget. A latency budget is spent on `latency`: the
 * runtime's modelled time and the fraction of it to keep (see latency-budget.ts).
 */
export async function chooseSizes(
  prepared: Prepared,
  options: BudgetOptions,
  products: MatrixProducts,
  timed: Timer,
  latency?: AllocationInput['latency'],
): Promise<Sizes> {
  const { analysis, statistics } = prepared;
  const { rankings } = statistics;
  const prunable = analysis.spaces.filter((s) => s.prunable);
  // A size budget is spent by the measured damage to the model's outputs (sensitivity.ts).
  const sized =
    options.budget.kind === 'flops' || options.budget.kind === 'params' || options.budget.kind === 'latency';
  const measured = sized && prepared.allocation === 'measured';
  const sensitivity = measured ? await prepared.sensitivity.get(products) : undefined;
  // The default rounding is coarser in convolutions, finer on narrow spaces without them (see roundingFor).
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
          rounding: defaultRounding ? (convolutional(analysis, s) ? 'convolution' : 'finer') : undefined,
        },
      ]),
    ),
    flops: analysis.cost.flops,
    params: analysis.cost.params,
    latency,
    budget: options.budget,
    minKeep: options.minKeep ?? 1,
  };
  const rounding = roundingFor(options, sizing);
  const { roundTo } = rounding;
  // The coarser rounding is reported where a space took it.
  const convolutionRoundTo = [...sizing.spaces.values()].some(
    (s) =>
      s.rounding === 'convolution' && convolutionRounding(s.channels, roundTo, rounding.convolutionRoundTo) > roundTo,
  )
    ? rounding.convolutionRoundTo
    : roundTo;
  const finerOnNarrow =
    roundTo > 1 &&
    [...sizing.spaces.values()].some(
      (s) => s.rounding === 'finer' && (s.unit ?? 1) === 1 && spaceRounding(s.channels, roundTo) < roundTo,
    );
  const given = options.keep;
  const kept = given
    ? new Map(prunable.map((s) => [s.id, given.get(s.id)?.length ?? s.channels]))
    : await timed('selection', () => allocateChannels({ ...sizing, ...rounding }));
  return {
    kept,
    roundTo,
    convolutionRoundTo,
    finerOnNarrow,
    measured,
    sensitivitySeconds: sensitivity?.seconds,
    error: modelledError(sizing, kept),
  };
}

/** The plain interpolation of every space pruned to the sizes chosen (by chooseSizes unless given). */
export async function decide(
  prepared: Prepared,
  options: BudgetOptions,
  products: MatrixProducts,
  timed: Timer,
  chosen?: Sizes,
): Promise<Decisions> {
  const { analysis, statistics } = prepared;
  const sizes = chosen ?? (await chooseSizes(prepared, options, products, timed));
  const { kept } = sizes;
  const given = options.keep;
  const keepOf = (space: ChannelSpace) =>
    given?.has(space.id)
      ? [...given.get(space.id)!]
      : [...statistics.rankings.get(space.id)!.order.slice(0, kept.get(space.id)!)].sort((a, b) => a - b);
  const toPrune = analysis.spaces.filter((s) => s.prunable && kept.get(s.id)! < s.channels);
  const pruned = await timed('interpolation', async () => {
    const decisions: SpaceDecision[] = [];
    for (const space of toPrune)
      decisions.push(await interpolated((key) => statistics.grams.get(key)!, space, keepOf(space), products));
    return decisions;
  });
  return {
    ...sizes,
    pruned,
    outputs: sizes.measured ? outputKinds(prepared.model, analysis.shapes, prepared.metric) : undefined,
  };
}

/**
 * The default rounding: multiples of 8, of 16 in convolutions of 32 channels or more (see
 * convolutionRounding). ONNX Runtime's CPU convolutions run blocked layouts on channel counts that
 * are multiples of their block: 8 with AVX2, 16 with AVX-512. The VGG fixture at 0.7 of its FLOPs,
 * with counts of 24, 56 and 120, ran 1.06× slower than the original at batch 64 on an AVX-512
 * machine; with multiples of 16, 0.76× at the same agreement. Only 16-channel spaces keep steps of
 * 8: the ResNet fixture at 0.5 with 16 there too fell to 89.7% agreement (94.5% or more with 8).
 * Matrix products have no such cliff.
 */
const DEFAULT_ROUND_TO = 8;
const DEFAULT_CONVOLUTION_ROUND_TO = 16;

const CONVOLUTIONS = new Set(['Conv', 'ConvTranspose']);

/**
 * Whether a convolution writes, reads or passes (depthwise) the space. Spaces without one are
 * rounded finer where narrow: a 16–64-channel face detector rounded finer in its convolutions kept
 * more of its decisions (F1 0.978 vs 0.947 at 0.7 FLOPs) but ran 1.24× slower than the original
 * instead of 0.80×.
 */
function convolutional(analysis: Analysis, space: ChannelSpace): boolean {
  const nodes = [...space.producers, ...space.consumers.map((c) => c.node), ...space.groups];
  return nodes.some((n) => CONVOLUTIONS.has(analysis.index.nodes[n].opType));
}

/**
 * The rounding asked for; else the default (see DEFAULT_ROUND_TO) where it can meet the target,
 * multiples of 8 everywhere where only that can, and single neurons where neither can or where a
 * fixed fraction per space is asked.
 */
function roundingFor(
  options: BudgetOptions,
  sizing: Omit<AllocationInput, 'roundTo'>,
): { roundTo: number; convolutionRoundTo: number } {
  if (options.roundTo !== undefined) return { roundTo: options.roundTo, convolutionRoundTo: options.roundTo };
  if (options.budget.kind === 'keep') return { roundTo: 1, convolutionRoundTo: 1 };
  const tries = [
    { roundTo: DEFAULT_ROUND_TO, convolutionRoundTo: DEFAULT_CONVOLUTION_ROUND_TO },
    { roundTo: DEFAULT_ROUND_TO, convolutionRoundTo: DEFAULT_ROUND_TO },
  ];
  return tries.find((rounding) => reachable({ ...sizing, ...rounding })) ?? { roundTo: 1, convolutionRoundTo: 1 };
}
