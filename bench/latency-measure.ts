// Latency ratios as the latency benchmark reports them (bench/latency.ts, bench/real-worker.ts).
import { type Dataset, timingFeeds } from '../src/calibrate/dataset.ts';
import type { LatencySearch } from '../src/compress/latency-budget.ts';
import { measureLatency } from '../src/onnx/latency.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';

/** Two independent measurements of one batch size's ratio: how far repeated runs agree. */
export interface BatchLatency {
  batch: number;
  threads: number;
  runs: { ratio: number; spread: [number, number]; originalMs: number; pairs: number }[];
}

/** Each batch size's latency ratio with its interquartile range, measured twice. */
export async function latencyAtBatches(
  original: Uint8Array,
  candidate: Uint8Array,
  data: Dataset,
  sizes: readonly number[],
): Promise<BatchLatency[]> {
  const measured: BatchLatency[] = [];
  for (const batch of sizes) {
    const feeds = timingFeeds(data, data.inputs, batch);
    const runs = [];
    for (let repeat = 0; repeat < 2; repeat++) {
      const l = await measureLatency(original, candidate, feeds, nodeRuntime, { batch });
      runs.push({ ratio: l.ratio, spread: l.ratioSpread, originalMs: l.originalMs, pairs: l.runs });
    }
    measured.push({ batch, threads: nodeRuntime.defaultThreads, runs });
  }
  return measured;
}

/** What the benchmark keeps of a latency target's search: the aims, the ratios measured, the one kept. */
export function summarizeSearch(search: LatencySearch) {
  return {
    fixedShare: search.model.fixedMs / search.model.originalMs,
    attempts: search.attempts.map((a) => ({
      by: a.by,
      aimed: a.aimed,
      ratio: a.measured.ratio,
      again: a.again?.ratio,
      error: a.error,
    })),
    chosen: search.chosen,
    seconds: search.seconds,
  };
}
