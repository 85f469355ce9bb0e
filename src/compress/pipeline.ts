import type { ModelProto } from 'onnx-buf';
import { type Dataset, batchSizeFor } from '../calibrate/dataset.ts';
import type { ConsumerProbe, Probe } from '../calibrate/instrument.ts';
import { type Progress, silentProgress } from '../calibrate/progress.ts';
import { collectCrossGrams, collectGrams, type PassOptions } from '../calibrate/statistics.ts';
import { IdpruneError } from '../errors.ts';
import { type Analysis, analyzeModel } from '../graph/analysis.ts';
import type { ChannelSpace, Consumer } from '../graph/types.ts';
import type { Matrix } from '../linalg/matrix.ts';
import { solveSymmetric } from '../linalg/solve.ts';
import { type FloatArray, tensorDims } from '../onnx/tensor.ts';
import { refitConvWeight } from './refit.ts';
import { encodeModel, setMetadata } from '../onnx/model.ts';
import type { Runtime } from '../onnx/runtime.ts';
import { allocateChannels, type Budget } from './allocate.ts';
import { interpolationMatrix } from './interpolation.ts';
import { spaceLevels } from './levels.ts';
import { type ChannelRanking, rankChannels } from './selection.ts';
import { applySurgery, type SpaceDecision } from './surgery.ts';

export type CorrectionMode = 'corrected' | 'plain';

export interface CompressOptions {
  budget: Budget;
  /** 'corrected' fits each consumer against the original activation given the pruned upstream. */
  mode?: CorrectionMode;
  roundTo?: number;
  minKeep?: number;
  skip?: string[];
  batchSize?: number;
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
  calibration: (analysis: Analysis) => Dataset,
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

  const analysis = await timed('analysis', () => analyzeModel(model, runtime, options.skip));
  const prunable = analysis.spaces.filter((s) => s.prunable);
  if (prunable.length === 0) {
    const reasons = analysis.spaces.map((s) => `  space ${s.id}: ${s.reason}`).join('\n');
    throw new IdpruneError(`the model has no prunable channel space${reasons ? ':\n' + reasons : ''}`);
  }
  const dataset = calibration(analysis);
  const pass: PassOptions = {
    runtime,
    dataset,
    inputs: analysis.inputs,
    batchSize: batchSizeFor(analysis.inputs, options.batchSize ?? 64),
    progress: options.progress ?? silentProgress,
  };

  const probes = readProbes(analysis, prunable);
  const grams = await timed('statistics', () => collectGrams(model, probes, { ...pass, label: 'statistics' }));
  const gramOf = new Map(probes.map((p, i) => [p.tensor, grams[i]]));

  const { rankings, kept } = await timed('selection', () => {
    const rankings = new Map<number, ChannelRanking>();
    for (const space of prunable) rankings.set(space.id, rankChannels(readTensors(space).map((t) => gramOf.get(t)!)));
    const kept = allocateChannels({
      spaces: new Map(prunable.map((s) => [s.id, { channels: s.channels, ranking: rankings.get(s.id)! }])),
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
    return { space, keep, interpolation: new Map(readTensors(space).map((t) => [t, interpolationMatrix(gramOf.get(t)!, keep)])) };
  };

  let passes = 1;
  let output: ModelProto;
  if ((options.mode ?? 'corrected') === 'plain') {
    const decisions = await timed('interpolation', () => toPrune.map(plainDecision));
    output = await timed('surgery', () => applySurgery(model, decisions));
  } else {
    // Level by level, each layer's correction is fitted on the network pruned so far. The first
    // level sees the original network upstream: its correction is the plain one.
    const levels = spaceLevels(analysis.index, toPrune);
    output = model;
    for (let l = 0; l < levels.length; l++) {
      const consumers = levels[l].flatMap((space) => space.consumers.map((consumer) => ({ space, consumer })));
      const consumerProbes = consumers.map(({ space, consumer }) => consumerProbe(analysis, space, consumer, keepOf(space), dataset.count));
      const label = `correction ${l + 1}/${levels.length}`;
      const current = output;
      const cross = await timed('correction', () => collectCrossGrams(model, current, consumerProbes, { ...pass, label }));
      passes++;
      const decisions = await timed('interpolation', () =>
        levels[l].map((space): SpaceDecision => {
          const keep = keepOf(space);
          const refits = new Map<number, FloatArray>();
          const interpolation = new Map<string, Matrix>();
          consumers.forEach(({ space: owner, consumer }, i) => {
            if (owner !== space) return;
            const conv = consumerProbes[i].conv;
            if (conv) {
              const [outputs, , ...kernel] = tensorDims(conv.weight);
              refits.set(consumer.node, refitConvWeight(outputs, kernel, keep.length, cross.pruned[i], cross.target[i], CORRECTION_RIDGE));
            } else {
              interpolation.set(consumer.reads, solveSymmetric(cross.pruned[i], cross.target[i], CORRECTION_RIDGE));
            }
          });
          return { space, keep, interpolation, refits };
        }),
      );
      output = await timed('surgery', () => applySurgery(current, decisions));
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

/** Small relative ridge of the corrected fits: guards rank deficiency, costs no accuracy. */
const CORRECTION_RIDGE = 1e-6;

const CONV_GEOMETRY = new Set(['strides', 'pads', 'dilations', 'auto_pad']);

/**
 * Rows of receptive-field statistics wanted per feature. Beyond this, output positions are sampled
 * on a grid: high-resolution layers would otherwise dominate the time. (Measured on the VGG and
 * ResNet fixtures, whose layers all stay below it: sampling down to 100 rows per feature cost
 * 0.1–0.3 points of agreement.)
 */
const ROWS_PER_FEATURE = 1000;

/** What a consumer reads of a space, as input features of its own (receptive field × channels). */
function consumerProbe(analysis: Analysis, space: ChannelSpace, consumer: Consumer, keep: number[], samples: number): ConsumerProbe {
  const node = analysis.index.nodes[consumer.node];
  const layout = space.tensors.find((t) => t.name === consumer.reads)!.layout;
  const probe: ConsumerProbe = { tensor: consumer.reads, layout, channels: space.channels, keep };
  if (node.opType === 'Conv') {
    const weightTensor = analysis.index.constants.get(node.input[consumer.weight.input])!;
    const weight = tensorDims(weightTensor);
    const spatial = analysis.shapes.get(node.output[0])!.slice(2);
    const features = space.channels * weight.slice(2).reduce((a, b) => a * b, 1);
    const positions = spatial.reduce((a, b) => a * b, 1);
    const step = Math.max(1, Math.floor(((samples * positions) / (ROWS_PER_FEATURE * features)) ** (1 / spatial.length)));
    probe.conv = {
      weight: weightTensor,
      attributes: node.attribute.filter((a) => CONV_GEOMETRY.has(a.name)),
      stride: spatial.map((size) => Math.min(step, size)),
    };
    probe.residual = residualOperand(analysis, consumer.node);
  }
  return probe;
}

/** The other operand when a node's output goes straight and only into an Add with another activation. */
function residualOperand(analysis: Analysis, node: number): string | undefined {
  const { index } = analysis;
  const output = index.nodes[node].output[0];
  const readers = index.consumers.get(output) ?? [];
  if (readers.length !== 1 || index.graphOutputs.has(output)) return undefined;
  const add = index.nodes[readers[0]];
  if (add.opType !== 'Add' || add.domain !== '' || add.input.length !== 2) return undefined;
  const other = add.input[0] === output ? add.input[1] : add.input[0];
  const sameShape = analysis.shapes.get(other)?.join() === analysis.shapes.get(output)?.join();
  return other !== output && !index.constants.has(other) && sameShape ? other : undefined;
}

function readProbes(analysis: Analysis, spaces: readonly ChannelSpace[]): Probe[] {
  return spaces.flatMap((space) =>
    readTensors(space).map((tensor) => ({
      tensor,
      layout: space.tensors.find((t) => t.name === tensor)!.layout,
      channels: space.channels,
      shape: analysis.shapes.get(tensor)!,
    })),
  );
}
