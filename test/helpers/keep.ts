import assert from 'node:assert/strict';
import type { ModelProto } from 'onnx-buf';
import { applySurgery, type SpaceDecision } from '../../src/compress/surgery.ts';
import { analyzeModel } from '../../src/graph/analysis.ts';
import { nodeRuntime } from '../../src/onnx/runtime-node.ts';
import { identityMatrix } from './matrices.ts';

/** Runs surgery keeping every channel of every prunable space, with the identity as interpolation. */
export async function keepEverything(model: ModelProto): Promise<ModelProto> {
  const analysis = await analyzeModel(model, nodeRuntime);
  const decisions: SpaceDecision[] = analysis.spaces
    .filter((s) => s.prunable)
    .map((space) => {
      const keep = Array.from({ length: space.channels }, (_, c) => c);
      return {
        space,
        keep,
        interpolation: new Map(space.consumers.map((c) => [c.reads, identityMatrix(space.channels * space.unit)])),
      };
    });
  assert.ok(decisions.length > 0, 'the model has a prunable space');
  return applySurgery(model, decisions);
}
