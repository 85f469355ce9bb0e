import type { ModelProto } from 'onnx-buf';
import type { Dataset } from '../calibrate/dataset.ts';
import { analyzeForData } from './analyze.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { type SpaceSummary, summarizeSpace } from '../report/spaces.ts';

/** What inspect finds in a model: its interface, its size and its channel spaces. */
export interface ModelSummary {
  inputs: InputSpec[];
  /** Each output's shape for one sample. */
  outputs: { name: string; shape: number[] | undefined }[];
  params: number;
  /** Multiply-accumulates of Conv, Gemm and MatMul per sample. */
  flops: number;
  /** If branches taken by every sample of the data, analysed inside. */
  branches: string[];
  /** Share of the FLOPs in layers whose cost some prunable space scales. */
  prunableFlopsShare: number;
  spaces: SpaceSummary[];
}

/** Analyses a model; data, where given, sets the sizes of free input dimensions and fixes If branches. */
export async function summarizeModel(model: ModelProto, data?: Dataset): Promise<ModelSummary> {
  const { analysis, branches } = await analyzeForData(model, data);
  return {
    inputs: analysis.inputs,
    outputs: model.graph!.output.map((o) => ({ name: o.name, shape: analysis.shapes.get(o.name) })),
    params: analysis.params,
    flops: analysis.flops,
    branches,
    // A layer between two spaces counts once.
    prunableFlopsShare:
      analysis.cost.flops.filter((t) => t.spaces.length > 0).reduce((a, t) => a + t.value, 0) / analysis.flops,
    spaces: analysis.spaces.map((s) => summarizeSpace(analysis, s)),
  };
}
