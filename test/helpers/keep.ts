import assert from 'node:assert/strict';
import type { ModelProto } from 'onnx-buf';
import type { NdArray } from '../../src/data/npy.ts';
import { selectionMatrix } from '../../src/compress/interpolation.ts';
import type { CompressResult } from '../../src/compress/pipeline.ts';
import { readTensors } from '../../src/compress/space-tensors.ts';
import { applySurgery, type SpaceDecision } from '../../src/compress/surgery.ts';
import { neuronCount, neuronsOf } from '../../src/compress/units.ts';
import { analyzeModel } from '../../src/graph/analysis.ts';
import { nodeRuntime } from '../../src/onnx/runtime-node.ts';
import { identityMatrix } from './matrices.ts';
import { run } from './run.ts';

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

/** The channels `result` keeps, dropped from its analysed model with no correction at all. */
export async function droppedWithoutCorrection(result: CompressResult): Promise<ModelProto> {
  const decisions = result.outcomes
    .filter((o) => o.kept < o.space.channels)
    .map(({ space, keep }) => {
      const t = selectionMatrix(neuronCount(space), neuronsOf(keep, space.unit));
      return { space, keep, interpolation: new Map(readTensors(space).map((r) => [r, t])) };
    });
  return applySurgery(result.analysis.model, decisions);
}

const relativeError = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
};

/**
 * The compressed model's outputs on held-out data are as close to the original's as those of
 * dropping the same channels with no correction, or closer: a rule that reads or writes the wrong
 * entries (axis, offset, block) folds its correction in the wrong place and loses to that. Where
 * random weights leave the correction little to exploit it may lose by noise: 2% is allowed.
 */
export async function assertCorrectionHelps(model: ModelProto, result: CompressResult, x: NdArray): Promise<void> {
  const before = await run(model, 'x', x);
  const after = await run(result.bytes, 'x', x);
  assert.deepEqual(after.dims, before.dims);
  const dropped = await run(await droppedWithoutCorrection(result), 'x', x);
  const [corrected, uncorrected] = [relativeError(after.data, before.data), relativeError(dropped.data, before.data)];
  assert.ok(corrected <= 1.02 * uncorrected, `error ${corrected} with the correction, ${uncorrected} without`);
}
