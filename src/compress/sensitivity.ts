import { create } from '@bufbuild/protobuf';
import { type ModelProto, ValueInfoProtoSchema } from 'onnx-buf';
import { batches, samplesOf } from '../calibrate/dataset.ts';
import { dropUnusedNodes } from '../calibrate/instrument.ts';
import type { PassOptions } from '../calibrate/gram-passes.ts';
import type { ChannelSpace } from '../graph/types.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { encodeModel } from '../onnx/model.ts';
import { sideBySide } from '../onnx/side-by-side.ts';
import { floatValues, type HostTensor } from '../onnx/runtime.ts';
import { decisionMargins, marginError, type OutputKind } from './output-error.ts';
import type { ChannelRanking } from './selection.ts';
import { applySurgery, type SpaceDecision } from './surgery.ts';

/*
 * How much pruning a space disturbs the model's outputs. A space's reconstruction error
 * ‖Z − Z_S T‖ / ‖Z‖ says how well its own activation is kept, not what that costs downstream: a
 * wide layer just before pooling tolerates errors that a narrow residual stream near the input
 * does not. So each space is pruned alone (plain interpolation, original network elsewhere) to a
 * few sizes, on a subset of the calibration data, and the error of the model's outputs is measured
 * in the units of each output (output-error.ts). Between the measured sizes the curve follows the
 * space's own error curve; below the smallest (a 25th of the channels) it grows at least as 1/k.
 *
 * The errors are held out: the measured samples are split into two folds, and each fold is
 * measured with interpolations fitted on the calibration data without it. An interpolation fitted
 * on the samples it is judged on looks better than it is, and most where samples are few: a layer
 * of 256 neurons fitted on 150 rows reconstructs those rows exactly from any 150 channels.
 */

/**
 * Kept fractions measured per space. The smallest matters at strong targets: measured down to a
 * tenth only, Silero VAD (opset 18) at 0.5 FLOPs had a 128-channel space cut to a few channels
 * by the extrapolation below it, 50.1% agreement; measured to a 25th, 92.9%.
 */
const FRACTIONS = [0.75, 0.5, 0.25, 0.1, 0.04];

/**
 * Calibration samples used for the measurements: at most 256, and no more than keeps their cost
 * near MEASUREMENT_PASSES passes over the calibration data (each size of each space runs the
 * layers after the space, about half the network), but at least 16.
 */
const MAX_SAMPLES = 256;
const MIN_SAMPLES = 16;
const MEASUREMENT_PASSES = 2;

function measurementSamples(calibrationSamples: number, spaces: number): number {
  const affordable = Math.round((MEASUREMENT_PASSES * calibrationSamples) / (spaces * FRACTIONS.length * 0.5));
  return Math.min(calibrationSamples, MAX_SAMPLES, Math.max(MIN_SAMPLES, affordable));
}

/**
 * The samples measured, as folds: `samples` spread evenly over the calibration data (whose order may
 * follow classes or sources), dealt alternately into two folds of whole fixed batches; or one fold
 * where they cannot be halved.
 */
export function measurementFolds(calibrationSamples: number, spaces: number, fixedBatch = 1): number[][] {
  const samples = measurementSamples(calibrationSamples, spaces);
  const spread = (n: number) => Array.from({ length: n }, (_, j) => Math.floor((j * calibrationSamples) / n));
  const half = Math.floor(samples / 2 / fixedBatch) * fixedBatch;
  if (half === 0) return [spread(Math.max(fixedBatch, Math.floor(samples / fixedBatch) * fixedBatch))];
  const chosen = spread(2 * half);
  return [chosen.filter((_, j) => j % 2 === 0), chosen.filter((_, j) => j % 2 === 1)];
}

/** Samples of the calibration data measured with interpolations fitted without them. */
export interface MeasurementFold {
  /** The calibration samples measured. */
  samples: readonly number[];
  /** A space pruned to `keep`, its interpolation fitted on the calibration data less this fold. */
  decide: (space: ChannelSpace, keep: number[]) => Promise<SpaceDecision>;
}

/** One float output of one batch; undefined for outputs that are not floats. */
type Measured =
  | {
      dims: readonly number[];
      values: ArrayLike<number>;
    }
  | undefined;

/**
 * Per output, the error of a variant's outputs against the original's over all folds and batches
 * (see output-error.ts): decisions per row, relative L2 over the output.
 */
function outputErrors(kinds: readonly OutputKind[], reference: Measured[][], candidate: Measured[][]): number[] {
  const sums = kinds.map(() => ({ error: 0, norm: 0 }));
  reference.forEach((batch, b) => {
    kinds.forEach(({ reading }, o) => {
      const r = batch[o];
      const y = candidate[b][o];
      if (!r || !y) return;
      const sum = sums[o];
      if (reading.kind === 'relative') {
        for (let i = 0; i < r.values.length; i++) {
          sum.error += (y.values[i] - r.values[i]) ** 2;
          sum.norm += r.values[i] ** 2;
        }
      } else {
        const margins = marginError(decisionMargins(reading, r.dims, r.values, y.values));
        sum.error += margins.error;
        sum.norm += margins.rows;
      }
    });
  });
  return sums.map((sum) => (sum.norm > 0 ? sum.error / sum.norm : 0));
}

/**
 * For every space, error[k]: the held-out output error (see the header) of pruning it alone to
 * keep the first k channels of its ranking. Each output weighs alike: its errors are divided by
 * their mean over the spaces at the smallest sizes measured (a model's nine outputs, or its scores
 * and its boxes, each count, whatever their scale).
 */
export async function outputErrorCurves(
  model: ModelProto,
  spaces: readonly ChannelSpace[],
  rankings: ReadonlyMap<number, ChannelRanking>,
  folds: readonly MeasurementFold[],
  kinds: readonly OutputKind[],
  pass: PassOptions,
  products: MatrixProducts,
): Promise<Map<number, Float64Array>> {
  const { runtime, dataset, inputs, batchSize } = pass;
  const feeds = folds.map((fold) => [...batches(samplesOf(dataset, fold.samples), inputs, batchSize)]);
  const measured = (t: HostTensor | undefined): Measured => {
    const values = t && floatValues(t);
    return values && { dims: t.dims, values };
  };
  /** Per variant (`named` lists each variant's names of the model's outputs), per batch of the fold, per output. */
  const run = async (bytes: Uint8Array, fold: number, named: string[][]) => {
    const session = await runtime.load(bytes, { memoryArena: pass.memoryArena });
    try {
      const outputs: Measured[][][] = named.map(() => []);
      for (const f of feeds[fold]) {
        const out = await session.run(f);
        named.forEach((names, v) => {
          outputs[v].push(names.map((n) => measured(out[n])));
        });
      }
      return outputs;
    } finally {
      await session.release();
    }
  };
  const outputNames = kinds.map((k) => k.name);
  const reference: Measured[][] = [];
  for (const f of folds.keys()) reference.push(...(await run(encodeModel(model), f, [outputNames]))[0]);

  const measuredSpaces: { space: ChannelSpace; sizes: number[]; measured: number[][] }[] = [];
  for (const space of spaces) {
    const { order } = rankings.get(space.id)!;
    const c = space.channels;
    const sizes = [...new Set(FRACTIONS.map((f) => Math.max(1, Math.round(f * c))))].filter((k) => k < c);
    const results: Measured[][][] = sizes.map(() => []);
    for (const [f, fold] of folds.entries()) {
      // Every size pruned in one session: what the variants compute alike (the layers before the
      // space) runs once.
      let merged = model;
      const variantOutputs: string[][] = [];
      for (const [v, k] of sizes.entries()) {
        const keep = [...order.slice(0, k)].sort((a, b) => a - b);
        const joined = sideBySide(
          merged,
          await applySurgery(model, [await fold.decide(space, keep)], products),
          `__idprune/size${v}/`,
        );
        merged = joined.model;
        variantOutputs.push(outputNames.map(joined.variantName));
      }
      merged.graph!.output = [...new Set(variantOutputs.flat())].map((name) => create(ValueInfoProtoSchema, { name }));
      dropUnusedNodes(merged);
      (await run(encodeModel(merged), f, variantOutputs)).forEach((batches, v) => {
        results[v].push(...batches);
      });
    }
    measuredSpaces.push({ space, sizes, measured: sizes.map((_, v) => outputErrors(kinds, reference, results[v])) });
  }
  const scales = kinds.map((_, o) => {
    const smallest = measuredSpaces.filter((m) => m.sizes.length > 0).map((m) => m.measured.at(-1)![o]);
    const mean = smallest.reduce((a, b) => a + b, 0) / Math.max(1, smallest.length);
    return mean > 0 ? 1 / mean : 1;
  });
  const curves = new Map<number, Float64Array>();
  for (const { space, sizes, measured } of measuredSpaces) {
    const own = rankings.get(space.id)!.relativeError;
    // Measured points, largest size first, starting from the intact space. Keeping fewer channels
    // never counts as better than keeping more.
    const errors = [{ k: space.channels, value: 0 }];
    sizes.forEach((k, v) => {
      const error = measured[v].reduce((sum, e, o) => sum + e * scales[o], 0);
      errors.push({ k, value: Math.max(error, errors.at(-1)!.value) });
    });
    curves.set(space.id, curveThrough(errors, own));
  }
  return curves;
}

/**
 * A curve over every kept count 0..c through the measured points (largest k first, the first at
 * k = c): between them it follows the space's own error curve `own`. Below the smallest, nothing
 * was measured, so the error is taken to grow at least as 1/k (or as `own`, scaled to meet the
 * last measurement, where that grows faster): a space measured cheap at a tenth of its channels
 * was otherwise cut to one (Silero VAD at 0.5 FLOPs: a 128-channel space kept 1, 36% agreement;
 * with 1/k it keeps 2, 50%).
 */
export function curveThrough(measured: readonly { k: number; value: number }[], own: Float64Array): Float64Array {
  const curve = new Float64Array(measured[0].k + 1);
  for (let j = 0; j + 1 < measured.length; j++) {
    const hi = measured[j];
    const lo = measured[j + 1];
    const span = own[lo.k] - own[hi.k];
    for (let k = lo.k; k <= hi.k; k++) {
      const t = span > 0 ? (own[k] - own[hi.k]) / span : (hi.k - k) / Math.max(hi.k - lo.k, 1);
      curve[k] = hi.value + t * (lo.value - hi.value);
    }
  }
  const last = measured.at(-1)!;
  const scale = own[last.k] > 0 ? last.value / own[last.k] : 1;
  for (let k = 0; k < last.k; k++) curve[k] = Math.max((last.value * last.k) / Math.max(k, 1), own[k] * scale);
  return curve;
}
