import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeDataset, timingFeeds } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { parseNpy } from '../src/data/npy.ts';
import { WEB_RUNTIME, webLatencyMeter } from '../src/io/web-latency.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';

const noBrowser = existsSync('/usr/bin/chromium')
  ? false
  : 'no Chromium at /usr/bin/chromium (apt-get install chromium)';
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

describe('latency in onnxruntime-web (--runtime web)', { skip: noBrowser }, () => {
  it('times the VGG fixture against a third of its FLOPs in Chromium: a ratio below 0.8, with its spread', async () => {
    const original = fixture('vgg.onnx');
    const model = decodeModel(original);
    const calibration = makeDataset(
      new Map([['input', parseNpy(fixture('calib.npy'), 'calib.npy')]]),
      inputSpecs(model),
      'calib',
    );
    const small = await compressModel(model, () => calibration, nodeRuntime, {
      budget: { kind: 'flops', fraction: 0.3 },
      mode: 'plain',
    });
    const feeds = timingFeeds(calibration, calibration.inputs, 16);
    const latency = await webLatencyMeter()(original, small.bytes, feeds, { batch: 16, runs: 10 });
    assert.equal(latency.runtime, WEB_RUNTIME);
    assert.ok(latency.runs >= 10);
    assert.ok(latency.ratio < 0.8, `ratio ${latency.ratio}`);
    assert.ok(latency.ratioSpread[0] <= latency.ratio && latency.ratio <= latency.ratioSpread[1]);
    assert.ok(latency.originalMs > latency.candidateMs);
  });
});
