import { type ConsumerProbe, featureCount } from '../calibrate/instrument.ts';
import type { CrossGrams, Fold } from '../calibrate/gram-passes.ts';
import type { Analysis } from '../graph/analysis.ts';
import type { ChannelSpace, Consumer } from '../graph/types.ts';
import { type Matrix, transpose, zeros } from '../linalg/matrix.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { solveSymmetricWith } from '../linalg/solve.ts';
import type { GraphIndex } from '../onnx/graph-index.ts';
import { defaultOpset } from '../onnx/opset.ts';
import { type FloatArray, readFloatTensor, tensorDims } from '../onnx/tensor.ts';
import type { WeightReplacement } from './surgery.ts';
import { mixChannels, sliceChannels } from './tensor-ops.ts';
import { neuronCount, neuronLayout } from './units.ts';

/*
 * Error correction. Starting from the pruned network with plain interpolations, consumers are
 * refitted in topological order, each on the network whose upstream consumers are already
 * refitted, against the original network on the same samples. A Conv consumer is refitted over
 * the receptive-field features of its kept input channels to reproduce the original layer's output
 * (and, at a residual block's end, to make up for the other operand's deviation); a Gemm or MatMul
 * consumer gets a channel interpolation T = argmin ‖O − P T‖ folded into its original weight, plus,
 * at a residual block's end, the fit of the other operand's deviation.
 */

/** Small relative ridge of the fits: guards rank deficiency, costs no accuracy. */
const RIDGE = 1e-6;

/**
 * A refit is drawn toward the plain solution W0 (the plain interpolation's Conv weight, or channel
 * interpolation for a Gemm / MatMul): min ‖Y − P W‖² + λ‖W − W0‖², λ = α · features · (mean
 * diagonal of PᵀP) / rows, as if W0 were backed by α rows per feature. With ample data that pull
 * is negligible (α = 1 by default). Where rows are scarce (fewer than SPLIT_ROWS_PER_FEATURE per
 * feature) α is chosen from PRIOR_STRENGTHS (∞: W0 itself) by fitting on the calibration
 * samples of even index and measuring on those of odd index.
 */
const DEFAULT_PRIOR_STRENGTH = 1;
const PRIOR_STRENGTHS = [0, 0.1, 0.3, 1, 3, 10, 30, 100, 1000, Infinity];
const SPLIT_ROWS_PER_FEATURE = 100;

const CONV_GEOMETRY = new Set(['strides', 'pads', 'dilations', 'auto_pad']);

/**
 * Rows of receptive-field statistics wanted per feature. Beyond this, output positions are sampled
 * on a grid: high-resolution layers would otherwise dominate the time. (On the VGG and ResNet
 * fixtures, sampling down to 100 rows per feature cost 0.1–0.3 points of agreement.)
 */
const ROWS_PER_FEATURE = 1000;

/**
 * Bytes of one batch of a fit's features (rows × features, float32) a correction pass may make.
 * ONNX Runtime holds a Conv consumer's receptive-field features several times over (patches, rows,
 * column blocks): at batches of 64, ResNet-50's first stage (224 × 224) grew a pass by over a
 * gigabyte. With this bound (batches of 14 there) its peak fell from 3.6 to 2.9 GB, for a correction
 * 16% longer (more, smaller runs); the fixtures' batches stay at 64.
 */
const FIT_BATCH_BYTES = 64 * 2 ** 20;

/**
 * The correction passes' batch size: `batchSize`, or fewer samples where a batch of some fit's features would pass
 * FIT_BATCH_BYTES.
 */
export function correctionBatchSize(levels: readonly ConsumerFit[][], batchSize: number): number {
  const fits = levels.flat();
  if (fits.length === 0) return batchSize;
  const perSample = Math.max(...fits.map(({ probe }) => probe.rowsPerSample * featureCount(probe, probe.kept) * 4));
  return Math.max(1, Math.min(batchSize, Math.floor(FIT_BATCH_BYTES / perSample)));
}

export interface ConsumerFit {
  space: ChannelSpace;
  consumer: Consumer;
  probe: ConsumerProbe;
  /** Rows of the fit's statistics: samples × sampled output positions of a Conv, or tokens / flattened positions. */
  rows: number;
}

/** The pruned spaces' decisions as seen from one node: what it keeps of the space it writes. */
export type OutputKeep = (node: number) => { space: ChannelSpace; keep: number[] } | undefined;

/** What the decisions say, as the refits read them. */
export interface Choices {
  /** The channels a space keeps (all of them for a space kept whole). */
  keepOf(space: ChannelSpace): number[];
  outputKeep: OutputKeep;
  /** A read tensor's plain interpolation: what its refit is drawn toward where data is scarce. */
  plainInterpolation(space: ChannelSpace, tensor: string): Matrix;
}

/**
 * Every consumer of the pruned spaces, grouped by depth: a consumer's level counts the consumers
 * on its longest path from the inputs, so each level's inputs depend only on earlier levels.
 */
export function fitLevels(
  analysis: Analysis,
  spaces: readonly ChannelSpace[],
  { keepOf, outputKeep }: Choices,
  samples: number,
  rowMask: (tensor: string) => string | undefined = () => undefined,
): ConsumerFit[][] {
  const opset = defaultOpset(analysis.model);
  const fits = spaces.flatMap((space) =>
    space.consumers
      // A consumer of an unprunable space that also writes a pruned one (a packed Q/K/V projection
      // writes several) keeps its plain interpolation.
      .filter((consumer) => canRefit(analysis, space, consumer) && (space.prunable || !outputKeep(consumer.node)))
      .map((consumer) => {
        const base = probeOf(analysis, space, consumer, keepOf(space).length, outputKeep, samples);
        const probe: ConsumerProbe = { ...base, rowsPerSample: sampledPositions(analysis, consumer, base) };
        if (!probe.conv) probe.rowMask = rowMask(consumer.reads);
        const rows = samples * probe.rowsPerSample;
        // Padded token rows are masked by a model input that the even fold would not follow.
        // (The even samples are a strided Slice, which needs opset 10.)
        if (
          !probe.rowMask &&
          samples >= 4 &&
          opset >= 10 &&
          rows < SPLIT_ROWS_PER_FEATURE * featureCount(probe, probe.kept)
        )
          probe.split = true;
        return { space, consumer, probe, rows };
      }),
  );
  const level = consumerDepths(analysis.index, new Set(fits.map((f) => f.consumer.node)));
  const levels: ConsumerFit[][] = [];
  for (const fit of fits) {
    const depth = level.get(fit.consumer.node)!;
    levels[depth] ??= [];
    levels[depth].push(fit);
  }
  return levels.filter(Boolean);
}

/**
 * A Conv is refitted over its receptive fields, a Gemm or MatMul over the features on the last axis,
 * when the tensor it reads holds the space's channels alone (not beside others after a Concat).
 */
function canRefit(analysis: Analysis, space: ChannelSpace, consumer: Consumer): boolean {
  const layout = space.tensors.find((t) => t.name === consumer.reads)!.layout;
  const shape = analysis.shapes.get(consumer.reads)!;
  if ((layout.offset ?? 0) > 0 || shape[layout.axis] !== space.channels * layout.block) return false;
  const op = analysis.index.nodes[consumer.node].opType;
  return (
    (op === 'Conv' && space.unit === 1) || ((op === 'Gemm' || op === 'MatMul') && layout.axis === shape.length - 1)
  );
}

function consumerDepths(index: GraphIndex, consumers: ReadonlySet<number>): Map<number, number> {
  const tensorDepth = new Map<string, number>();
  const level = new Map<number, number>();
  index.nodes.forEach((node, i) => {
    const depth = Math.max(0, ...node.input.map((t) => tensorDepth.get(t) ?? 0));
    if (consumers.has(i)) level.set(i, depth);
    for (const out of node.output) tensorDepth.set(out, consumers.has(i) ? depth + 1 : depth);
  });
  return level;
}

/** Rows per sample of a fit: sampled output positions of a Conv, tokens or flattened positions for a Gemm / MatMul. */
function sampledPositions(analysis: Analysis, consumer: Consumer, probe: Omit<ConsumerProbe, 'rowsPerSample'>): number {
  if (!probe.conv) return analysis.shapes.get(consumer.reads)!.reduce((a, b) => a * b, 1) / probe.channels;
  const spatial = analysis.shapes.get(analysis.index.nodes[consumer.node].output[0])!.slice(2);
  return spatial.reduce((a, size, i) => a * Math.ceil(size / probe.conv!.stride[i]), 1);
}

/**
 * New weights for the consumers of one level, from the statistics of its correction pass.
 * `current` is the network the statistics were taken on, holding the plain interpolation's weights.
 */
export async function refittedWeights(
  analysis: Analysis,
  fits: readonly ConsumerFit[],
  stats: CrossGrams,
  { outputKeep, plainInterpolation }: Choices,
  current: GraphIndex,
  products: MatrixProducts,
  starts: StrengthStarts = new Map(),
): Promise<WeightReplacement[]> {
  const weights: WeightReplacement[] = [];
  for (const [i, { space, consumer, probe, rows }] of fits.entries())
    weights.push(await refitted(i, space, consumer, probe, rows));
  return weights;

  async function refitted(
    i: number,
    space: ChannelSpace,
    consumer: Consumer,
    probe: ConsumerProbe,
    rows: number,
  ): Promise<WeightReplacement> {
    const input = consumer.weight.input;
    const all = { pruned: stats.pruned[i], target: stats.target[i] };
    if (probe.conv) {
      const [outputs, , ...kernel] = tensorDims(probe.conv.weight);
      const written = probe.conv.outputKeep?.length ?? outputs;
      // The plain weight [outputs, features], as the fit's [features, outputs].
      const plain = transpose({
        rows: written,
        cols: all.pruned.rows,
        data: readFloatTensor(current.constants.get(current.nodes[consumer.node].input[input])!).data,
      });
      const solved = await fitToward(
        products,
        all,
        plain,
        await priorStrength(products, stats.folds[i], plain, rows, starts),
        rows,
      );
      return {
        node: consumer.node,
        input,
        value: { dims: [written, probe.kept, ...kernel], data: transpose(solved).data },
      };
    }
    const plain = plainInterpolation(space, consumer.reads);
    const strength = await priorStrength(products, stats.folds[i], plain, rows, starts);
    // The residual operand's deviation is fitted in the same solve (its prior: no correction).
    const deviation = stats.residual[i];
    const solved = deviation
      ? await fitToward(
          products,
          { pruned: all.pruned, target: besideColumns(all.target, deviation) },
          besideColumns(plain, zeros(deviation.rows, deviation.cols)),
          strength,
          rows,
        )
      : await fitToward(products, all, plain, strength, rows);
    const original = readFloatTensor(analysis.index.constants.get(analysis.index.nodes[consumer.node].input[input])!);
    let value: FloatArray = await mixChannels(
      original,
      { ...neuronLayout(consumer.weight, space.unit), channels: neuronCount(space) },
      columnsOf(solved, 0, plain.cols),
      products,
    );
    if (deviation) addResidualFit(value, consumer.weight.axis, columnsOf(solved, plain.cols, solved.cols));
    const written = outputKeep(consumer.node);
    const slice = written?.space.slices.find((s) => s.node === consumer.node && s.input === input);
    if (written && slice) value = sliceChannels(value, { ...slice, channels: written.space.channels }, written.keep);
    return { node: consumer.node, input, value };
  }
}

/**
 * The fit drawn toward the plain solution W0 ([features, outputs]) with prior strength α:
 * (PᵀP + λI) W = PᵀY + λ W0, λ = α · features · mean diagonal / rows; W0 itself for α = ∞.
 */
async function fitToward(
  products: MatrixProducts,
  fold: Fold,
  prior: Matrix,
  strength: number,
  rows: number,
): Promise<Matrix> {
  if (strength === Infinity) return prior;
  const { pruned: gram, target } = fold;
  const n = gram.rows;
  let meanDiagonal = 0;
  for (let i = 0; i < n; i++) meanDiagonal += gram.data[i * n + i] / n;
  const lambda = (strength * n * meanDiagonal) / rows;
  const a = { ...gram, data: Float64Array.from(gram.data) };
  const b = { ...target, data: target.data.map((v, i) => v + lambda * prior.data[i]) };
  for (let f = 0; f < n; f++) a.data[f * n + f] += lambda;
  return solveSymmetricWith(products, a, b, RIDGE);
}

/**
 * Where the search for a fit's prior strength starts: the grid index last chosen for a fit with about
 * as many rows per feature (the same power of two, else the nearest power of two seen), which tends
 * to choose the same. Kept across a run's levels.
 */
export type StrengthStarts = Map<number, number>;

function startOf(starts: StrengthStarts, kind: number): number {
  let nearest: number | undefined;
  for (const k of starts.keys())
    if (nearest === undefined || Math.abs(k - kind) < Math.abs(nearest - kind)) nearest = k;
  return nearest === undefined ? PRIOR_STRENGTHS.indexOf(DEFAULT_PRIOR_STRENGTH) : starts.get(nearest)!;
}

/**
 * The prior strength: fitted on the even samples and validated on the odd ones where the fit was
 * split, else the default. The held-out error is close to unimodal along the grid, so the search
 * walks from its start (see StrengthStarts) toward lower error and stops where it rises: three of
 * the grid's fits where the start was right, instead of all.
 */
async function priorStrength(
  products: MatrixProducts,
  folds: { even: Fold; odd: Fold } | undefined,
  prior: Matrix,
  rows: number,
  starts: StrengthStarts,
): Promise<number> {
  if (!folds) return DEFAULT_PRIOR_STRENGTH;
  const kind = Math.round(Math.log2(rows / prior.rows));
  // A strength is judged on a sample of the outputs: the solves and errors then cost a fraction
  // of the full fit's, where every output would tell the same.
  const columns = sampleColumns(prior.cols, VALIDATION_OUTPUTS);
  const evenFold = { pruned: folds.even.pruned, target: pickColumns(folds.even.target, columns) };
  const oddFold = { pruned: folds.odd.pruned, target: pickColumns(folds.odd.target, columns) };
  const priorSample = pickColumns(prior, columns);
  const errors = new Map<number, number>();
  // Fitted on the even samples, measured on the odd ones. (Both ways, as before, chose the same
  // strengths on every fixture at 0.3–0.7 FLOPs, for twice the factorisations.)
  const errorAt = async (i: number) => {
    if (!errors.has(i))
      errors.set(
        i,
        await heldOutError(
          products,
          await fitToward(products, evenFold, priorSample, PRIOR_STRENGTHS[i], rows / 2),
          oddFold,
        ),
      );
    return errors.get(i)!;
  };
  let best = startOf(starts, kind);
  for (const step of [-1, 1]) {
    while (
      best + step >= 0 &&
      best + step < PRIOR_STRENGTHS.length &&
      (await errorAt(best + step)) < (await errorAt(best))
    )
      best += step;
  }
  starts.set(kind, best);
  return PRIOR_STRENGTHS[best];
}

/** Outputs a prior strength is validated on, at most. */
const VALIDATION_OUTPUTS = 64;

/** Up to `count` of `n` column indices, evenly spread. */
function sampleColumns(n: number, count: number): number[] {
  const step = Math.max(1, n / count);
  return Array.from({ length: Math.min(n, count) }, (_, i) => Math.floor(i * step));
}

/** [a b]: the columns of a, then those of b. */
function besideColumns(a: Matrix, b: Matrix): Matrix {
  const out = zeros(a.rows, a.cols + b.cols);
  for (let r = 0; r < a.rows; r++) {
    out.data.set(a.data.subarray(r * a.cols, (r + 1) * a.cols), r * out.cols);
    out.data.set(b.data.subarray(r * b.cols, (r + 1) * b.cols), r * out.cols + a.cols);
  }
  return out;
}

/** Columns [from, to) of m. */
function columnsOf(m: Matrix, from: number, to: number): Matrix {
  if (from === 0 && to === m.cols) return m;
  const out = zeros(m.rows, to - from);
  for (let r = 0; r < m.rows; r++) out.data.set(m.data.subarray(r * m.cols + from, r * m.cols + to), r * out.cols);
  return out;
}

function pickColumns(m: Matrix, columns: readonly number[]): Matrix {
  if (columns.length === m.cols) return m;
  const out = zeros(m.rows, columns.length);
  for (let r = 0; r < m.rows; r++)
    columns.forEach((c, j) => {
      out.data[r * columns.length + j] = m.data[r * m.cols + c];
    });
  return out;
}

/** ‖Y − P W‖² on a fold, less its constant ‖Y‖²: tr(Wᵀ PᵀP W) − 2 tr(Wᵀ PᵀY). */
async function heldOutError(products: MatrixProducts, w: Matrix, fold: Fold): Promise<number> {
  const gw = await products.multiply(fold.pruned, w);
  let error = 0;
  for (let i = 0; i < w.data.length; i++) error += w.data[i] * (gw.data[i] - 2 * fold.target.data[i]);
  return error;
}

function probeOf(
  analysis: Analysis,
  space: ChannelSpace,
  consumer: Consumer,
  kept: number,
  outputKeep: OutputKeep,
  samples: number,
): Omit<ConsumerProbe, 'rowsPerSample'> {
  const node = analysis.index.nodes[consumer.node];
  const layout = neuronLayout(space.tensors.find((t) => t.name === consumer.reads)!.layout, space.unit);
  const probe: Omit<ConsumerProbe, 'rowsPerSample'> = {
    tensor: consumer.reads,
    layout,
    channels: neuronCount(space),
    kept: kept * space.unit,
  };
  if (node.opType !== 'Conv') {
    // Block-output matching for a 2-D weight read one token per row, its outputs kept whole.
    const weight = tensorDims(analysis.index.constants.get(node.input[consumer.weight.input])!);
    const residual = residualOperand(analysis, consumer.node);
    if (residual && weight.length === 2 && layout.block === 1 && !outputKeep(consumer.node)) {
      probe.residual = residual;
      probe.residualWidth = weight[1 - consumer.weight.axis];
    }
    return probe;
  }
  const weight = analysis.index.constants.get(node.input[consumer.weight.input])!;
  const kernel = tensorDims(weight).slice(2);
  const spatial = analysis.shapes.get(node.output[0])!.slice(2);
  const features = space.channels * kernel.reduce((a, b) => a * b, 1);
  const positions = spatial.reduce((a, b) => a * b, 1);
  const step = Math.max(1, Math.floor(((samples * positions) / (ROWS_PER_FEATURE * features)) ** (1 / spatial.length)));
  probe.conv = {
    weight,
    attributes: node.attribute.filter((a) => CONV_GEOMETRY.has(a.name)),
    spatial,
    stride: spatial.map((size) => Math.min(step, size)),
    outputKeep: outputKeep(consumer.node)?.keep,
  };
  probe.residual = residualOperand(analysis, consumer.node);
  return probe;
}

/**
 * The other operand when a node's output goes, alone and past any bias Adds, into an Add with
 * another activation of the same shape (a residual block's end).
 */
function residualOperand(analysis: Analysis, node: number): string | undefined {
  const { index } = analysis;
  let output = index.nodes[node].output[0];
  for (;;) {
    const readers = index.consumers.get(output) ?? [];
    if (readers.length !== 1 || index.graphOutputs.has(output)) return undefined;
    const add = index.nodes[readers[0]];
    if (add.opType !== 'Add' || add.domain !== '' || add.input.length !== 2) return undefined;
    const other = add.input[0] === output ? add.input[1] : add.input[0];
    if (index.constants.has(other)) {
      output = add.output[0]; // a bias
      continue;
    }
    const sameShape = analysis.shapes.get(other)?.join() === analysis.shapes.get(output)?.join();
    return other !== output && sameShape ? other : undefined;
  }
}

/**
 * Adds S = (PᵀP)⁻¹ PᵀD, the fit of the residual operand's deviation (kept inputs × outputs), to a
 * 2-D weight whose inputs lie on `axis`.
 */
function addResidualFit(weight: FloatArray, axis: number, s: { rows: number; cols: number; data: Float64Array }): void {
  const cols = weight.dims[1];
  for (let k = 0; k < s.rows; k++) {
    for (let n = 0; n < s.cols; n++) weight.data[axis === 0 ? k * cols + n : n * cols + k] += s.data[k * s.cols + n];
  }
}
