import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDataset, samplesOf } from '../src/calibrate/dataset.ts';
import { compressPrepared } from '../src/compress/pipeline.ts';
import { prepareCompression } from '../src/compress/prepare.ts';
import { interpolationMatrix } from '../src/compress/interpolation.ts';
import { curveThrough, measurementFolds, outputErrorCurves } from '../src/compress/sensitivity.ts';
import { outputKinds } from '../src/compress/output-error.ts';
import { runtimeProducts } from '../src/onnx/runtime-products.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { gemmChain } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

describe('held-out measurements', () => {
  it('a dataset of chosen samples holds them in the order given', () => {
    const data = floatData([10, 3], 1);
    const dataset = makeDataset(new Map([['x', data]]), [{ name: 'x', type: 'float32', dims: [null, 3] }], 'calib');
    const chosen = samplesOf(dataset, [7, 2, 5]);
    assert.equal(chosen.count, 3);
    assert.deepEqual(chosen.arrays.x.shape, [3, 3]);
    assert.deepEqual([...chosen.arrays.x.rows(1, 2)], [...data.data.subarray(6, 9), ...data.data.subarray(15, 18)]);
    assert.throws(() => samplesOf(dataset, [10]), /outside/);
  });

  it('measures samples spread over the data in two alternating folds of whole fixed batches', () => {
    assert.deepEqual(measurementFolds(12, 2), [
      [0, 2, 4, 6, 8, 10],
      [1, 3, 5, 7, 9, 11],
    ]);
    // 200 samples, 25 spaces: 16 measured, one every 12.5.
    assert.deepEqual(measurementFolds(200, 25)[0], [0, 25, 50, 75, 100, 125, 150, 175]);
    assert.deepEqual(measurementFolds(10, 2, 4), [
      [0, 2, 5, 7],
      [1, 3, 6, 8],
    ]);
    assert.deepEqual(measurementFolds(5, 2, 4), [[0, 1, 2, 3]]);
  });

  it('judges an interpolation on samples it was not fitted on', async () => {
    // 12 samples, 16 hidden neurons: any 12 of them reproduce the 12 calibration rows exactly, so the
    // in-sample error of keeping 12 is nil, and says nothing of other inputs.
    const model = gemmChain(1);
    const calibration = (a: { inputs: Parameters<typeof makeDataset>[1] }) =>
      makeDataset(new Map([['x', floatData([12, 8], 5)]]), a.inputs, 'calib');
    const prepared = await prepareCompression(model, calibration, nodeRuntime, {
      mode: 'plain',
      allocation: 'measured',
    });
    await compressPrepared(prepared, { budget: { kind: 'flops', fraction: 0.8 } });
    const heldOut = prepared.sensitivity.known!.get(0)!;

    const products = runtimeProducts(nodeRuntime);
    try {
      const space = prepared.analysis.spaces[0];
      const gram = prepared.statistics.grams.get(`0|${space.consumers[0].reads}`)!;
      const inSample = await outputErrorCurves(
        prepared.model,
        [space],
        prepared.statistics.rankings,
        [
          {
            samples: Array.from({ length: 12 }, (_, i) => i),
            decide: async (s, keep) => ({
              space: s,
              keep,
              interpolation: new Map([[s.consumers[0].reads, await interpolationMatrix(gram, keep, products)]]),
            }),
          },
        ],
        outputKinds(prepared.model, prepared.analysis.shapes),
        prepared.pass,
        products,
      );
      assert.ok(inSample.get(0)![12] < 1e-6, `in-sample error ${inSample.get(0)![12]}`);
    } finally {
      await products.release();
    }
    assert.ok(heldOut[12] > 1e-3, `held-out error ${heldOut[12]}`);
  });
});

describe('output-error curves between and beyond the measured sizes', () => {
  const own = Float64Array.from({ length: 11 }, (_, k) => (10 - k) / 10);
  const curve = curveThrough(
    [
      { k: 10, value: 0 },
      { k: 6, value: 0.2 },
      { k: 4, value: 0.3 },
    ],
    own,
  );

  it('passes through the measured points and follows the own curve between them', () => {
    assert.equal(curve[10], 0);
    assert.ok(Math.abs(curve[6] - 0.2) < 1e-12 && Math.abs(curve[4] - 0.3) < 1e-12);
    assert.ok(Math.abs(curve[8] - 0.1) < 1e-12);
  });

  it('below the smallest measured size, grows at least as 1/k', () => {
    assert.ok(Math.abs(curve[2] - 0.6) < 1e-12);
    assert.ok(Math.abs(curve[1] - 1.2) < 1e-12);
    assert.ok(curve[0] >= curve[1]);
  });
});
