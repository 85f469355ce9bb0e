// --target-agreement / --target-cosine: the smallest FLOPs that meets a target on calibration
// samples held out from the fit, found by compressions of the other three quarters.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compress, IdpruneError } from '../src/index.ts';
import { parseNpy } from '../src/data/npy.ts';
import { formatCompression } from '../src/report/text.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const vgg = fixture('vgg.onnx');
const calib = parseNpy(fixture('calib.npy'), 'calib.npy');
// 200 calibration images of a trained model: a held-out quarter of 50.
const calibration = { data: (calib.data as Float32Array).subarray(0, 200 * 784), shape: [200, 1, 28, 28] };

describe('a target in held-out agreement (--target-agreement)', () => {
  it('compresses to the smallest FLOPs fraction tried whose held-out agreement met the target', async () => {
    const { report } = await compress(vgg, calibration, { targetAgreement: 0.97, mode: 'plain' });
    const search = report.search!;
    assert.equal(search.metric, 'agreement');
    const met = search.tried.filter((t) => t.value !== null && t.value >= 0.97).map((t) => t.flops);
    const chosen = Math.min(...met);
    assert.ok(chosen < 1, 'some compression met 97%');
    // Bisection: every fraction tried below the chosen one failed, to 1/64.
    for (const t of search.tried)
      if (t.flops < chosen) assert.ok(t.value === null || t.value < 0.97, `flops ${t.flops}`);
    assert.ok(
      search.tried.some((t) => t.flops < chosen && chosen - t.flops <= 1 / 64 + 1e-12),
      'resolved to 1/64',
    );
    assert.ok(report.estimate!.agreement >= 0.97);
    assert.equal(report.estimate!.samples, 50);
    assert.ok(
      Math.abs(report.after.flops / report.before.flops - chosen) < 0.03,
      `FLOPs ${report.after.flops / report.before.flops} vs ${chosen}`,
    );
    assert.match(
      formatCompression(report),
      /^search +agreement ≥ 97\.00% on held-out calibration samples: 50\.0% FLOPs [\d.]+%, /m,
    );
  });

  it('with a cosine target, leads its estimate with the cosine', async () => {
    const { report } = await compress(vgg, calibration, { targetCosine: 0.99, mode: 'plain' });
    assert.ok(report.estimate!.cosine >= 0.99);
    assert.match(formatCompression(report), /^estimate +cosine 0\.99\d+ of the outputs on 50 calibration samples/m);
  });

  it('keeps the model whole when no smaller compression meets the target', async () => {
    // A cosine of exactly 1 is met only by the original.
    const { report } = await compress(vgg, calibration, { targetCosine: 1, mode: 'plain' });
    assert.ok(report.search!.tried.every((t) => t.value === null || t.value < 1));
    assert.equal(report.estimate, undefined);
    assert.equal(report.after.flops, report.before.flops);
    assert.match(formatCompression(report), /no smaller model met it, nothing was pruned/);
  });

  it('is one target among the others', async () => {
    await assert.rejects(
      compress(vgg, calibration, { targetAgreement: 0.99, targetFlops: 0.5 }),
      (e: Error) => e instanceof IdpruneError && /give one of/.test(e.message),
    );
    await assert.rejects(
      compress(vgg, calibration, { targetAgreement: 1.5 }),
      (e: Error) => e instanceof IdpruneError && /targetAgreement/.test(e.message),
    );
  });
});
