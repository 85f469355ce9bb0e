import type { ModelProto } from 'onnx-buf';
import { IdpruneError } from '../errors.ts';
import { buildCostModel, type CostModel, totalCost } from './cost.ts';
import { type GraphIndex, indexGraph, nodeLabel } from '../onnx/graph-index.ts';
import type { Runtime } from '../onnx/runtime.ts';
import { type InputSpec, inputSpecs, probeShapes, type Shapes } from '../onnx/shapes.ts';
import { findChannelSpaces, type SpaceOptions } from './spaces.ts';
import type { ChannelSpace } from './types.ts';

/** Everything known about a model before any data is seen. */
export interface Analysis {
  model: ModelProto;
  index: GraphIndex;
  shapes: Shapes;
  inputs: InputSpec[];
  spaces: ChannelSpace[];
  cost: CostModel;
  flops: number;
  params: number;
}

export interface AnalysisOptions extends SpaceOptions {
  /** Leave spaces touching these nodes or tensors intact. */
  skip?: readonly string[];
  /** Shapes of the data to be fed, per input: free dimensions are probed at these sizes. */
  sampleDims?: Record<string, number[]>;
}

export async function analyzeModel(
  model: ModelProto,
  runtime: Runtime,
  options: AnalysisOptions = {},
): Promise<Analysis> {
  const external = model.graph!.initializer.find((t) => t.externalData.length > 0);
  if (external)
    throw new IdpruneError(
      `initializer "${external.name}" keeps its data in an external file: read it in first (inlineExternalData)`,
    );
  const index = indexGraph(model);
  const inputs = inputSpecs(model);
  const shapes = await probeShapes(model, runtime, options.sampleDims);
  const spaces = applySkip(index, findChannelSpaces(index, shapes, options), options.skip ?? []);
  const cost = buildCostModel(index, shapes, spaces);
  return {
    model,
    index,
    shapes,
    inputs,
    spaces,
    cost,
    flops: totalCost(cost.flops, () => 1),
    params: totalCost(cost.params, () => 1),
  };
}

/** Spaces touching a node or tensor named in `skip` are left intact. */
function applySkip(index: GraphIndex, spaces: readonly ChannelSpace[], skip: readonly string[]): ChannelSpace[] {
  if (skip.length === 0) return [...spaces];
  const wanted = new Set(skip);
  const matched = new Set<string>();
  const result = spaces.map((space) => {
    const nodes = [...space.producers, ...space.channelwise, ...space.consumers.map((c) => c.node)];
    const names = [...nodes.map((n) => nodeLabel(index, n)), ...space.tensors.map((t) => t.name)];
    const hit = names.filter((n) => wanted.has(n));
    for (const n of hit) matched.add(n);
    return hit.length > 0 && space.prunable
      ? { ...space, prunable: false, reason: `skipped by request (${hit.join(', ')})` }
      : space;
  });
  const unknown = skip.filter(
    (n) => !matched.has(n) && !index.producer.has(n) && !index.nodes.some((node) => node.name === n),
  );
  if (unknown.length > 0) throw new IdpruneError(`--skip names no node or tensor of the model: ${unknown.join(', ')}`);
  return result;
}
