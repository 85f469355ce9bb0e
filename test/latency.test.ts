// The latency ratio and its spread, from paired run times (src/onnx/latency.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantile, summarizeLatency } from '../src/onnx/latency.ts';

const SETTING = { batch: 1, threads: 1 };

describe('the latency summary', () => {
  it('interpolates quantiles between order statistics', () => {
    assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
    assert.equal(quantile([1, 2, 3, 4], 0.25), 1.75);
    assert.equal(quantile([1, 2, 3, 4], 1), 4);
    assert.equal(quantile([7], 0.75), 7);
  });

  it("gives the median of the pairs' ratios and their interquartile range", () => {
    const latency = summarizeLatency([10, 10, 10, 10], [5, 6, 7, 8], SETTING);
    assert.ok(Math.abs(latency.ratio - 0.65) < 1e-12);
    assert.ok(Math.abs(latency.ratioSpread[0] - 0.575) < 1e-12 && Math.abs(latency.ratioSpread[1] - 0.725) < 1e-12);
    assert.deepEqual([latency.originalMs, latency.candidateMs, latency.runs], [10, 6.5, 4]);
  });

  it('pairs each candidate run with the original run beside it: a slow moment slows both and cancels', () => {
    // The machine is twice as slow in the second half: the pairs' ratios stay 0.5, the medians' ratio does not.
    const latency = summarizeLatency([10, 10, 20, 20, 20], [5, 5, 10, 10, 10], SETTING);
    assert.deepEqual([latency.ratio, ...latency.ratioSpread], [0.5, 0.5, 0.5]);
  });
});
