import type { ModelProto } from 'onnx-buf';
import { type Dataset, batchSizeFor, checkFillsBatch, sampleDims, samplesOf } from '../calibrate/dataset.ts';
import { inlineFixedBranches } from '../calibrate/branches.ts';
import type { Probe } from '../calibrate/instrument.ts';
import { type Progress, silentProgress } from '../progress.ts';
import { type Augment, mirrorPositions, mirrors, withMirrors } from '../calibrate/mirror.ts';
import { collectGrams, CrossGramPasses, type PassOptions } from '../calibrate/gram-passes.ts';
import { IdpruneError } from '../errors.ts';
import { type Analysis, analyzeModel } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import { indexGraph, topologicallySorted } from '../onnx/graph-index.ts';
import { encodeModel, setMetadata } from '../onnx/model.ts';
import type { Runtime } from '../onnx/runtime.ts';
import { runtimeProducts } from '../onnx/runtime-products.ts';
import { type InputSpec, inputSpecs } from '../onnx/shapes.ts';
import { readFloatTensor } from '../onnx/tensor.ts';
import { addInPlace, identity, type Matrix } from '../linalg/matrix.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { allocateChannels, type AllocationInput, type Budget, reachable, spaceRounding } from './allocate.ts';
import { correctionBatchSize, fitLevels, refittedWeights, type StrengthStarts } from './correction.ts';
import { interpolationMatrix } from './interpolation.ts';
import { type OutputKind, type OutputMetric, outputKinds } from './output-error.ts';
import { type MeasurementFold, measurementFolds, outputErrorCurves } from './sensitivity.ts';
import { type ChannelRanking, consumerMetric, rankChannels, rankChannelsWeighted } from './selection.ts';
import { applySurgery, replaceWeights, type SpaceDecision } from './surgery.ts';
import { neuronCount, neuronLayout, neuronsOf } from './units.ts';

export type CorrectionMode = 'corrected' | 'plain';

/** Samples per inference batch unless told (a model's fixed batch size wins). */
export const DEFAULT_BATCH_SIZE = 64;

export interface CompressOptions {
  budget: Budget;
  /**
   * 'corrected' (default) fits each consumer against the original network given the pruned
   * upstream, level by level (see correction.ts); 'plain' interpolates from the first pass.
   */
  mode?: CorrectionMode;
  /**
   * Kept neuron counts are multiples of this. Default: 8 (ONNX Runtime's convolutions and matrix
   * products run much faster on such counts), or 1 where multiples of 8 cannot meet the target and
   * for a fixed fraction per space (a 'keep' budget).
   */
  roundTo?: number;
  minKeep?: number;
  skip?: string[];
  /**
   * Leave coupled spaces (residual streams, gated branches) intact. Default: in the plain mode,
   * which cannot correct them (the ResNet fixture at 0.5 FLOPs fell to 68% agreement with them pruned).
   */
  keepCoupled?: boolean;
  batchSize?: number;
  /**
   * 'measured': per-layer sizes chosen by the measured error of the model's outputs with each space
   * pruned alone to a few sizes (several extra inference passes on part of the data); 'estimated':
   * by the spaces' own reconstruction errors, from the statistics pass alone. Default: measured in
   * the corrected mode, estimated in the (fast) plain mode.
   */
  allocation?: 'measured' | 'estimated';
  /**
   * How the measured allocation reads the model's outputs (output-error.ts): 'auto' (default)
   * measures Softmax, LogSoftmax and Sigmoid outputs by their decisions and the others by relative
   * L2; 'decisions' reads every other output as class scores along its last axis too.
   */
  metric?: OutputMetric;
  /** The input marking padding tokens with 0 (default: an input named attention_mask). */
  maskInput?: string;
  /** Mirrored copies of calibration images: 'auto' (default) where images are fewer than 128 (see mirror.ts). */
  augment?: Augment;
  progress?: Progress;
  /** Recorded in the output model's metadata. */
  version?: string;
  date?: Date;
}

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
  allocation: 'measured' | 'estimated';
  /** Kept neuron counts are multiples of this (see CompressOptions.roundTo). */
  roundTo: number;
  /** Whether narrow spaces were rounded finer (the default rounding on spaces no convolution touches; see finerRounding). */
  finerOnNarrow: boolean;
  /** How the measured allocation read each output (with the estimated allocation, nothing was read). */
  outputs?: OutputKind[];
  timings: Record<string, number>;
  /** The If branches compressed in place, taken by every calibration sample (see branches.ts). */
  branches?: string[];
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

/** What compression learns from the model and the calibration data whatever the budget: kept for a sweep, or saved. */
export interface Statistics {
  /** The Gram matrix of every read tensor of every prunable space, by probeKey. */
  grams: Map<string, Matrix>;
  rankings: Map<number, ChannelRanking>;
  /** The measured allocation's output error curves (sensitivity.ts), once measured. */
  curves?: Map<number, Float64Array>;
}

/** A model analysed and measured on its calibration data, ready to be compressed to any budget. */
export interface Prepared {
  /** The model as compressed: If branches fixed by the data inlined. */
  model: ModelProto;
  analysis: Analysis;
  /** The calibration data as used: with mirror images where `mirrored` (see mirror.ts). */
  dataset: Dataset;
  mirrored: boolean;
  /** The calibration data as given (without mirror images). */
  calibration: Dataset;
  statistics: Statistics;
  mode: CorrectionMode;
  allocation: 'measured' | 'estimated';
  metric: OutputMetric;
  /** Seconds per stage so far. */
  timings: Record<string, number>;
  /** Puts the inlined If branches back (see branches.ts). */
  restore?: (compressed: ModelProto) => ModelProto;
  branches?: string[];
  pass: PassOptions;
  rowMask: (tensor: string) => string | undefined;
}

type PrepareOptions = Omit<CompressOptions, 'budget' | 'roundTo' | 'minKeep' | 'version' | 'date'>;

/**
 * Everything before a budget is applied: analysis, the statistics pass, the ranking of every
 * space's channels. `saved` statistics (from an earlier run on the same model and data) skip the
 * pass; they must match the analysis.
 */
export async function prepareCompression(
  model: ModelProto,
  calibration: (model: { inputs: InputSpec[] }) => Dataset,
  runtime: Runtime,
  options: PrepareOptions,
  saved?: Statistics,
): Promise<Prepared> {
  const given = calibration({ inputs: inputSpecs(model) });
  const mirrored = mirrors(given, options.augment);
  const dataset = mirrored ? withMirrors(given) : given;
  // Depth levels, deviation tracing and statistics copies read the nodes in order.
  model = topologicallySorted(model);
  const inlined = await inlineFixedBranches(model, dataset, runtime);
  const graph = inlined?.model ?? model;
  const timings: Record<string, number> = {};
  const timed = timer(timings);
  const mode = options.mode ?? 'corrected';

  const analysis = await timed('analysis', () =>
    analyzeModel(graph, runtime, {
      skip: options.skip,
      keepCoupled: options.keepCoupled ?? mode === 'plain',
      sampleDims: sampleDims(dataset),
    }),
  );
  leaveUnderdetermined(analysis, dataset.count);
  const prunable = analysis.spaces.filter((s) => s.prunable);
  if (prunable.length === 0) {
    const shown = analysis.spaces
      .slice(0, 10)
      .map((s) => `\n  space ${s.id}: ${s.reason}`)
      .join('');
    const more =
      analysis.spaces.length > 10 ? `\n  … ${analysis.spaces.length - 10} more (idprune inspect lists them all)` : '';
    throw new IdpruneError(`the model has no prunable channel space${quantizedNote(graph)}${shown}${more}`);
  }
  const pass: PassOptions = {
    runtime,
    dataset,
    inputs: analysis.inputs,
    batchSize: batchSizeFor(analysis.inputs, options.batchSize ?? DEFAULT_BATCH_SIZE),
    progress: options.progress ?? silentProgress,
  };
  pass.memoryArena = activationBytes(analysis) * pass.batchSize <= ARENA_MAX_BATCH_BYTES;
  checkFillsBatch(dataset, analysis.inputs, pass.batchSize);
  const rowMask = paddingMask(analysis, options.maskInput);
  const probes = readProbes(analysis, prunable, rowMask);

  let statistics: Statistics;
  if (saved) {
    statistics = checkedStatistics(saved, probes, prunable);
  } else {
    const grams = await timed('statistics', () => collectGrams(graph, probes, { ...pass, label: 'statistics' }));
    const gramByProbe = new Map(probes.map((p, i) => [probeKey(p.space, p.tensor), grams[i]]));
    const rankings = await timed('selection', async () => {
      const rankings = new Map<number, ChannelRanking>();
      const products = runtimeProducts(runtime);
      try {
        for (const space of prunable) {
          const tensors = readTensors(space);
          const spaceGrams = tensors.map((t) => gramByProbe.get(probeKey(space.id, t))!);
          // Channels are ranked by the error they cause at the consumers' outputs (their weights put a
          // metric on the channels), not at the activation itself: a direction the consumer barely
          // reads costs little to lose. That costs ~3C³ operations, so wide spaces use the plain
          // pivoted Cholesky. Units of several neurons (heads) are ranked as blocks.
          const weighted = space.unit === 1 && space.channels <= WEIGHTED_RANKING_MAX_CHANNELS;
          const ranking = weighted
            ? rankChannelsWeighted(
                spaceGrams,
                await Promise.all(tensors.map((t) => readerMetric(analysis, space, t, products))),
              )
            : await rankChannels(spaceGrams, space.unit, products);
          rankings.set(space.id, ranking);
        }
      } finally {
        await products.release();
      }
      return rankings;
    });
    statistics = { grams: gramByProbe, rankings };
  }
  return {
    model: graph,
    analysis,
    dataset,
    mirrored,
    calibration: given,
    statistics,
    mode,
    allocation: options.allocation ?? defaultAllocation(mode, prunable.length, graph),
    metric: options.metric ?? 'auto',
    timings,
    restore: inlined?.restore,
    branches: inlined?.taken,
    pass,
    rowMask,
  };
}

/** Saved statistics for the spaces of this analysis: refused where they do not match it. */
function checkedStatistics(
  saved: Statistics,
  probes: readonly (Probe & { space: number })[],
  prunable: readonly ChannelSpace[],
): Statistics {
  for (const probe of probes) {
    const gram = saved.grams.get(probeKey(probe.space, probe.tensor));
    if (!gram || gram.rows !== probe.channels) {
      throw new IdpruneError(
        `the statistics do not match this model's analysis (tensor "${probe.tensor}" of space ${probe.space}): were they made with other options (--skip, --keep-coupled, --mode)?`,
      );
    }
  }
  for (const space of prunable)
    if (!saved.rankings.has(space.id)) throw new IdpruneError(`the statistics have no ranking for space ${space.id}`);
  return saved;
}

/** The prepared model compressed to one budget; a prepared model can be compressed to several (unless `lastUse`). */
export async function compressPrepared(prepared: Prepared, options: BudgetOptions): Promise<CompressResult> {
  const products = runtimeProducts(prepared.pass.runtime);
  try {
    return await compressWith(prepared, options, products);
  } finally {
    await products.release();
  }
}

type BudgetOptions = Pick<CompressOptions, 'budget' | 'roundTo' | 'minKeep' | 'version' | 'date'> & {
  /**
   * The prepared statistics are not read again (no other budget, no saving): their Gram matrices
   * are let go once the plain decisions are made (a gigabyte for a BERT-base-sized encoder).
   */
  lastUse?: boolean;
  /**
   * The channels each space keeps (sorted), instead of the allocation and the ranking: another
   * selection at the same sizes gets the same interpolation and refits (the benchmarks' peers).
   */
  keep?: ReadonlyMap<number, readonly number[]>;
};

async function compressWith(
  prepared: Prepared,
  options: BudgetOptions,
  products: MatrixProducts,
): Promise<CompressResult> {
  const { model, analysis, dataset, statistics, mode, pass, rowMask } = prepared;
  const { rankings } = statistics;
  const timings: Record<string, number> = { ...prepared.timings };
  const timed = timer(timings);
  const prunable = analysis.spaces.filter((s) => s.prunable);
  const gramOf = (space: ChannelSpace, tensor: string) => statistics.grams.get(probeKey(space.id, tensor))!;
  const decide = async (space: ChannelSpace, keep: number[]): Promise<SpaceDecision> => {
    const interpolation = new Map<string, Matrix>();
    for (const t of readTensors(space))
      interpolation.set(t, await interpolationMatrix(gramOf(space, t), neuronsOf(keep, space.unit), products));
    return { space, keep, interpolation };
  };
  // A FLOPs or parameter budget is spent by the measured damage to the model's outputs (sensitivity.ts).
  const measured =
    (options.budget.kind === 'flops' || options.budget.kind === 'params') && prepared.allocation === 'measured';
  const outputs = measured ? outputKinds(model, analysis.shapes, prepared.metric) : undefined;
  if (measured && !statistics.curves) {
    const start = performance.now();
    const folds = await heldOutFolds(prepared, decide, products);
    statistics.curves = await outputErrorCurves(model, prunable, rankings, folds, outputs!, pass, products);
    // Measured once for every budget: counted among the prepared stages.
    prepared.timings.sensitivity = (performance.now() - start) / 1000;
    timings.sensitivity = prepared.timings.sensitivity;
  }
  const curves = measured ? statistics.curves : undefined;
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
          outputError: curves?.get(s.id),
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

  const toPrune = prunable.filter((s) => kept.get(s.id)! < s.channels);
  const keepOf = (space: ChannelSpace) =>
    given?.has(space.id)
      ? [...given.get(space.id)!]
      : [...rankings.get(space.id)!.order.slice(0, kept.get(space.id)!)].sort((a, b) => a - b);
  // Each pruned space's plain decision, made once: surgery folds it in, and refits are drawn toward it.
  const plainDecisions = new Map<ChannelSpace, SpaceDecision>();
  await timed('interpolation', async () => {
    for (const space of toPrune) plainDecisions.set(space, await decide(space, keepOf(space)));
  });
  if (options.lastUse) statistics.grams.clear();

  let passes = 1;
  let output: ModelProto;
  // Consumers that cannot be refitted (and in the plain mode, all) keep the plain interpolation.
  output = await timed('surgery', () => applySurgery(model, [...plainDecisions.values()], products));
  if (mode === 'corrected') {
    // Consumers are refitted against the original network (see correction.ts), each replacing its
    // weight as a whole.
    const writers = new Map(
      toPrune.flatMap((space) => space.producers.map((p) => [p, { space, keep: keepOf(space) }] as const)),
    );
    const outputKeep = (node: number) => writers.get(node);
    // Spaces left whole but downstream of pruned ones receive error too: their consumers are refitted as well.
    const intact = deviatedIntactSpaces(analysis, toPrune);
    const pruned = new Set(toPrune);
    const keepOrAll = (space: ChannelSpace) =>
      pruned.has(space) ? keepOf(space) : Array.from({ length: space.channels }, (_, c) => c);
    // What a refit is drawn toward where data is scarce: the plain interpolation, the identity for spaces kept whole.
    const plainInterpolation = (space: ChannelSpace, tensor: string) =>
      pruned.has(space) ? plainDecisions.get(space)!.interpolation.get(tensor)! : identity(neuronCount(space));
    const levels = fitLevels(analysis, [...toPrune, ...intact], keepOrAll, outputKeep, dataset.count, rowMask);
    // A model with a fixed batch size keeps it.
    const batchSize = batchSizeFor(analysis.inputs, correctionBatchSize(levels, pass.batchSize));
    const correction = new CrossGramPasses(model, { ...pass, batchSize });
    const strengthStarts: StrengthStarts = new Map();
    for (let l = 0; l < levels.length; l++) {
      const current = output;
      const label = `correction ${l + 1}/${levels.length}`;
      const last = l === levels.length - 1;
      const stats = await timed('correction', () =>
        correction.next(
          current,
          levels[l].map((f) => f.probe),
          { label, last },
        ),
      );
      passes++;
      const weights = await timed('interpolation', () =>
        refittedWeights(
          analysis,
          levels[l],
          stats,
          outputKeep,
          indexGraph(current),
          plainInterpolation,
          products,
          strengthStarts,
        ),
      );
      output = await timed('surgery', () => replaceWeights(current, weights));
      correction.weightsChanged(weights.flatMap((w) => current.graph!.node[w.node].output));
    }
  }
  setMetadata(output, {
    'idprune.version': options.version ?? 'unknown',
    'idprune.target': describeBudget(options.budget),
    'idprune.mode': mode,
    'idprune.allocation': measured ? 'measured' : 'estimated',
    'idprune.round_to': String(roundTo),
    'idprune.date': (options.date ?? new Date()).toISOString(),
    'idprune.calibration_samples': String(prepared.calibration.count),
  });
  if (prepared.restore) output = prepared.restore(output);

  const outcomes = prunable.map((space) => {
    const k = kept.get(space.id)!;
    const ranking = rankings.get(space.id)!;
    return {
      space,
      kept: k,
      error: Math.sqrt(ranking.relativeError[k]),
      keep: k < space.channels ? keepOf(space) : [],
    };
  });
  return {
    model: output,
    bytes: encodeModel(output),
    analysis,
    outcomes,
    calibrationSamples: prepared.calibration.count,
    mirrored: prepared.mirrored,
    passes,
    allocation: measured ? 'measured' : 'estimated',
    roundTo,
    finerOnNarrow,
    outputs,
    timings,
    branches: prepared.branches,
  };
}

/** Adds each stage's seconds to `timings`. */
function timer(timings: Record<string, number>) {
  return async <T>(stage: string, work: () => Promise<T> | T): Promise<T> => {
    const start = performance.now();
    try {
      return await work();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + (performance.now() - start) / 1000;
    }
  };
}

const QUANTIZED_OPS = new Set([
  'ConvInteger',
  'MatMulInteger',
  'QLinearConv',
  'QLinearMatMul',
  'DynamicQuantizeLinear',
  'QuantizeLinear',
  'DequantizeLinear',
]);

/** Why a quantized model has nothing to prune: its layers are integer ops, which idprune does not rewrite. */
function quantizedNote(model: ModelProto): string {
  const counts = new Map<string, number>();
  for (const node of model.graph!.node)
    if (QUANTIZED_OPS.has(node.opType)) counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
  if (counts.size === 0) return '';
  const list = [...counts].map(([op, n]) => `${op} ×${n}`).join(', ');
  return `: it is quantized (${list}), and quantized layers are not pruned; compress the float model, then quantize it`;
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
  return `${budget.kind}=${budget.fraction}`;
}

/** The distinct tensors a space's consumers read: one interpolation each. */
export function readTensors(space: ChannelSpace): string[] {
  return [...new Set(space.consumers.map((c) => c.reads))];
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
function roundingFor(options: CompressOptions, sizing: Omit<AllocationInput, 'roundTo'>): number {
  if (options.roundTo !== undefined) return options.roundTo;
  if (options.budget.kind === 'keep') return 1;
  return reachable({ ...sizing, roundTo: DEFAULT_ROUND_TO }) ? DEFAULT_ROUND_TO : 1;
}

/**
 * Passes whose batch of activations (every tensor of the model together) is larger than this run
 * without the runtime's memory arena (see LoadOptions.memoryArena). Below it the arena is kept: it
 * saved 12–19% of the VGG fixture's correction time (activations of 70 MB per batch).
 */
const ARENA_MAX_BATCH_BYTES = 512 * 2 ** 20;

/** Bytes of all the model's tensors for one sample, at 4 bytes per element. */
function activationBytes(analysis: Analysis): number {
  let elements = 0;
  for (const shape of analysis.shapes.values()) elements += shape.reduce((a, b) => a * b, 1);
  return 4 * elements;
}

/** Spaces wider than this are ranked by the plain pivoted Cholesky (see the selection stage). */
const WEIGHTED_RANKING_MAX_CHANNELS = 512;

/**
 * The measured allocation prunes each space alone to five sizes and runs part of the data through
 * each result: worth it for the corrected mode on models of moderate size; for many spaces or a
 * large model (each measurement copies the model) the estimate from the statistics is used.
 */
function defaultAllocation(mode: CorrectionMode, spaces: number, model: ModelProto): 'measured' | 'estimated' {
  const bytes = model.graph!.initializer.reduce((sum, t) => sum + t.rawData.byteLength + 4 * t.floatData.length, 0);
  return mode === 'corrected' && spaces <= 48 && bytes <= 50e6 ? 'measured' : 'estimated';
}

/** The summed metric (see consumerMetric) of the consumers reading `tensor`. */
async function readerMetric(
  analysis: Analysis,
  space: ChannelSpace,
  tensor: string,
  products: MatrixProducts,
): Promise<Matrix> {
  let total: Matrix | undefined;
  for (const consumer of space.consumers.filter((c) => c.reads === tensor)) {
    const weight = readFloatTensor(
      analysis.index.constants.get(analysis.index.nodes[consumer.node].input[consumer.weight.input])!,
    );
    const m = await consumerMetric(
      weight,
      { ...consumer.weight, offset: consumer.weight.offset ?? 0, channels: space.channels },
      products,
    );
    if (total) addInPlace(total, m);
    else total = m;
  }
  return total!;
}

/**
 * Spaces left whole (by the allocation, or unprunable: a residual stream under LayerNorm) whose
 * tensors nevertheless deviate from the original network because something upstream was pruned:
 * their consumers are refitted too (all channels kept), so that a layer whose own input keeps every
 * channel still makes up for the error it receives. (Measured: ResNet with its streams intact at
 * 0.5 FLOPs 93.90 → 94.42%, the GPT with a quarter of its heads removed 85.65 → 86.04% per token.)
 */
function deviatedIntactSpaces(analysis: Analysis, pruned: readonly ChannelSpace[]): ChannelSpace[] {
  const { index } = analysis;
  const deviated = new Set<string>();
  const seeds = new Set(pruned.flatMap((s) => s.consumers.map((c) => c.node)));
  index.nodes.forEach((node, i) => {
    if (seeds.has(i) || node.input.some((t) => deviated.has(t))) for (const out of node.output) deviated.add(out);
  });
  const prunedIds = new Set(pruned.map((s) => s.id));
  return analysis.spaces.filter((s) => !prunedIds.has(s.id) && s.consumers.some((c) => deviated.has(c.reads)));
}

function probeKey(space: number, tensor: string): string {
  return `${space}|${tensor}`;
}

/**
 * The model input marking padding tokens (0) of token sequences: named by the user, or an integer
 * input called attention_mask of rank 2. Tensors [batch, tokens, …] read with it leave padded
 * rows out of every statistic.
 */
function paddingMask(analysis: Analysis, name: string | undefined): (tensor: string) => string | undefined {
  const input = analysis.inputs.find((i) =>
    name ? i.name === name : i.name === 'attention_mask' && i.dims.length === 2,
  );
  if (name && !input) throw new IdpruneError(`--mask-input: the model has no input "${name}"`);
  const tokens = input && analysis.shapes.get(input.name);
  if (!input || !tokens || tokens.length !== 2) return () => undefined;
  return (tensor) => {
    const shape = analysis.shapes.get(tensor);
    return shape && shape.length === 3 && shape[1] === tokens[1] ? input.name : undefined;
  };
}

/**
 * A space whose calibration activations have fewer rows (samples × positions) than neurons has a
 * rank-deficient Gram matrix: any subset as large as the rows reconstructs the calibration data
 * exactly, which says nothing about other inputs. Spaces with fewer rows than half their neurons
 * are left intact (the MLP fixture, 1000 rows for 1024 neurons, still prunes well).
 */
function leaveUnderdetermined(analysis: Analysis, samples: number): void {
  for (const space of analysis.spaces) {
    if (!space.prunable) continue;
    const neurons = neuronCount(space);
    const rows = Math.min(
      ...readTensors(space).map((t) => (samples * analysis.shapes.get(t)!.reduce((a, b) => a * b, 1)) / neurons),
    );
    if (2 * rows >= neurons) continue;
    space.prunable = false;
    space.reason = `the calibration data gives ${rows} rows for ${neurons} channels, too few to tell them apart (give more samples)`;
  }
}

function readProbes(
  analysis: Analysis,
  spaces: readonly ChannelSpace[],
  rowMask: (tensor: string) => string | undefined,
): (Probe & { space: number })[] {
  return spaces.flatMap((space) =>
    readTensors(space).map((tensor) => {
      const layout = neuronLayout(space.tensors.find((t) => t.name === tensor)!.layout, space.unit);
      return {
        space: space.id,
        tensor,
        layout,
        channels: neuronCount(space),
        shape: analysis.shapes.get(tensor)!,
        rowMask: rowMask(tensor),
      };
    }),
  );
}

/**
 * The folds the measured allocation judges its errors on (sensitivity.ts): each fold's spaces are
 * interpolated from the Gram matrices of the calibration data less that fold, taken by one extra
 * pass over the fold's samples. Where the measured samples cannot be halved, the one fold is
 * judged in-sample.
 */
async function heldOutFolds(
  prepared: Prepared,
  decide: (space: ChannelSpace, keep: number[]) => Promise<SpaceDecision>,
  products: MatrixProducts,
): Promise<MeasurementFold[]> {
  const { model, analysis, dataset, statistics, pass, rowMask } = prepared;
  const prunable = analysis.spaces.filter((s) => s.prunable);
  // A sample and its mirror image are held out together.
  const given = prepared.calibration.count;
  const originals = measurementFolds(given, prunable.length, batchSizeFor(analysis.inputs, 1));
  const folds = prepared.mirrored ? originals.map((fold) => fold.flatMap((i) => mirrorPositions(i, given))) : originals;
  if (folds.length === 1) return [{ samples: folds[0], decide }];
  const probes = readProbes(analysis, prunable, rowMask);
  const measured: MeasurementFold[] = [];
  for (const [f, samples] of folds.entries()) {
    const foldGrams = await collectGrams(model, probes, {
      ...pass,
      dataset: samplesOf(dataset, samples),
      label: `held-out fold ${f + 1}/${folds.length}`,
    });
    const without = new Map(probes.map((p, i) => [probeKey(p.space, p.tensor), foldGrams[i]]));
    measured.push({
      samples,
      decide: async (space: ChannelSpace, keep: number[]): Promise<SpaceDecision> => {
        const interpolation = new Map<string, Matrix>();
        for (const t of readTensors(space)) {
          const key = probeKey(space.id, t);
          const all = statistics.grams.get(key)!;
          const rest = { ...all, data: Float64Array.from(all.data) };
          addInPlace(rest, without.get(key)!, -1);
          interpolation.set(t, await interpolationMatrix(rest, neuronsOf(keep, space.unit), products));
        }
        return { space, keep, interpolation };
      },
    });
  }
  return measured;
}
