import { describeReading } from '../compress/output-error.ts';
import type { CompressResult } from '../compress/pipeline.ts';
import type { Comparison } from '../evaluate/compare.ts';
import type { Latency } from '../evaluate/latency.ts';
import { type SpaceSummary, summarizeSpace } from './spaces.ts';

export interface ModelSize {
  params: number;
  flops: number;
}

export interface HeldOutEstimate {
  /** Calibration samples held out, and those the estimate's compression was fitted on. */
  samples: number;
  fitSamples: number;
  /** Same top-1 as the original (argmax over the last axis of the first output, as --eval counts it). */
  agreement: number;
  /** Its 95% interval (Wilson), over the held-out samples. */
  interval: [number, number];
  cosine: number;
  relativeL2: number;
}

/** How --target-agreement / --target-cosine found its FLOPs: each fraction tried and its held-out value. */
export interface TargetSearch {
  metric: 'agreement' | 'cosine';
  value: number;
  /** In the order tried; null where the fraction could not be reached. */
  tried: { flops: number; value: number | null }[];
}

export interface CompressionReport {
  tool: { name: 'idprune'; version: string };
  date: string;
  target: string;
  mode: string;
  allocation: string;
  /** Kept neuron counts are multiples of this (finer on narrow spaces without convolutions where finerOnNarrow). */
  roundTo: number;
  finerOnNarrow: boolean;
  calibrationSamples: number;
  /** Whether the calibration images were joined by their mirror images (--augment). */
  mirrored: boolean;
  passesOverData: number;
  /** How the measured allocation read each model output (absent with the estimated allocation). */
  outputs?: { name: string; readAs: string }[];
  before: ModelSize;
  after: ModelSize;
  spaces: (SpaceSummary & { kept: number; error: number | null })[];
  timingsSeconds: Record<string, number>;
  /**
   * With --estimate, --target-agreement or --target-cosine: the agreement on calibration samples
   * that a compression of the others did not see.
   */
  estimate?: HeldOutEstimate;
  /** With --target-agreement or --target-cosine: the FLOPs fractions tried. */
  search?: TargetSearch;
  evaluation?: Comparison;
  latency?: Latency;
}

export function buildReport(
  result: CompressResult,
  after: ModelSize,
  meta: { version: string; date: Date; target: string; mode: string },
): CompressionReport {
  const outcomes = new Map(result.outcomes.map((o) => [o.space.id, o]));
  return {
    tool: { name: 'idprune', version: meta.version },
    date: meta.date.toISOString(),
    target: meta.target,
    mode: meta.mode,
    allocation: result.allocation,
    roundTo: result.roundTo,
    finerOnNarrow: result.finerOnNarrow,
    calibrationSamples: result.calibrationSamples,
    mirrored: result.mirrored,
    passesOverData: result.passes,
    outputs: result.outputs?.map((o) => ({ name: o.name, readAs: describeReading(o.reading) })),
    before: { params: result.analysis.params, flops: result.analysis.flops },
    after,
    spaces: result.analysis.spaces.map((space) => {
      const outcome = outcomes.get(space.id);
      return {
        ...summarizeSpace(result.analysis, space),
        kept: outcome?.kept ?? space.channels,
        error: outcome ? outcome.error : null,
      };
    }),
    timingsSeconds: result.timings,
  };
}
