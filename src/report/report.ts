import type { ModelProto, ValueInfoProto } from 'onnx-buf';
import { carriedState } from '../onnx/graph-index.ts';
import { describeReading } from '../compress/output-error.ts';
import type { CompressResult } from '../compress/pipeline.ts';
import type { Comparison } from '../evaluate/compare.ts';
import type { Latency } from '../onnx/latency.ts';
import type { LatencySearch, Proposer } from '../compress/latency-budget.ts';
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
  /** Kept counts of spaces that convolutions write, read or pass are multiples of this. */
  convolutionRoundTo: number;
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
  /** With --target-latency: the runtime's modelled time and each set of sizes timed against the original. */
  latencySearch?: LatencySearchReport;
  /** Model inputs and outputs whose declared shape changed (a KV cache narrowed with its heads). */
  signature?: SignatureChange[];
  /**
   * The state carried between calls (a KV cache) has a different shape from layer to layer after
   * compression: runtimes that build the empty cache from one head count need to know.
   */
  unevenState?: boolean;
  evaluation?: Comparison;
  /** With held-out data: the latency at batch 1 and at the evaluation batch. */
  latency?: Latency[];
}

export interface LatencySearchReport {
  target: number;
  batch: number;
  threads: number;
  originalMs: number;
  /** The share of the original's time that no channel space changes (see latency-model.ts). */
  fixedShare: number;
  /** Where the candidates were timed, if not in onnxruntime-node (the latency model always is). */
  timedIn?: string;
  /**
   * Each candidate: how its sizes were proposed (on the latency model, aiming at a fraction of the
   * modelled time; or by a fraction of the FLOPs), the measured ratio with its interquartile range,
   * and its error as the allocation weighs it.
   */
  attempts: {
    by: Proposer;
    aimed: number;
    ratio: number;
    ratioSpread: [number, number];
    error: number;
    /** Timed again in new sessions, where it met the target and was to be kept. */
    again?: number;
  }[];
  /** The attempt kept: of those that met the target twice, the least error. */
  chosen: number;
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
    convolutionRoundTo: result.convolutionRoundTo,
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
    latencySearch: result.latencySearch && latencySearchReport(result.latencySearch),
    signature: signatureChanges(result.analysis.model, result.model),
    unevenState: unevenState(result.model) || undefined,
  };
}

export interface SignatureChange {
  name: string;
  /** Declared dims: sizes, names of free dims, or "?" */
  before: (number | string)[];
  after: (number | string)[];
}

/** A value's declared dims: sizes, names of free dims, or "?". */
function declaredDims(v: ValueInfoProto): (number | string)[] {
  const type = v.type?.value;
  if (type?.case !== 'tensorType') return [];
  return (type.value.shape?.dim ?? []).map((d) =>
    d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?',
  );
}

/** The inputs and outputs whose declared shapes differ between the two models; undefined if none. */
function signatureChanges(before: ModelProto, after: ModelProto): SignatureChange[] | undefined {
  const declared = (m: ModelProto) =>
    new Map([...m.graph!.input, ...m.graph!.output].map((v) => [v.name, declaredDims(v)]));
  const now = declared(after);
  const changes = [...declared(before)]
    .filter(([name, was]) => now.has(name) && now.get(name)!.join() !== was.join())
    .map(([name, was]) => ({ name, before: was, after: now.get(name)! }));
  return changes.length > 0 ? changes : undefined;
}

/** Whether the model's carried inputs (past_key_values.N.key, …) were narrowed to shapes that differ. */
export function unevenState(model: ModelProto): boolean {
  const carried = new Set(carriedState(model.graph!).values());
  const shapes = model.graph!.input.filter((v) => carried.has(v.name)).map((v) => JSON.stringify(declaredDims(v)));
  return new Set(shapes).size > 1;
}

function latencySearchReport(search: LatencySearch): LatencySearchReport {
  const { model, attempts, chosen } = search;
  return {
    target: search.target,
    batch: model.batch,
    threads: model.threads,
    originalMs: model.originalMs,
    fixedShare: model.fixedMs / model.originalMs,
    timedIn: attempts.find((a) => a.measured.runtime)?.measured.runtime,
    attempts: attempts.map((a) => ({
      by: a.by,
      aimed: a.aimed,
      ratio: a.measured.ratio,
      ratioSpread: a.measured.ratioSpread,
      error: a.sizes.error,
      again: a.again?.ratio,
    })),
    chosen,
  };
}
