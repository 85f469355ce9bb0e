import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wilsonInterval } from '../src/api/held-out.ts';
import { compress, evaluate } from '../src/index.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { formatCompression } from '../src/report/text.ts';
import { gemmChain } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

describe('the held-out estimate (--estimate)', () => {
  it('a 95% interval that stays honest when every held-out sample agrees', () => {
    const [low, high] = wilsonInterval(1, 16);
    assert.ok(Math.abs(low - 0.806) < 0.001, `low ${low}`);
    assert.equal(high, 1);
    const [a, b] = wilsonInterval(0.5, 100);
    assert.ok(Math.abs(a - 0.404) < 0.001 && Math.abs(b - 0.596) < 0.001, `${a}, ${b}`);
  });

  it('is the agreement of a compression of three quarters of the samples on the fourth it did not see', async () => {
    const model = encodeModel(gemmChain(1));
    const calib = floatData([64, 8], 21);
    const values = calib.data as Float32Array;
    const sample = (i: number) => values.subarray(8 * i, 8 * i + 8);
    const split = (keep: (i: number) => boolean) => {
      const rows = Array.from({ length: 64 }, (_, i) => i).filter(keep);
      const data = new Float32Array(8 * rows.length);
      rows.forEach((i, r) => {
        data.set(sample(i), 8 * r);
      });
      return { data, shape: [rows.length, 8] };
    };
    const options = { targetFlops: 0.6, mode: 'plain' as const };
    const { report } = await compress(model, { data: values, shape: calib.shape }, { ...options, estimate: true });
    assert.equal(report.estimate!.samples, 16);
    assert.equal(report.estimate!.fitSamples, 48);
    assert.match(
      formatCompression(report),
      new RegExp(
        /^estimate +\d+\.\d\d% same top-1 \(95% interval [\d.]+%–[\d.]+%\) /.source +
          /on 16 calibration samples unseen by a compression fitted on the other 48$/.source,
        'm',
      ),
    );

    // The same, by hand: compress on samples 0, 1, 2, 4, …, compare on 3, 7, 11, ….
    const { model: onFit } = await compress(
      model,
      split((i) => i % 4 !== 3),
      options,
    );
    const check = await evaluate(
      model,
      onFit,
      split((i) => i % 4 === 3),
      { runs: 1 },
    );
    assert.equal(report.estimate!.agreement, check.agreement);
    assert.ok(Math.abs(report.estimate!.relativeL2 - check.relativeL2) < 1e-6);
  });
});
