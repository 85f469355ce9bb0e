// Latency ratios as the latency benchmark reports them (bench/latency.ts, bench/real-worker.ts).
import { latencies } from '../src/api/evaluate.ts';
import type { Dataset } from '../src/calibrate/dataset.ts';
import type { LatencySearch } from '../src/compress/latency-budget.ts';

/** Two independent measurements of one batch size's ratio: how far repeated runs agree. */
export interface BatchLatency {
  batch: number;
  threads: number;
  runs: { ratio: number; spread: [number, number]; originalMs: number; pairs: number }[];
}

/**
 * The latency ratio at batch 1 and at `batch` (a model's fixed batch size wins), each with its
 * interquartile range, measured twice in new sessions (api/evaluate.ts latencies, run twice).
 */
export async function latencyAtBatches(
  original: Uint8Array,
  candidate: Uint8Array,
  data: Dataset,
  batch: number,
): Promise<BatchLatency[]> {
  const repeats = [
    await latencies(original, candidate, data, { batch }),
    await latencies(original, candidate, data, { batch }),
  ];
  return repeats[0].map((first, i) => ({
    batch: first.batch,
    threads: first.threads,
    runs: repeats.map((r) => ({
      ratio: r[i].ratio,
      spread: r[i].ratioSpread,
      originalMs: r[i].originalMs,
      pairs: r[i].runs,
    })),
  }));
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
      error: a.sizes.error,
    })),
    chosen: search.chosen,
    seconds: search.seconds,
  };
}
