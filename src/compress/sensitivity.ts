import { create } from '@bufbuild/protobuf';
import { type ModelProto, ValueInfoProtoSchema } from 'onnx-buf';
import { batches } from '../calibrate/dataset.ts';
import { dropUnusedNodes } from '../calibrate/instrument.ts';
import type { PassOptions } from '../calibrate/statistics.ts';
import type { ChannelSpace } from '../graph/types.ts';
import type { MatrixProducts } from '../linalg/products.ts';
import { halfToFloat } from '../onnx/float16.ts';
import { encodeModel } from '../onnx/model.ts';
import { sideBySide } from '../onnx/side-by-side.ts';
import type { HostTensor } from '../onnx/runtime.ts';
import type { ChannelRanking } from './selection.ts';
import { applySurgery, type SpaceDecision } from './surgery.ts';

/*
 * How much pruning a space disturbs the model's outputs. A space's reconstruction error
 * ‖Z − Z_S T‖ / ‖Z‖ says how well its own activation is kept, not what that costs downstream: a
 * wide layer just before pooling tolerates errors that a narrow residual stream near the input
 * does not. So each space is pruned alone (plain interpolation, original network elsewhere) to a
 * few sizes, on a subset of the calibration data, and the relative squared error of the model's
 * outputs is measured. Between the measured sizes the curve follows the space's own error curve;
 * it is never extrapolated far: the smallest measured size is a tenth of the channels.
 */

/** Kept fractions measured per space. */
const FRACTIONS = [0.75, 0.5, 0.25, 0.1];

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

function toFloats(t: HostTensor): ArrayLike<number> {
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, halfToFloat);
  return t.data as Float32Array | Float64Array;
}

/**
 * For every space, outputError[k]: the relative squared error ‖ΔY‖² / ‖Y‖² of the model's outputs
 * (all float outputs together) when the space alone keeps the first k channels of its ranking.
 */
export async function outputErrorCurves(
  model: ModelProto,
  spaces: readonly ChannelSpace[],
  rankings: ReadonlyMap<number, ChannelRanking>,
  decide: (space: ChannelSpace, keep: number[]) => Promise<SpaceDecision>,
  pass: PassOptions,
  products: MatrixProducts,
): Promise<Map<number, Float64Array>> {
  const { runtime, dataset, inputs, batchSize } = pass;
  const feeds = [...batches(dataset, inputs, batchSize, measurementSamples(dataset.count, spaces.length))];
  /** Per batch, the float outputs of the model (or of each variant, named in `named`). */
  const run = async (bytes: Uint8Array, named?: string[][]) => {
    const session = await runtime.load(bytes, { memoryArena: pass.memoryArena });
    try {
      const floats = (out: Record<string, HostTensor>, names: readonly string[]) => names.filter((n) => out[n].type.startsWith('float')).map((n) => toFloats(out[n]));
      const outputs: ArrayLike<number>[][][] = (named ?? [session.outputNames]).map(() => []);
      for (const f of feeds) {
        const out = await session.run(f);
        (named ?? [session.outputNames]).forEach((names, v) => outputs[v].push(floats(out, names)));
      }
      return outputs;
    } finally {
      await session.release();
    }
  };
  const [reference] = await run(encodeModel(model));
  let norm = 0;
  for (const batch of reference) for (const y of batch) for (let i = 0; i < y.length; i++) norm += y[i] * y[i];
  const relativeError = (outputs: ArrayLike<number>[][]) => {
    let diff = 0;
    outputs.forEach((batch, b) =>
      batch.forEach((y, o) => {
        const r = reference[b][o];
        for (let i = 0; i < y.length; i++) diff += (y[i] - r[i]) ** 2;
      }),
    );
    return norm > 0 ? diff / norm : 0;
  };

  const curves = new Map<number, Float64Array>();
  const outputs = model.graph!.output.map((o) => o.name);
  for (const space of spaces) {
    const { order, relativeError: own } = rankings.get(space.id)!;
    const c = space.channels;
    const sizes = [...new Set(FRACTIONS.map((f) => Math.max(1, Math.round(f * c))))].filter((k) => k < c);
    // Every size pruned in one session: what the variants compute alike (the layers before the
    // space) runs once.
    let merged = model;
    const variantOutputs: string[][] = [];
    for (const [v, k] of sizes.entries()) {
      const keep = [...order.slice(0, k)].sort((a, b) => a - b);
      const joined = sideBySide(merged, await applySurgery(model, [await decide(space, keep)], products), `__idprune/size${v}/`);
      merged = joined.model;
      variantOutputs.push(outputs.map(joined.variantName));
    }
    merged.graph!.output = [...new Set(variantOutputs.flat())].map((name) => create(ValueInfoProtoSchema, { name }));
    dropUnusedNodes(merged);
    const results = await run(encodeModel(merged), variantOutputs);
    // Measured points, largest size first, starting from the intact space.
    const measured: { k: number; error: number }[] = [{ k: c, error: 0 }];
    sizes.forEach((k, v) => {
      // Keeping fewer channels never counts as better than keeping more.
      measured.push({ k, error: Math.max(relativeError(results[v]), measured.at(-1)!.error) });
    });
    const curve = new Float64Array(c + 1);
    for (let j = 0; j + 1 < measured.length; j++) {
      const hi = measured[j];
      const lo = measured[j + 1];
      const span = own[lo.k] - own[hi.k];
      for (let k = lo.k; k <= hi.k; k++) {
        const t = span > 0 ? (own[k] - own[hi.k]) / span : (hi.k - k) / Math.max(hi.k - lo.k, 1);
        curve[k] = hi.error + t * (lo.error - hi.error);
      }
    }
    // Below the smallest measured size: the space's own curve, scaled to meet the last measurement.
    const last = measured.at(-1)!;
    const scale = own[last.k] > 0 ? last.error / own[last.k] : 1;
    for (let k = 0; k < last.k; k++) curve[k] = Math.max(last.error, own[k] * scale);
    curves.set(space.id, curve);
  }
  return curves;
}
