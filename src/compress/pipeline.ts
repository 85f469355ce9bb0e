import type { ModelProto } from 'onnx-buf';
import { type Dataset, batchSizeFor, checkFillsBatch, sampleDims } from '../calibrate/dataset.ts';
import type { Probe } from '../calibrate/instrument.ts';
import { type Progress, silentProgress } from '../calibrate/progress.ts';
import { collectCrossGrams, collectGrams, type PassOptions } from '../calibrate/statistics.ts';
import { IdpruneError } from '../errors.ts';
import { type Analysis, analyzeModel } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import { encodeModel, setMetadata } from '../onnx/model.ts';
import type { Runtime } from '../onnx/runtime.ts';
import { type InputSpec, inputSpecs } from '../onnx/shapes.ts';
import { allocateChannels, type Budget } from './allocate.ts';
import { fitLevels, refittedWeights } from './correction.ts';
import { interpolationMatrix } from './interpolation.ts';
import { type ChannelRanking, rankChannels } from './selection.ts';
import { applySurgery, replaceWeights, type SpaceDecision } from './surgery.ts';
import { neuronCount, neuronLayout, neuronsOf } from './units.ts';

export type CorrectionMode = 'corrected' | 'plain';

export interface CompressOptions {
  budget: Budget;
  /**
   * 'corrected' (default) fits each consumer against the original network given the pruned
   * upstream, one pass over the data per depth level; 'plain' interpolates from the first pass.
   */
  mode?: CorrectionMode;
  roundTo?: number;
  minKeep?: number;
  skip?: string[];
  /** Leave coupled spaces (residual streams, gated branches) intact. */
  keepCoupled?: boolean;
  batchSize?: number;
  /** The input marking padding tokens with 0 (default: an input named attention_mask). */
  maskInput?: string;
  progress?: Progress;
  /** Recorded in the output model's metadata. */
  version?: string;
  date?: Date;
}

export interface SpaceOutcome {
  space: ChannelSpace;
  kept: number;
  /** Estimated relative error ‖Z − Z_S T‖_F / ‖Z‖_F on the calibration data (original network). */
  error: number;
  keep: number[];
}

export interface CompressResult {
  model: ModelProto;
  bytes: Uint8Array;
  analysis: Analysis;
  outcomes: SpaceOutcome[];
  calibrationSamples: number;
  passes: number;
  timings: Record<string, number>;
}

/** model + calibration data → channel spaces → statistics → selection → surgery → smaller model. */
export async function compressModel(
  model: ModelProto,
  calibration: (model: { inputs: InputSpec[] }) => Dataset,
  runtime: Runtime,
  options: CompressOptions,
): Promise<CompressResult> {
  const timings: Record<string, number> = {};
  const timed = async <T>(stage: string, work: () => Promise<T> | T): Promise<T> => {
    const start = performance.now();
    try {
      return await work();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + (performance.now() - start) / 1000;
    }
  };

  const dataset = calibration({ inputs: inputSpecs(model) });
  const analysis = await timed('analysis', () =>
    analyzeModel(model, runtime, { skip: options.skip, keepCoupled: options.keepCoupled, sampleDims: sampleDims(dataset) }),
  );
  const prunable = analysis.spaces.filter((s) => s.prunable);
  if (prunable.length === 0) {
    const shown = analysis.spaces.slice(0, 10).map((s) => `\n  space ${s.id}: ${s.reason}`).join('');
    const more = analysis.spaces.length > 10 ? `\n  … ${analysis.spaces.length - 10} more (idprune inspect lists them all)` : '';
    throw new IdpruneError(`the model has no prunable channel space${shown}${more}`);
  }
  const pass: PassOptions = {
    runtime,
    dataset,
    inputs: analysis.inputs,
    batchSize: batchSizeFor(analysis.inputs, options.batchSize ?? 64),
    progress: options.progress ?? silentProgress,
  };
  checkFillsBatch(dataset, analysis.inputs, pass.batchSize);

  const rowMask = paddingMask(analysis, options.maskInput);
  const probes = readProbes(analysis, prunable).map((p) => ({ ...p, rowMask: rowMask(p.tensor) }));
  const grams = await timed('statistics', () => collectGrams(model, probes, { ...pass, label: 'statistics' }));
  const gramByProbe = new Map(probes.map((p, i) => [probeKey(p.space, p.tensor), grams[i]]));
  const gramOf = (space: ChannelSpace, tensor: string) => gramByProbe.get(probeKey(space.id, tensor))!;

  const { rankings, kept } = await timed('selection', () => {
    const rankings = new Map<number, ChannelRanking>();
    for (const space of prunable) rankings.set(space.id, rankChannels(readTensors(space).map((t) => gramOf(space, t)), space.unit));
    const kept = allocateChannels({
      spaces: new Map(prunable.map((s) => [s.id, { channels: s.channels, ranking: rankings.get(s.id)!, readPoints: readTensors(s).length }])),
      flops: analysis.cost.flops,
      params: analysis.cost.params,
      budget: options.budget,
      roundTo: options.roundTo ?? 1,
      minKeep: options.minKeep ?? 1,
    });
    return { rankings, kept };
  });

  const toPrune = prunable.filter((s) => kept.get(s.id)! < s.channels);
  const keepOf = (space: ChannelSpace) => [...rankings.get(space.id)!.order.slice(0, kept.get(space.id)!)].sort((a, b) => a - b);
  const plainDecision = (space: ChannelSpace): SpaceDecision => {
    const keep = keepOf(space);
    return { space, keep, interpolation: new Map(readTensors(space).map((t) => [t, interpolationMatrix(gramOf(space, t), neuronsOf(keep, space.unit))])) };
  };

  let passes = 1;
  let output: ModelProto;
  if ((options.mode ?? 'corrected') === 'plain') {
    const decisions = await timed('interpolation', () => toPrune.map(plainDecision));
    output = await timed('surgery', () => applySurgery(model, decisions));
  } else {
    // Consumers are refitted level by level (see correction.ts), each replacing its weight as a
    // whole; a level's inputs depend only on earlier levels. Consumers that cannot be refitted keep
    // the plain interpolation.
    const dropped = toPrune.map(plainDecision);
    output = await timed('surgery', () => applySurgery(model, dropped));
    const writers = new Map(toPrune.flatMap((space) => space.producers.map((p) => [p, { space, keep: keepOf(space) }] as const)));
    const outputKeep = (node: number) => writers.get(node);
    const levels = fitLevels(analysis, toPrune, keepOf, outputKeep, dataset.count, rowMask);
    for (let l = 0; l < levels.length; l++) {
      const current = output;
      const label = `correction ${l + 1}/${levels.length}`;
      const stats = await timed('correction', () => collectCrossGrams(model, current, levels[l].map((f) => f.probe), { ...pass, label }));
      passes++;
      const weights = await timed('interpolation', () => refittedWeights(analysis, levels[l], stats, outputKeep));
      output = await timed('surgery', () => replaceWeights(current, weights));
    }
  }
  setMetadata(output, {
    'idprune.version': options.version ?? 'unknown',
    'idprune.target': describeBudget(options.budget),
    'idprune.mode': options.mode ?? 'corrected',
    'idprune.date': (options.date ?? new Date()).toISOString(),
    'idprune.calibration_samples': String(dataset.count),
  });

  const outcomes = prunable.map((space) => {
    const k = kept.get(space.id)!;
    const ranking = rankings.get(space.id)!;
    return { space, kept: k, error: Math.sqrt(ranking.relativeError[k]), keep: k < space.channels ? keepOf(space) : [] };
  });
  return { model: output, bytes: encodeModel(output), analysis, outcomes, calibrationSamples: dataset.count, passes, timings };
}

export function describeBudget(budget: Budget): string {
  return budget.kind === 'tolerance' ? `tolerance=${budget.error}` : `${budget.kind}=${budget.fraction}`;
}

/** The distinct tensors a space's consumers read: one interpolation each. */
export function readTensors(space: ChannelSpace): string[] {
  return [...new Set(space.consumers.map((c) => c.reads))];
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
  const input = analysis.inputs.find((i) => (name ? i.name === name : i.name === 'attention_mask' && i.dims.length === 2));
  if (name && !input) throw new IdpruneError(`--mask-input: the model has no input "${name}"`);
  const tokens = input && analysis.shapes.get(input.name);
  if (!input || !tokens || tokens.length !== 2) return () => undefined;
  return (tensor) => {
    const shape = analysis.shapes.get(tensor);
    return shape && shape.length === 3 && shape[1] === tokens[1] ? input.name : undefined;
  };
}

function readProbes(analysis: Analysis, spaces: readonly ChannelSpace[]): (Probe & { space: number })[] {
  return spaces.flatMap((space) =>
    readTensors(space).map((tensor) => ({
      space: space.id,
      tensor,
      layout: neuronLayout(space.tensors.find((t) => t.name === tensor)!.layout, space.unit),
      channels: neuronCount(space),
      shape: analysis.shapes.get(tensor)!,
    })),
  );
}
