import type { ModelProto } from 'onnx-buf';
import { inlineFixedBranches } from '../calibrate/branches.ts';
import { batchSizeFor, checkFillsBatch, type Dataset, sampleDims, samplesOf } from '../calibrate/dataset.ts';
import { collectGrams, type PassOptions } from '../calibrate/gram-passes.ts';
import type { Probe } from '../calibrate/instrument.ts';
import { mirrorPositions, mirrors, withMirrors } from '../calibrate/mirror.ts';
import { IdpruneError } from '../errors.ts';
import { type Analysis, analyzeModel } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import { addInPlace, type Matrix } from '../linalg/matrix.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { topologicallySorted } from '../onnx/graph-index.ts';
import type { Runtime } from '../onnx/runtime.ts';
import { runtimeProducts } from '../onnx/runtime-products.ts';
import { type InputSpec, inputSpecs } from '../onnx/shapes.ts';
import { readFloatTensor } from '../onnx/tensor.ts';
import { silentProgress } from '../progress.ts';
import { interpolationMatrix } from './interpolation.ts';
import { type Allocation, type CorrectionMode, DEFAULT_BATCH_SIZE, type PrepareOptions } from './options.ts';
import { type OutputMetric, outputKinds } from './output-error.ts';
import { type ChannelRanking, consumerMetric, rankChannels, rankChannelsWeighted } from './selection.ts';
import type { LatencyModel } from './latency-model.ts';
import { type MeasurementFold, measurementFolds, outputErrorCurves } from './sensitivity.ts';
import { probeKey, readTensors } from './space-tensors.ts';
import type { SpaceDecision } from './surgery.ts';
import { neuronCount, neuronLayout, neuronsOf } from './units.ts';

/** What compression learns from the model and the calibration data whatever the budget: kept for a sweep, or saved. */
export interface Statistics {
  /** The Gram matrix of every read tensor of every prunable space, by probeKey. */
  grams: Map<string, Matrix>;
  rankings: Map<number, ChannelRanking>;
  /** The measured allocation's output error curves (sensitivity.ts), where measured. */
  curves?: Map<number, Float64Array>;
  /** Latency models of the runtime (latency-model.ts), each with the machine it was measured on. */
  latencyModels?: MachineLatencyModel[];
}

export interface MachineLatencyModel {
  /** The processor and core count, as the saving side describes them: a model is reused on that machine only. */
  machine: string;
  model: LatencyModel;
}

/** A model analysed and measured on its calibration data, ready to be compressed to any budget. */
export interface Prepared {
  /** The model as compressed: If branches fixed by the data inlined. */
  model: ModelProto;
  /** Its analysis, with the spaces too thin in calibration rows to prune left whole. */
  analysis: Analysis;
  /** The calibration data as used: with mirror images where `mirrored` (see mirror.ts). */
  dataset: Dataset;
  mirrored: boolean;
  /** The calibration data as given (without mirror images). */
  calibration: Dataset;
  statistics: Omit<Statistics, 'curves'>;
  /** The measured allocation's output-error curves, measured once for every budget. */
  sensitivity: SensitivityMeasurement;
  mode: CorrectionMode;
  allocation: Allocation;
  metric: OutputMetric;
  /** Seconds per stage of the preparation. */
  timings: Record<string, number>;
  /** Puts the inlined If branches back (see branches.ts). */
  restore?: (compressed: ModelProto) => ModelProto;
  branches?: string[];
  pass: PassOptions;
  rowMask: (tensor: string) => string | undefined;
  /** The runtime's latency models (latency-budget.ts), by batch size and threads: measured once for every budget. */
  latencyModels: Map<string, Promise<LatencyModel>>;
}

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
  const sorted = topologicallySorted(model);
  const inlined = await inlineFixedBranches(sorted, dataset, runtime);
  const graph = inlined?.model ?? sorted;
  const timings: Record<string, number> = {};
  const timed = timer(timings);
  const mode = options.mode ?? 'corrected';

  const analysis = withUnderdeterminedLeft(
    await timed('analysis', () =>
      analyzeModel(graph, runtime, {
        skip: options.skip,
        keepCoupled: options.keepCoupled ?? mode === 'plain',
        sampleDims: sampleDims(dataset),
      }),
    ),
    options.shard ? Number.POSITIVE_INFINITY : dataset.count,
  );
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
  const batchSize = batchSizeFor(analysis.inputs, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const pass: PassOptions = {
    runtime,
    dataset,
    inputs: analysis.inputs,
    batchSize,
    progress: options.progress ?? silentProgress,
    memoryArena: activationBytes(analysis) * batchSize <= ARENA_MAX_BATCH_BYTES,
  };
  checkFillsBatch(dataset, analysis.inputs, pass.batchSize);
  const rowMask = paddingMask(analysis, options.maskInput);
  const probes = readProbes(analysis, prunable, rowMask);

  const statistics = saved
    ? await ranked(checkedStatistics(saved, probes, prunable), analysis, prunable, runtime, timed)
    : await measureStatistics(graph, analysis, prunable, probes, pass, timed);
  const prepared: Omit<Prepared, 'sensitivity'> = {
    model: graph,
    analysis,
    dataset,
    mirrored,
    calibration: given,
    statistics: { grams: statistics.grams, rankings: statistics.rankings },
    mode,
    allocation: options.allocation ?? defaultAllocation(mode, prunable.length, graph),
    metric: options.metric ?? 'auto',
    timings,
    restore: inlined?.restore,
    branches: inlined?.taken,
    pass,
    rowMask,
    latencyModels: new Map(),
  };
  // Latency models saved with the statistics (on this machine: io/statistics-file.ts keeps only those).
  for (const { model } of saved?.latencyModels ?? [])
    prepared.latencyModels.set(`${model.batch}/${model.threads}`, Promise.resolve(model));
  return { ...prepared, sensitivity: new SensitivityMeasurement(prepared, statistics.curves) };
}

/** The Gram matrices of every read tensor (one pass over the data) and the ranking of every space's channels. */
async function measureStatistics(
  graph: ModelProto,
  analysis: Analysis,
  prunable: readonly ChannelSpace[],
  probes: readonly (Probe & { space: number })[],
  pass: PassOptions,
  timed: Timer,
): Promise<Statistics> {
  const grams = await timed('statistics', () => collectGrams(graph, probes, { ...pass, label: 'statistics' }));
  const gramByProbe = new Map(probes.map((p, i) => [probeKey(p.space, p.tensor), grams[i]]));
  return ranked({ grams: gramByProbe, rankings: new Map() }, analysis, prunable, pass.runtime, timed);
}

/**
 * Statistics with the ranking of every space's channels, computed from the Gram matrices where they
 * have none (merged from shards by `idprune merge-stats`).
 */
async function ranked(
  statistics: Statistics,
  analysis: Analysis,
  prunable: readonly ChannelSpace[],
  runtime: Runtime,
  timed: Timer,
): Promise<Statistics> {
  if (statistics.rankings.size > 0) return statistics;
  const gramByProbe = statistics.grams;
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
  return { ...statistics, rankings };
}

/** The measured allocation's output-error curves and the seconds they took to measure. */
export interface Sensitivity {
  curves: Map<number, Float64Array>;
  /** Undefined for curves read from saved statistics. */
  seconds?: number;
}

/**
 * The output-error curves of the measured allocation (sensitivity.ts): several passes over part of
 * the data, so measured on first use only and kept for every later budget of the same preparation.
 */
export class SensitivityMeasurement {
  private measured?: Promise<Sensitivity>;
  private result?: Sensitivity;

  constructor(
    private readonly prepared: Omit<Prepared, 'sensitivity'>,
    saved?: Map<number, Float64Array>,
  ) {
    if (saved) this.result = { curves: saved };
  }

  async get(products: MatrixProducts): Promise<Sensitivity> {
    if (this.result) return this.result;
    this.measured ??= this.measure(products).then((result) => (this.result = result));
    return this.measured;
  }

  /** The curves where measured (or saved) already: what saving the statistics keeps. */
  get known(): Map<number, Float64Array> | undefined {
    return this.result?.curves;
  }

  private async measure(products: MatrixProducts): Promise<Sensitivity> {
    const { model, analysis, statistics, metric, pass } = this.prepared;
    const start = performance.now();
    const prunable = analysis.spaces.filter((s) => s.prunable);
    const decide = (space: ChannelSpace, keep: number[]) =>
      interpolated((key) => statistics.grams.get(key)!, space, keep, products);
    const folds = await heldOutFolds(this.prepared, decide, products);
    const outputs = outputKinds(model, analysis.shapes, metric);
    const curves = await outputErrorCurves(model, prunable, statistics.rankings, folds, outputs, pass, products);
    return { curves, seconds: (performance.now() - start) / 1000 };
  }
}

/** The plain decision for a space: the channels `keep` and, per read tensor, the interpolation from its Gram matrix. */
export async function interpolated(
  gramOf: (key: string) => Matrix,
  space: ChannelSpace,
  keep: number[],
  products: MatrixProducts,
): Promise<SpaceDecision> {
  const interpolation = new Map<string, Matrix>();
  for (const t of readTensors(space))
    interpolation.set(
      t,
      await interpolationMatrix(gramOf(probeKey(space.id, t)), neuronsOf(keep, space.unit), products),
    );
  return { space, keep, interpolation };
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
        `the statistics do not match this model's analysis (tensor "${probe.tensor}" of space ${probe.space}): ` +
          'were they made with other options (--skip, --keep-coupled, --mode)?',
      );
    }
  }
  // Statistics merged from shards hold Gram matrices alone: the rankings are computed from them.
  for (const space of saved.rankings.size > 0 ? prunable : []) {
    const ranking = saved.rankings.get(space.id);
    if (!ranking) throw new IdpruneError(`the statistics have no ranking for space ${space.id}`);
    const curve = saved.curves?.get(space.id);
    if (ranking.order.length !== space.channels || (curve && curve.length !== space.channels + 1))
      throw new IdpruneError(`the statistics do not match this model's analysis (space ${space.id})`);
  }
  return saved;
}

export type Timer = <T>(stage: string, work: () => Promise<T> | T) => Promise<T>;

/** Adds each stage's seconds to `timings`. */
export function timer(timings: Record<string, number>): Timer {
  return async (stage, work) => {
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
  // ONNX Runtime's contrib ops of quantized language models (4-bit weights and the like)
  'MatMulNBits',
  'GatherBlockQuantized',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'QGemm',
  'QAttention',
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
function withUnderdeterminedLeft(analysis: Analysis, samples: number): Analysis {
  const spaces = analysis.spaces.map((space) => {
    if (!space.prunable) return space;
    const neurons = neuronCount(space);
    const rows = Math.min(
      ...readTensors(space).map((t) => (samples * analysis.shapes.get(t)!.reduce((a, b) => a * b, 1)) / neurons),
    );
    if (2 * rows >= neurons) return space;
    const reason =
      `the calibration data gives ${rows} rows for ${neurons} channels, ` +
      'too few to tell them apart (give more samples)';
    return { ...space, prunable: false, reason };
  });
  return { ...analysis, spaces };
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
  prepared: Omit<Prepared, 'sensitivity'>,
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
    const lessFold = (key: string) => {
      const all = statistics.grams.get(key)!;
      const rest = { ...all, data: Float64Array.from(all.data) };
      addInPlace(rest, without.get(key)!, -1);
      return rest;
    };
    measured.push({ samples, decide: (space, keep) => interpolated(lessFold, space, keep, products) });
  }
  return measured;
}
