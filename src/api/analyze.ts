import { inlineFixedBranches } from '../calibrate/branches.ts';
import { type Dataset, sampleDims } from '../calibrate/dataset.ts';
import { type Analysis, analyzeModel } from '../graph/analysis.ts';
import type { ModelProto } from 'onnx-buf';
import { nodeRuntime } from '../onnx/runtime-node.ts';

/** A model's analysis as the data runs it: free sizes from the data, If branches the data fixes inlined. */
export async function analyzeForData(
  model: ModelProto,
  dataset?: Dataset,
): Promise<{ analysis: Analysis; branches: string[] }> {
  const inlined = dataset && (await inlineFixedBranches(model, dataset, nodeRuntime));
  const analysis = await analyzeModel(inlined?.model ?? model, nodeRuntime, {
    sampleDims: dataset && sampleDims(dataset),
  });
  return { analysis, branches: inlined?.taken ?? [] };
}
