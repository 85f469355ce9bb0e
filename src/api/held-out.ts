import type { ModelProto } from 'onnx-buf';
import { batchSizeFor, type Dataset, samplesOf } from '../calibrate/dataset.ts';
import { mirrors } from '../calibrate/mirror.ts';
import type { Budget } from '../compress/allocate.ts';
import { compressPrepared } from '../compress/pipeline.ts';
import type { CompressOptions } from '../compress/options.ts';
import { type Prepared, prepareCompression } from '../compress/prepare.ts';
import { IdpruneError, UnreachableTargetError } from '../errors.ts';
import { compareModels } from '../evaluate/compare.ts';
import { nodeRuntime } from '../onnx/runtime-node.ts';
import { inputSpecs } from '../onnx/shapes.ts';
import type { HeldOutEstimate, TargetSearch } from '../report/report.ts';

/*
 * What a compression keeps on data it did not see, from the calibration data alone: the same
 * compression fitted on three quarters of the samples, compared with the original on the quarter
 * it did not see (every fourth sample, so that an ordered data set is split evenly). It costs
 * about one more compression per budget, and it is a little pessimistic: the model returned is
 * fitted on all the samples.
 */

/** A target in the user's units, met on the held-out quarter: top-1 agreement or cosine of the first output. */
export interface HeldOutTarget {
  metric: 'agreement' | 'cosine';
  value: number;
}

type RunOptions = Omit<CompressOptions, 'budget' | 'version' | 'date'>;

interface Split {
  fit: Dataset;
  heldOut: Dataset;
}

function quarterSplit(calibration: Dataset, what: string): Split {
  const all = Array.from({ length: calibration.count }, (_, i) => i);
  const heldOut = all.filter((i) => i % 4 === 3);
  if (heldOut.length === 0)
    throw new IdpruneError(`${what} needs at least 4 calibration samples (got ${calibration.count})`);
  return {
    fit: samplesOf(
      calibration,
      all.filter((i) => i % 4 !== 3),
    ),
    heldOut: samplesOf(calibration, heldOut),
  };
}

type Loaded = { model: ModelProto; bytes: Uint8Array };

/** Held-out estimates of compressions to any budget, from one preparation of the fitted three quarters. */
export interface HeldOutEstimator {
  /** Undefined where the budget cannot be reached. With `lastUse`, no other budget can be estimated after. */
  at(budget: Budget, options?: { lastUse?: boolean }): Promise<HeldOutEstimate | undefined>;
}

export function heldOutEstimator(
  loaded: Loaded,
  calibration: Dataset,
  run: RunOptions & { batchSize: number },
  what = '--estimate',
): HeldOutEstimator {
  const split = quarterSplit(calibration, what);
  // Mirrored as the whole calibration set is, whatever the fitted part's size.
  const augment = mirrors(calibration, run.augment) ? 'mirror' : 'none';
  let prepared: Promise<Prepared> | undefined;
  return {
    async at(budget, { lastUse = false } = {}) {
      prepared ??= prepareCompression(loaded.model, () => split.fit, nodeRuntime, { ...run, augment });
      let compressed: { bytes: Uint8Array; model: ModelProto };
      try {
        compressed = await compressPrepared(await prepared, {
          budget,
          roundTo: run.roundTo,
          minKeep: run.minKeep,
          lastUse,
        });
      } catch (error) {
        if (error instanceof UnreachableTargetError) return undefined;
        throw error;
      }
      const { heldOut } = split;
      const batchSize = batchSizeFor(heldOut.inputs, run.batchSize);
      const c = await compareModels(loaded.bytes, compressed.bytes, {
        runtime: nodeRuntime,
        dataset: heldOut,
        inputs: heldOut.inputs,
        batchSize,
        progress: run.progress,
        candidateInputs: inputSpecs(compressed.model),
      });
      return {
        samples: c.samples,
        fitSamples: split.fit.count,
        agreement: c.agreement,
        // Over the samples: rows of per-position outputs are not independent.
        interval: wilsonInterval(c.agreement, c.samples),
        cosine: c.cosine,
        relativeL2: c.relativeL2,
      };
    },
  };
}

/** FLOPs fractions are searched to this resolution. */
const RESOLUTION = 1 / 64;

/**
 * The smallest FLOPs fraction whose compression meets `target` on the held-out quarter, found by
 * bisection: 1 where no compression tried meets it. The measured value need not fall monotonically
 * with the fraction; the fraction returned was measured to meet the target, not inferred.
 */
export async function searchFlops(
  loaded: Loaded,
  calibration: Dataset,
  run: RunOptions & { batchSize: number },
  target: HeldOutTarget,
): Promise<{ fraction: number; estimate?: HeldOutEstimate; search: TargetSearch }> {
  const estimator = heldOutEstimator(loaded, calibration, run, `--target-${target.metric}`);
  const tried: TargetSearch['tried'] = [];
  let low = 0;
  let high = 1;
  let best: HeldOutEstimate | undefined;
  while (high - low > RESOLUTION) {
    const fraction = (low + high) / 2;
    const estimate = await estimator.at({ kind: 'flops', fraction });
    const value = estimate?.[target.metric];
    tried.push({ flops: fraction, value: value ?? null });
    if (value !== undefined && value >= target.value) {
      high = fraction;
      best = estimate;
    } else {
      low = fraction;
    }
  }
  return { fraction: high, estimate: best, search: { metric: target.metric, value: target.value, tried } };
}

/** The 95% Wilson score interval of a proportion p seen in n trials (it stays honest at p = 0 or 1). */
export function wilsonInterval(p: number, n: number): [number, number] {
  const z = 1.96;
  const scale = 1 + (z * z) / n;
  const center = (p + (z * z) / (2 * n)) / scale;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / scale;
  return [Math.max(0, center - half), Math.min(1, center + half)];
}
