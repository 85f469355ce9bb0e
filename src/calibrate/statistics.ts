import { TensorProto_DataType, type ModelProto } from 'onnx-buf';
import { type Matrix, zeros } from '../linalg/matrix.ts';
import { encodeModel } from '../onnx/model.ts';
import type { ElementType, HostTensor, InferenceSession, Runtime } from '../onnx/runtime.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { batches, batchOf, type Dataset, usableCount } from './dataset.ts';
import { type ConsumerProbe, consumerCrossGramModel, exposeTensors, featureCount, gramModel, gramOutputName, type Probe, targetCount } from './instrument.ts';
import { type Progress, silentProgress } from './progress.ts';

export interface PassOptions {
  runtime: Runtime;
  dataset: Dataset;
  inputs: readonly InputSpec[];
  batchSize: number;
  progress?: Progress;
  label?: string;
}

function accumulate(target: Matrix, batch: HostTensor, minus?: HostTensor): void {
  const data = batch.data as Float64Array;
  const other = minus?.data as Float64Array | undefined;
  for (let i = 0; i < data.length; i++) target.data[i] += other ? data[i] - other[i] : data[i];
}

/**
 * One pass over the data: the Gram matrix ZᵀZ of every probed tensor, accumulated in float64.
 * Memory is one C × C matrix per probe, whatever the number of samples.
 */
export async function collectGrams(model: ModelProto, probes: readonly Probe[], options: PassOptions): Promise<Matrix[]> {
  const { runtime, dataset, inputs, batchSize } = options;
  const progress = options.progress ?? silentProgress;
  const grams = probes.map((p) => zeros(p.channels, p.channels));
  if (probes.length === 0) return grams;
  const session = await runtime.load(encodeModel(gramModel(model, probes)));
  try {
    progress.begin(options.label ?? 'statistics', usableCount(dataset, inputs, batchSize));
    let done = 0;
    for (const feeds of batches(dataset, inputs, batchSize)) {
      const out = await session.run(feeds);
      probes.forEach((_, i) => accumulate(grams[i], out[gramOutputName(i)]));
      done += batchOf(feeds, inputs);
      progress.advance(done);
    }
  } finally {
    progress.end();
    await session.release();
  }
  return grams;
}

export interface CrossGrams {
  /** PᵀP: the pruned network's consumer features (kept channels) with themselves. */
  pruned: Matrix[];
  /** PᵀY: against the fit's target from the original network, same samples (see consumerCrossGramModel). */
  target: Matrix[];
  /** Gemm / MatMul consumers at a residual block's end: PᵀD for the other operand's deviation D. */
  residual: (Matrix | undefined)[];
  /** Probes with `split`: PᵀP and PᵀY over the calibration samples of even index alone. */
  even: ({ pruned: Matrix; target: Matrix } | undefined)[];
}

const DATA_TYPES: Partial<Record<ElementType, TensorProto_DataType>> = {
  float32: TensorProto_DataType.FLOAT,
  float16: TensorProto_DataType.FLOAT16,
  float64: TensorProto_DataType.DOUBLE,
  int64: TensorProto_DataType.INT64,
  int32: TensorProto_DataType.INT32,
  bool: TensorProto_DataType.BOOL,
  uint8: TensorProto_DataType.UINT8,
};

/**
 * One pass running the original and the pruned network side by side on the same batches,
 * accumulating, for each consumer, the Gram matrix of its input features in the pruned network
 * and their products with the fit's target from the original (see consumerCrossGramModel).
 */
export async function collectCrossGrams(
  original: ModelProto,
  pruned: ModelProto,
  probes: readonly ConsumerProbe[],
  options: PassOptions,
): Promise<CrossGrams> {
  const { runtime, dataset, inputs, batchSize } = options;
  const progress = options.progress ?? silentProgress;
  const tensors = [...new Set(probes.flatMap((p) => (p.residual ? [p.tensor, p.residual] : [p.tensor])))];
  const mask = probes.find((p) => p.rowMask)?.rowMask;
  const result: CrossGrams = {
    pruned: probes.map((p) => zeros(featureCount(p, p.kept), featureCount(p, p.kept))),
    target: probes.map((p) => zeros(featureCount(p, p.kept), targetCount(p))),
    residual: probes.map((p) => (p.residual && !p.conv ? zeros(featureCount(p, p.kept), p.residualWidth!) : undefined)),
    even: probes.map((p) => (p.split ? { pruned: zeros(featureCount(p, p.kept), featureCount(p, p.kept)), target: zeros(featureCount(p, p.kept), targetCount(p)) } : undefined)),
  };
  const sessions: InferenceSession[] = [];
  const load = async (model: ModelProto) => {
    const session = await runtime.load(encodeModel(model));
    sessions.push(session);
    return session;
  };
  try {
    const originalSession = await load(exposeTensors(original, tensors));
    const prunedSession = await load(exposeTensors(pruned, tensors));
    let crossSession: InferenceSession | undefined;
    progress.begin(options.label ?? 'correction', usableCount(dataset, inputs, batchSize));
    let done = 0;
    for (const feeds of batches(dataset, inputs, batchSize)) {
      const o = await originalSession.run(feeds);
      const p = await prunedSession.run(feeds);
      if (!crossSession) {
        const types = probes.map((probe) => DATA_TYPES[o[probe.tensor].type] ?? TensorProto_DataType.FLOAT);
        crossSession = await load(consumerCrossGramModel(probes, types, mask ? DATA_TYPES[feeds[mask].type] : undefined));
      }
      const crossFeeds: Record<string, HostTensor> = mask ? { mask: feeds[mask] } : {};
      probes.forEach((probe, i) => {
        crossFeeds[`p${i}`] = p[probe.tensor];
        crossFeeds[`o${i}`] = o[probe.tensor];
        if (probe.residual) {
          crossFeeds[`rp${i}`] = p[probe.residual];
          crossFeeds[`ro${i}`] = o[probe.residual];
        }
      });
      const out = await crossSession.run(crossFeeds);
      probes.forEach((_, i) => {
        accumulate(result.pruned[i], out[`pp${i}`]);
        accumulate(result.target[i], out[`pt${i}`]);
        if (result.residual[i]) accumulate(result.residual[i]!, out[`pd${i}`]);
        const even = result.even[i];
        if (!even) return;
        // The batch's even samples are the data's even samples when it starts at an even index; else the others are.
        if (done % 2 === 0) {
          accumulate(even.pruned, out[`ppE${i}`]);
          accumulate(even.target, out[`ptE${i}`]);
        } else {
          accumulate(even.pruned, out[`pp${i}`], out[`ppE${i}`]);
          accumulate(even.target, out[`pt${i}`], out[`ptE${i}`]);
        }
      });
      done += batchOf(feeds, inputs);
      progress.advance(done);
    }
  } finally {
    progress.end();
    await Promise.all(sessions.map((s) => s.release()));
  }
  return result;
}
