// End to end on the Llama-style character model of scripts/make_llama_fixture.py (RMSNorm, rotary
// positions, 6 query heads over 2 key/value heads, SwiGLU, tied embeddings), exported with a KV
// cache in the layout Optimum and transformers.js use.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ModelProto } from 'onnx-buf';
import { makeDataset, sampleDims } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { applySurgery } from '../src/compress/surgery.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { zeros } from '../src/linalg/matrix.ts';
import { unevenState } from '../src/report/report.ts';
import { compareModels } from '../src/evaluate/compare.ts';
import { parseNpz } from '../src/data/npz.ts';
import { continuations, decoderCallOf } from '../src/evaluate/generate.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const calibration = parseNpz(fixture('llama_calib.npz'), 'llama_calib.npz');
const heldout = parseNpz(fixture('llama_heldout.npz'), 'llama_heldout.npz');
const KV_HEADS = 2;
const HEAD_WIDTH = 16;
const LAYERS = 4;

const declaredDims = (model: ModelProto, name: string) => {
  const info = [...model.graph!.input, ...model.graph!.output].find((v) => v.name === name)!;
  const tensor = info.type!.value.value as { shape: { dim: { value: { case?: string; value?: unknown } }[] } };
  return tensor.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : '?'));
};

/** The first `tokens` of `rows` held-out windows. */
function prompts(rows: number, tokens: number): BigInt64Array {
  const ids = heldout.get('input_ids')!;
  const width = ids.shape[1];
  return BigInt64Array.from({ length: rows * tokens }, (_, i) =>
    BigInt((ids.data as BigInt64Array)[Math.floor(i / tokens) * width + (i % tokens)]),
  );
}

let halved: Promise<ModelProto> | undefined;
/** The KV-cache model with one of the two key/value groups of every layer removed, calibrated from token ids. */
function withHalfTheGroups(): Promise<ModelProto> {
  halved ??= compressModel(
    decodeModel(fixture('llama_kv.onnx')),
    (a) => makeDataset(new Map([['input_ids', calibration.get('input_ids')!]]), a.inputs, 'calib'),
    nodeRuntime,
    { budget: { kind: 'keep', heads: 0.5 } },
  ).then((result) => {
    const groups = result.outcomes.filter((o) => o.space.unit > 1);
    assert.deepEqual(
      groups.map((o) => `${o.kept}/${o.space.channels}`),
      Array(LAYERS).fill('1/2'),
    );
    return result.model;
  });
  return halved;
}

describe('Llama-style decoder with a KV cache', () => {
  it('measures next-token accuracy and perplexity from per-position labels as PyTorch did (llama.json)', async () => {
    const model = fixture('llama_kv.onnx');
    const { results } = JSON.parse(readFileSync(new URL('./fixtures/llama.json', import.meta.url), 'utf8'));
    const inputs = inputSpecs(decodeModel(model));
    const comparison = await compareModels(model, model, {
      runtime: nodeRuntime,
      dataset: makeDataset(new Map([['input_ids', heldout.get('input_ids')!]]), inputs, 'heldout'),
      inputs,
      batchSize: 128,
      labels: heldout.get('targets')!.data as BigInt64Array,
    });
    assert.equal(comparison.rows, 512 * 64);
    assert.ok(Math.abs(comparison.perplexity!.original - results.heldout_perplexity) < 1e-3);
    assert.ok(Math.abs(comparison.accuracy!.original - results.heldout_accuracy) < 1e-3);
  });

  it('calibrates from token ids alone: an empty cache, every position attended, positions 0…T−1', () => {
    const model = decodeModel(fixture('llama_kv.onnx'));
    const dataset = makeDataset(new Map([['input_ids', calibration.get('input_ids')!]]), inputSpecs(model), 'calib');
    assert.deepEqual(dataset.arrays['past_key_values.0.key'].shape, [256, KV_HEADS, 0, HEAD_WIDTH]);
    assert.deepEqual(Array.from(dataset.arrays.position_ids.rows(1, 1) as BigInt64Array).slice(0, 3), [0n, 1n, 2n]);
    assert.deepEqual(dataset.arrays.attention_mask.shape, [256, 64]);
  });

  it('keeps whole key/value groups with their query heads, and the cache narrows in the signature', async () => {
    const model = await withHalfTheGroups();
    for (let layer = 0; layer < LAYERS; layer++) {
      assert.deepEqual(declaredDims(model, `past_key_values.${layer}.key`), ['?', 1, '?', HEAD_WIDTH]);
      assert.deepEqual(declaredDims(model, `present.${layer}.value`), ['?', 1, '?', HEAD_WIDTH]);
    }
  });

  it('the report notes a cache whose shape now differs from layer to layer, and not one narrowed alike', async () => {
    const model = decodeModel(fixture('llama_kv.onnx'));
    const dataset = makeDataset(new Map([['input_ids', calibration.get('input_ids')!]]), inputSpecs(model), 'calib');
    const { spaces } = await analyzeModel(model, nodeRuntime, { sampleDims: sampleDims(dataset) });
    const groups = spaces.filter((s) => s.prunable && s.unit > 1);
    const firstLayerOnly = await applySurgery(model, [
      { space: groups[0], keep: [0], interpolation: new Map(groups[0].consumers.map((c) => [c.reads, zeros(48, 96)])) },
    ]);
    assert.equal(unevenState(firstLayerOnly), true);
    assert.equal(unevenState(await withHalfTheGroups()), false);
  });

  it('the compressed model generates the same tokens with its narrowed cache as without a cache', async () => {
    const model = await withHalfTheGroups();
    const call = decoderCallOf(model);
    assert.equal(call.cache.length, 2 * LAYERS);
    const session = await nodeRuntime.load(encodeModel(model));
    try {
      const start = prompts(8, 24);
      const cached = await continuations(session, call, start, 8, 16, true);
      const whole = await continuations(session, call, start, 8, 16, false);
      assert.deepEqual(cached, whole);
    } finally {
      await session.release();
    }
  });
});
