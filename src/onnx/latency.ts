import type { Feeds, Runtime } from './runtime.ts';

export interface Latency {
  /** Samples per run, and the runtime's intra-op threads. */
  batch: number;
  threads: number;
  /** Median time of one run of each model, in milliseconds. */
  originalMs: number;
  candidateMs: number;
  /**
   * candidate / original: the median, over interleaved pairs of runs in one process, of each pair's
   * ratio (a pair runs both models back to back, so a busy moment slows both alike).
   */
  ratio: number;
  /**
   * The interquartile range of the pairs' ratios: how far they spread within these two sessions
   * (timed again in other sessions, a ratio can move further; docs/benchmarks.md).
   */
  ratioSpread: [number, number];
  runs: number;
  /** Where it was timed, if not onnxruntime-node (the default). */
  runtime?: string;
}

/** Times two models against each other (measureLatency on a runtime, or another engine's timing). */
export type LatencyMeter = (
  original: Uint8Array,
  candidate: Uint8Array,
  feeds: Feeds | [Feeds, Feeds],
  setting: LatencySetting,
) => Promise<Latency>;

/** The meter of a Runtime in this process (onnxruntime-node). */
export const runtimeMeter =
  (runtime: Runtime): LatencyMeter =>
  (original, candidate, feeds, setting) =>
    measureLatency(original, candidate, feeds, runtime, setting);

/** The q-quantile of the values, interpolating linearly between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const below = Math.floor(at);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (at - below) * (sorted[above] - sorted[below]);
}

/** The latency summary of paired run times (original[i] and candidate[i] timed back to back). */
export function summarizeLatency(
  original: readonly number[],
  candidate: readonly number[],
  setting: Pick<Latency, 'batch' | 'threads'>,
): Latency {
  const ratios = candidate.map((c, i) => c / original[i]);
  return {
    ...setting,
    originalMs: quantile(original, 0.5),
    candidateMs: quantile(candidate, 0.5),
    ratio: quantile(ratios, 0.5),
    ratioSpread: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
    runs: ratios.length,
  };
}

/** Timed runs per model unless told: at least this many… */
export const DEFAULT_LATENCY_RUNS = 20;
/** …and more for a fast model, until each model has run this long (at most MAX_RUNS runs). */
export const MIN_SECONDS = 0.5;
export const MAX_RUNS = 1000;

export interface LatencySetting {
  /** Samples per run: the feeds' batch. */
  batch: number;
  /** Intra-op threads (default: the runtime's default). */
  threads?: number;
  /** Timed runs per model, at least (default DEFAULT_LATENCY_RUNS; more for a fast model). */
  runs?: number;
}

/**
 * Times both models on the same feeds (or each on its own, where a narrowed cache needs other
 * shapes), alternating runs so load on the machine affects both alike.
 */
export async function measureLatency(
  original: Uint8Array,
  candidate: Uint8Array,
  feeds: Feeds | [Feeds, Feeds],
  runtime: Runtime,
  { batch, threads = runtime.defaultThreads, runs = DEFAULT_LATENCY_RUNS }: LatencySetting,
): Promise<Latency> {
  const fed = Array.isArray(feeds) ? feeds : [feeds, feeds];
  const load = (model: Uint8Array) => runtime.load(model, { threads, spinning: false });
  const sessions = [await load(original), await load(candidate)];
  const times: number[][] = [[], []];
  try {
    const warmUp = performance.now();
    for (const [m, s] of sessions.entries()) for (let i = 0; i < 3; i++) await s.run(fed[m]);
    const pairMs = (performance.now() - warmUp) / 3;
    const pairs = Math.max(runs, Math.min(MAX_RUNS, Math.ceil((2 * MIN_SECONDS * 1000) / pairMs)));
    for (let r = 0; r < pairs; r++) {
      for (let m = 0; m < 2; m++) {
        const start = performance.now();
        await sessions[m].run(fed[m]);
        times[m].push(performance.now() - start);
      }
    }
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
  return summarizeLatency(times[0], times[1], { batch, threads });
}
