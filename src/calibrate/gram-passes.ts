import type { ModelProto } from 'onnx-buf';
import { addInPlace, type Matrix, zeros } from '../linalg/matrix.ts';
import { encodeModel } from '../onnx/model.ts';
import type { HostTensor, Runtime } from '../onnx/runtime.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { batches, batchOf, batchRanges, type Dataset, sliceFeeds, usableCount } from './dataset.ts';
import {
  type ConsumerProbe,
  crossGramGraph,
  crossOutput,
  featureCount,
  gramBlockOutput,
  gramBlocks,
  gramModel,
  gramOutputName,
  type Probe,
  targetCount,
} from './instrument.ts';
import { type Progress, silentProgress } from '../progress.ts';
import { SegmentCutter } from './segments.ts';

export interface PassOptions {
  runtime: Runtime;
  dataset: Dataset;
  inputs: readonly InputSpec[];
  batchSize: number;
  progress?: Progress;
  label?: string;
  /** Whether the passes' sessions use the runtime's memory arena (see LoadOptions.memoryArena). */
  memoryArena?: boolean;
}

function accumulate(target: Matrix, batch: HostTensor): void {
  const data = batch.data as Float32Array;
  const sum = target.data;
  for (let i = 0; i < data.length; i++) sum[i] += data[i];
}

/**
 * Adds a Gram product's blocks on and above the diagonal (see gramBlocks) to `target`, row by row.
 * The blocks below are left to mirrorGram, once all batches are in.
 */
function accumulateGram(target: Matrix, out: Record<string, HostTensor>, name: string): void {
  const n = target.cols;
  const sum = target.data;
  const blocks = gramBlocks(n);
  blocks.forEach((a, i) => {
    for (let j = i; j < blocks.length; j++) {
      const b = blocks[j];
      const data = out[gramBlockOutput(name, i, j)].data as Float32Array;
      for (let r = 0; r < a.width; r++) {
        const from = r * b.width;
        const to = (a.from + r) * n + b.from;
        for (let c = 0; c < b.width; c++) sum[to + c] += data[from + c];
      }
    }
  });
}

/** Fills a Gram matrix's blocks below the diagonal from those above (see accumulateGram). */
function mirrorGram(target: Matrix): void {
  const n = target.cols;
  const blocks = gramBlocks(n);
  if (blocks.length === 1) return;
  for (const block of blocks) {
    for (let r = block.from; r < block.from + block.width; r++) {
      for (let c = 0; c < block.from; c++) target.data[r * n + c] = target.data[c * n + r];
    }
  }
}

/**
 * One pass over the data: the Gram matrix ZᵀZ of every probed tensor, accumulated in float64.
 * Memory is one C × C matrix per probe, whatever the number of samples.
 */
export async function collectGrams(
  model: ModelProto,
  probes: readonly Probe[],
  options: PassOptions,
): Promise<Matrix[]> {
  const { runtime, dataset, inputs, batchSize } = options;
  const progress = options.progress ?? silentProgress;
  const grams = probes.map((p) => zeros(p.channels, p.channels));
  if (probes.length === 0) return grams;
  const session = await runtime.load(encodeModel(gramModel(model, probes)), { memoryArena: options.memoryArena });
  try {
    progress.begin(options.label ?? 'statistics', usableCount(dataset, inputs, batchSize));
    let done = 0;
    for (const feeds of batches(dataset, inputs, batchSize)) {
      const out = await session.run(feeds);
      probes.forEach((_, i) => {
        accumulateGram(grams[i], out, gramOutputName(i));
      });
      done += batchOf(feeds, inputs);
      progress.advance(done);
    }
  } finally {
    progress.end();
    await session.release();
  }
  grams.forEach(mirrorGram);
  return grams;
}

export interface CrossGrams {
  /** PᵀP: the pruned network's consumer features (kept channels) with themselves. */
  pruned: Matrix[];
  /** PᵀY: against the fit's target from the original network, same samples (see crossGramGraph). */
  target: Matrix[];
  /** Gemm / MatMul consumers at a residual block's end: PᵀD for the other operand's deviation D. */
  residual: (Matrix | undefined)[];
  /**
   * Probes with `split`: PᵀP and PᵀY over the calibration samples of even and of odd index (pruned and target are
   * their sums).
   */
  folds: ({ even: Fold; odd: Fold } | undefined)[];
}

/** PᵀP and PᵀY over part of the calibration samples. */
export interface Fold {
  pruned: Matrix;
  target: Matrix;
}

/**
 * One pass running the original and the pruned network side by side on the same batches (one
 * session, see crossGramGraph), accumulating for each consumer the Gram matrix of its input
 * features in the pruned network and their products with the fit's target from the original.
 */
export async function collectCrossGrams(
  original: ModelProto,
  pruned: ModelProto,
  probes: readonly ConsumerProbe[],
  options: PassOptions,
): Promise<CrossGrams> {
  return new CrossGramPasses(original, options).next(pruned, probes, { last: true });
}

/**
 * Cross-Gram passes over networks that grow pass by pass — the correction's depth levels, each
 * fitted on the network whose earlier levels are refitted. Each pass runs only what earlier
 * passes did not (see segments.ts), from the tensors they left in a cache (held in memory, for
 * every batch of the data).
 */
export class CrossGramPasses {
  private readonly cutter = new SegmentCutter();
  /** Per batch, the cached tensors. */
  private cache: Record<string, HostTensor>[] = [];
  /** Tensors of the pruned network written by nodes whose weights changed since the last pass. */
  private changed: string[] = [];

  constructor(
    private readonly original: ModelProto,
    private readonly options: PassOptions,
  ) {}

  async next(
    pruned: ModelProto,
    probes: readonly ConsumerProbe[],
    { label, last = false }: { label?: string; last?: boolean } = {},
  ): Promise<CrossGrams> {
    const { runtime, dataset, inputs, batchSize } = this.options;
    const progress = this.options.progress ?? silentProgress;
    const features = (p: ConsumerProbe) => featureCount(p, p.kept);
    const result: CrossGrams = {
      pruned: probes.map((p) => zeros(features(p), features(p))),
      target: probes.map((p) => zeros(features(p), targetCount(p))),
      residual: probes.map((p) => (p.residual && !p.conv ? zeros(features(p), p.residualWidth!) : undefined)),
      folds: probes.map((p) => {
        if (!p.split) return undefined;
        const fold = () => ({ pruned: zeros(features(p), features(p)), target: zeros(features(p), targetCount(p)) });
        return { even: fold(), odd: fold() };
      }),
    };
    const { model, networkNodes, variantName } = crossGramGraph(this.original, pruned, probes);
    this.cutter.forget(model, this.changed.map(variantName));
    this.changed = [];
    const segment = this.cutter.cut(model, networkNodes, new Set(inputs.map((i) => i.name)), last);
    const session = await runtime.load(encodeModel(segment.model), { memoryArena: this.options.memoryArena });
    const cache: Record<string, HostTensor>[] = [];
    try {
      progress.begin(label ?? 'correction', usableCount(dataset, inputs, batchSize));
      let done = 0;
      let b = 0;
      // Later segments read only the cache: the data is read for the inputs a segment reads.
      const dataInputs = inputs.filter((input) => segment.data.includes(input.name));
      for (const { start, size } of batchRanges(dataset, inputs, batchSize)) {
        const feeds: Record<string, HostTensor> =
          dataInputs.length > 0 ? sliceFeeds(dataset, dataInputs, start, size) : {};
        for (const name of segment.cached) feeds[name] = this.cache[b][name];
        const out = await session.run(feeds);
        accumulateProducts(result, out, done);
        cache.push(Object.fromEntries(segment.frontier.map((name) => [name, out[name] ?? this.cache[b][name]])));
        // The batch's old cache entries are not read again: freed now, the cache is held once, not twice.
        if (this.cache[b]) this.cache[b] = {};
        done += size;
        b++;
        progress.advance(done);
      }
    } finally {
      progress.end();
      await session.release();
    }
    this.cache = cache;
    result.folds.forEach((folds, i) => {
      if (!folds) return;
      for (const fold of [folds.even, folds.odd]) {
        addInPlace(result.pruned[i], fold.pruned);
        addInPlace(result.target[i], fold.target);
      }
    });
    for (const gram of [
      ...result.pruned,
      ...result.folds.flatMap((folds) => (folds ? [folds.even.pruned, folds.odd.pruned] : [])),
    ])
      mirrorGram(gram);
    this.cutter.cache(new Map(segment.frontier.map((name) => [name, cache[0][name].type])));
    return result;
  }

  /**
   * The nodes writing these tensors (in the pruned network) got new weights: what was cached from them is recomputed.
   */
  weightsChanged(outputs: readonly string[]): void {
    this.changed.push(...outputs);
  }
}

function accumulateProducts(result: CrossGrams, out: Record<string, HostTensor>, done: number): void {
  result.pruned.forEach((_, i) => {
    if (result.residual[i]) accumulate(result.residual[i]!, out[crossOutput('pd', i)]);
    const folds = result.folds[i];
    if (!folds) {
      accumulateGram(result.pruned[i], out, crossOutput('pp', i));
      accumulate(result.target[i], out[crossOutput('pt', i)]);
      return;
    }
    // The batch's even samples are the data's even samples when it starts at an even index; else its odd ones are.
    const [even, odd] = done % 2 === 0 ? (['E', 'O'] as const) : (['O', 'E'] as const);
    for (const [fold, name] of [
      [folds.even, even],
      [folds.odd, odd],
    ] as const) {
      accumulateGram(fold.pruned, out, crossOutput(`pp${name}`, i));
      accumulate(fold.target, out[crossOutput(`pt${name}`, i)]);
    }
  });
}
