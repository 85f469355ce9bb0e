import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressPrepared } from '../src/compress/pipeline.ts';
import { prepareCompression } from '../src/compress/prepare.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { gemmChain } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

describe('a selection given instead of the ranking', () => {
  it('keeps exactly the given channels, and the spaces not named whole', async () => {
    const prepared = await prepareCompression(
      gemmChain(1),
      (a) => makeDataset(new Map([['x', floatData([64, 8], 5)]]), a.inputs, 'calib'),
      nodeRuntime,
      {},
    );
    const [first, second] = prepared.analysis.spaces.filter((s) => s.prunable);
    const result = await compressPrepared(prepared, {
      budget: { kind: 'flops', fraction: 0.5 },
      keep: new Map([[first.id, [1, 4, 9, 15]]]),
    });
    const outcome = (id: number) => result.outcomes.find((o) => o.space.id === id)!;
    assert.deepEqual(outcome(first.id).keep, [1, 4, 9, 15]);
    assert.equal(outcome(second.id).kept, second.channels);
  });
});
