// End to end on the trained Fashion-MNIST fixtures (scripts/make_fixtures.py and, for the ViT,
// scripts/make_transformer_fixtures.py): 1000 calibration images from the training set, agreement
// measured on 5000 test images never used for calibration.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { parseNpy } from '../src/data/npy.ts';
import type { Budget } from '../src/compress/allocate.ts';
import { compressModel, type CompressResult } from '../src/compress/pipeline.ts';
import { compareModels } from '../src/evaluate/compare.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const calibration = new Map([['input', parseNpy(fixture('calib.npy'), 'calib.npy')]]);
const heldout = new Map([['input', parseNpy(fixture('heldout.npy'), 'heldout.npy')]]);

async function compressAndCompare(name: string, budget: Budget, keepCoupled = false) {
  const original = fixture(`${name}.onnx`);
  const result = await compressModel(
    decodeModel(original),
    (a) => makeDataset(calibration, a.inputs, 'calib'),
    nodeRuntime,
    { budget, keepCoupled },
  );
  const after = await analyzeModel(result.model, nodeRuntime);
  const inputs = after.inputs;
  const comparison = await compareModels(original, result.bytes, {
    runtime: nodeRuntime,
    dataset: makeDataset(heldout, inputs, 'heldout'),
    inputs,
    batchSize: 250,
  });
  return {
    result,
    after,
    comparison,
    flops: after.flops / result.analysis.flops,
    params: after.params / result.analysis.params,
  };
}

const prunedSpaces = (result: CompressResult) => result.outcomes.filter((o) => o.kept < o.space.channels);

describe('trained fixtures', () => {
  it('MLP at --target-params 0.5 agrees with the original on ≥ 98.5% of held-out images', async () => {
    const { comparison, params } = await compressAndCompare('mlp', { kind: 'params', fraction: 0.5 });
    assert.ok(params <= 0.5, `params ${params}`);
    assert.ok(comparison.agreement >= 0.985, `agreement ${comparison.agreement}`);
  });

  it('VGG-style CNN at --target-flops 0.5 agrees on ≥ 95.5%', async () => {
    const { comparison, flops } = await compressAndCompare('vgg', { kind: 'flops', fraction: 0.5 });
    assert.ok(flops <= 0.5, `flops ${flops}`);
    assert.ok(comparison.agreement >= 0.955, `agreement ${comparison.agreement}`);
  });

  it(
    'ResNet at --target-flops 0.8 prunes block-internal channels, ' + 'keeps residual streams, agrees on ≥ 97%',
    async () => {
      const { result, comparison, flops } = await compressAndCompare('resnet', { kind: 'flops', fraction: 0.8 }, true);
      assert.ok(flops <= 0.8, `flops ${flops}`);
      const pruned = prunedSpaces(result);
      assert.ok(pruned.length >= 2, `${pruned.length} spaces pruned`);
      assert.ok(
        result.analysis.spaces.some((s) => !s.prunable && /residual/.test(s.reason ?? '')),
        'residual streams stay intact',
      );
      assert.ok(comparison.agreement >= 0.97, `agreement ${comparison.agreement}`);
    },
  );

  it('ResNet at --target-flops 0.5 with its residual streams pruned agrees on ≥ 94.5%', async () => {
    const { result, comparison, flops } = await compressAndCompare('resnet', { kind: 'flops', fraction: 0.5 });
    assert.ok(flops <= 0.5, `flops ${flops}`);
    assert.ok(
      prunedSpaces(result).some((o) => o.space.producers.length > 1),
      'a residual stream is pruned',
    );
    assert.ok(comparison.agreement >= 0.945, `agreement ${comparison.agreement}`);
  });

  it(
    'MobileNetV2-style network (depthwise convs, inverted residuals) ' + 'at --target-flops 0.5 agrees on ≥ 94.5%',
    async () => {
      const { result, comparison, flops } = await compressAndCompare('mobilenet', { kind: 'flops', fraction: 0.5 });
      assert.ok(flops <= 0.5, `flops ${flops}`);
      assert.ok(
        prunedSpaces(result).some((o) => o.space.groups.length > 0),
        'a space through a depthwise Conv is pruned',
      );
      assert.ok(
        prunedSpaces(result).some((o) => o.space.producers.length > 1),
        'a residual stream is pruned',
      );
      assert.ok(comparison.agreement >= 0.945, `agreement ${comparison.agreement}`);
    },
  );

  it('ViT (pre-LayerNorm blocks, 4 heads, GELU) at --target-flops 0.5 agrees on ≥ 96%', async () => {
    const { result, comparison, flops } = await compressAndCompare('vit', { kind: 'flops', fraction: 0.5 });
    assert.ok(flops <= 0.5, `flops ${flops}`);
    assert.ok(
      result.analysis.spaces.some((s) => s.prunable && s.unit > 1),
      'attention heads are prunable',
    );
    assert.ok(comparison.agreement >= 0.96, `agreement ${comparison.agreement}`);
  });
});
