import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { gemmChain } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

const compress = (samples: number) =>
  compressModel(
    gemmChain(1),
    (a) => makeDataset(new Map([['x', floatData([samples, 8], 5)]]), a.inputs, 'calib'),
    nodeRuntime,
    {
      budget: { kind: 'keep', neurons: 0.5 },
    },
  );

describe('few calibration samples', () => {
  it('a space with fewer rows than half its channels is left intact, with the reason', async () => {
    // 16 hidden neurons, 7 samples of one row each: any 7 neurons reproduce those samples exactly.
    await assert.rejects(compress(7), /gives 7 rows for 16 channels, too few/);
  });

  it('a space with enough rows is pruned', async () => {
    const result = await compress(8);
    assert.deepEqual(
      result.outcomes.map((o) => `${o.kept}/${o.space.channels}`),
      ['8/16', '8/16'],
    );
  });
});
