import { evaluateModels } from '../../api/evaluate.ts';
import type { LatencyRuntime } from '../../api/option-table.ts';
import { formatComparison, formatGeneration, formatLatency, formatSize } from '../../report/text.ts';
import type { ReadOptions } from '../../data/read-options.ts';
import { readModel } from '../../io/files.ts';
import { terminalProgress } from '../progress-bar.ts';

export interface EvalFlags extends ReadOptions {
  data: string;
  labels?: string;
  json?: boolean;
  batchSize: number;
  runs: number;
  threads?: number;
  generate?: number;
  runtime?: LatencyRuntime;
}

export async function evalCommand(originalPath: string, candidatePath: string, flags: EvalFlags): Promise<void> {
  const original = readModel(originalPath);
  const candidate = readModel(candidatePath);
  const evaluation = await evaluateModels(original, candidate, flags.data, {
    labels: flags.labels,
    batchSize: flags.batchSize,
    runs: flags.runs,
    threads: flags.threads,
    progress: terminalProgress(),
    read: { ...flags, modelPath: originalPath },
    generate: flags.generate,
    runtime: flags.runtime,
  });
  if (flags.json) {
    console.log(JSON.stringify(evaluation, null, 2));
    return;
  }
  console.log(formatSize('original ', evaluation.original));
  console.log(formatSize('candidate', evaluation.candidate));
  console.log(formatComparison(evaluation));
  for (const latency of evaluation.latency) console.log(formatLatency(latency));
  if (evaluation.generation) console.log(formatGeneration(evaluation.generation));
}
