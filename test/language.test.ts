// End to end on the character-level GPT of scripts/make_gpt_fixture.py, written the nanoGPT way:
// positions from Range over the input length, a causal mask by masked_fill, head shapes computed
// from x.size(). Agreement is per token (the same next character at every position).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { parseNpz } from '../src/data/npz.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { compareModels } from '../src/evaluate/compare.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

describe('nanoGPT-style character model', () => {
  it(
    'loses a quarter of its heads under --keep-heads 0.75 ' + 'and agrees per token on ≥ 80% of held-out characters',
    async () => {
      const original = fixture('gpt.onnx');
      const calibration = parseNpz(fixture('gpt_calib.npz'), 'gpt_calib.npz');
      const heldout = parseNpz(fixture('gpt_heldout.npz'), 'gpt_heldout.npz');
      const result = await compressModel(
        decodeModel(original),
        (a) => makeDataset(calibration, a.inputs, 'calib'),
        nodeRuntime,
        { budget: { kind: 'keep', heads: 0.75 } },
      );
      const heads = result.outcomes.filter((o) => o.space.unit > 1);
      assert.equal(heads.length, 4, 'one space of heads per block');
      assert.deepEqual(
        heads.map((o) => `${o.kept}/${o.space.channels}`),
        ['3/4', '3/4', '3/4', '3/4'],
      );
      const inputs = result.analysis.inputs;
      const comparison = await compareModels(original, result.bytes, {
        runtime: nodeRuntime,
        dataset: makeDataset(heldout, inputs, 'heldout'),
        inputs,
        batchSize: 128,
      });
      assert.ok(comparison.agreement >= 0.8, `per-token agreement ${comparison.agreement}`);
    },
  );
});
