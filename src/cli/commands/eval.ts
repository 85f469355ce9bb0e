import { batchSizeFor, makeDataset, sliceFeeds } from '../../calibrate/dataset.ts';
import { compareModels } from '../../evaluate/compare.ts';
import { measureLatency } from '../../evaluate/latency.ts';
import { IdpruneError } from '../../errors.ts';
import { analyzeForData } from '../analyze.ts';
import { nodeRuntime } from '../../onnx/runtime-node.ts';
import { inputSpecs } from '../../onnx/shapes.ts';
import { formatComparison, formatLatency, formatSize } from '../../report/text.ts';
import { readArrays, readLabels, readModel } from '../files.ts';
import { terminalProgress } from '../progress-bar.ts';

export interface EvalFlags {
  data: string;
  labels?: string;
  json?: boolean;
  batchSize: number;
  runs: number;
}

export async function evalCommand(originalPath: string, candidatePath: string, flags: EvalFlags): Promise<void> {
  const { model: originalModel, bytes: originalBytes } = readModel(originalPath);
  const { model: candidateModel, bytes: candidateBytes } = readModel(candidatePath);
  const inputs = inputSpecs(originalModel);
  const names = (specs: typeof inputs) => specs.map((s) => s.name).join(', ');
  if (names(inputs) !== names(inputSpecs(candidateModel))) {
    throw new IdpruneError(`the models have different inputs (${names(inputs)} vs ${names(inputSpecs(candidateModel))})`);
  }
  const dataset = makeDataset(readArrays(flags.data), inputs, flags.data);
  const { analysis: original } = await analyzeForData(originalModel, dataset);
  const { analysis: candidate } = await analyzeForData(candidateModel, dataset);
  const labels = flags.labels ? readLabels(flags.labels) : undefined;
  const batchSize = batchSizeFor(inputs, flags.batchSize);
  const comparison = await compareModels(originalBytes, candidateBytes, {
    runtime: nodeRuntime,
    dataset,
    inputs,
    batchSize,
    labels,
    progress: terminalProgress(),
  });
  const latency = await measureLatency(originalBytes, candidateBytes, sliceFeeds(dataset, inputs, 0, Math.min(batchSize, dataset.count)), nodeRuntime, flags.runs);
  const sizes = {
    original: { params: original.params, flops: original.flops },
    candidate: { params: candidate.params, flops: candidate.flops },
  };
  if (flags.json) {
    console.log(JSON.stringify({ ...comparison, ...sizes, latency }, null, 2));
    return;
  }
  console.log(formatSize('original ', sizes.original));
  console.log(formatSize('candidate', sizes.candidate));
  console.log(formatComparison(comparison));
  console.log(formatLatency(latency));
}
