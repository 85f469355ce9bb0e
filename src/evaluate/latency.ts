import type { Feeds, Runtime } from '../onnx/runtime.ts';

export interface Latency {
  originalMs: number;
  candidateMs: number;
  /** candidate / original, medians of interleaved runs in one process. */
  ratio: number;
  runs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Timed runs per model unless told. */
export const DEFAULT_LATENCY_RUNS = 20;

/** Times both models on the same feeds, alternating runs so load on the machine affects both alike. */
export async function measureLatency(
  original: Uint8Array,
  candidate: Uint8Array,
  feeds: Feeds,
  runtime: Runtime,
  runs = DEFAULT_LATENCY_RUNS,
): Promise<Latency> {
  const sessions = [await runtime.load(original), await runtime.load(candidate)];
  const times: number[][] = [[], []];
  try {
    for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds);
    for (let r = 0; r < runs; r++) {
      for (let m = 0; m < 2; m++) {
        const start = performance.now();
        await sessions[m].run(feeds);
        times[m].push(performance.now() - start);
      }
    }
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
  const [originalMs, candidateMs] = times.map(median);
  return { originalMs, candidateMs, ratio: candidateMs / originalMs, runs };
}
