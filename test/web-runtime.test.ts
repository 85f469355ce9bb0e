// The compressed KV-cache decoder in the browser's runtime: onnxruntime-web (WebAssembly) in
// Debian's Chromium gives the outputs onnxruntime-node gives, for a prompt and a decode step.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { parseNpz } from '../src/data/npz.ts';
import { inOrtPage } from '../src/io/web-latency.ts';
import { decodeModel } from '../src/onnx/model.ts';
import type { Feeds } from '../src/onnx/runtime.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
import { maxAbsDiff } from './helpers/run.ts';

const CHROMIUM = '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

/** Plain arrays of a call's feeds: what crosses into the page. */
interface PlainFeed {
  type: 'int64' | 'float32';
  dims: number[];
  data: number[];
}

const LAYERS = 4;
const ROWS = 2;
const PROMPT = 12;

describe('the compressed KV-cache decoder in onnxruntime-web', { skip: noBrowser }, () => {
  let model: Uint8Array;

  before(async () => {
    const calibration = parseNpz(fixture('llama_calib.npz'), 'llama_calib.npz');
    // 0.6 of the parameters: feed-forward neurons and the residual stream, its RMSNorms reconstructing
    // the removed channels (added MatMul and Concat nodes).
    const result = await compressModel(
      decodeModel(fixture('llama_kv.onnx')),
      (a) => makeDataset(new Map([['input_ids', calibration.get('input_ids')!]]), a.inputs, 'calib'),
      nodeRuntime,
      { budget: { kind: 'params', fraction: 0.6 } },
    );
    model = result.bytes;
    assert.ok(result.model.graph!.node.some((n) => n.name.endsWith('_whole_stream_concat')));
  });

  it('gives the outputs of onnxruntime-node for a prompt on an empty cache and a step on that cache', async () => {
    const inputs = inputSpecs(decodeModel(model));
    const ids = (parseNpz(fixture('llama_heldout.npz'), 'llama_heldout.npz').get('input_ids')!.data as BigInt64Array)
      .slice(0, ROWS * 64)
      .filter((_, i) => i % 64 < PROMPT + 1);
    const prompt: Feeds = {
      input_ids: { type: 'int64', dims: [ROWS, PROMPT], data: ids.filter((_, i) => i % (PROMPT + 1) < PROMPT) },
      attention_mask: { type: 'int64', dims: [ROWS, PROMPT], data: new BigInt64Array(ROWS * PROMPT).fill(1n) },
      position_ids: {
        type: 'int64',
        dims: [ROWS, PROMPT],
        data: BigInt64Array.from({ length: ROWS * PROMPT }, (_, i) => BigInt(i % PROMPT)),
      },
    };
    for (const input of inputs.filter((i) => i.name.startsWith('past_key_values.')))
      prompt[input.name] = {
        type: 'float32',
        dims: [ROWS, input.dims[1]!, 0, input.dims[3]!],
        data: new Float32Array(0),
      };
    const next = ids.filter((_, i) => i % (PROMPT + 1) === PROMPT);
    const step = (cache: Record<string, { dims: number[]; data: ArrayLike<number> }>): Feeds => {
      const feeds: Feeds = {
        input_ids: { type: 'int64', dims: [ROWS, 1], data: next },
        attention_mask: {
          type: 'int64',
          dims: [ROWS, PROMPT + 1],
          data: new BigInt64Array(ROWS * (PROMPT + 1)).fill(1n),
        },
        position_ids: { type: 'int64', dims: [ROWS, 1], data: new BigInt64Array(ROWS).fill(BigInt(PROMPT)) },
      };
      for (let layer = 0; layer < LAYERS; layer++)
        for (const kind of ['key', 'value']) {
          const present = cache[`present.${layer}.${kind}`];
          feeds[`past_key_values.${layer}.${kind}`] = {
            type: 'float32',
            dims: present.dims,
            data: Float32Array.from(present.data),
          };
        }
      return feeds;
    };

    const session = await nodeRuntime.load(model);
    const nodePrompt = await session.run(prompt);
    const nodeStep = await session.run(step(nodePrompt as never));
    await session.release();

    const plain = (feeds: Feeds): Record<string, PlainFeed> =>
      Object.fromEntries(
        Object.entries(feeds).map(([name, t]) => [
          name,
          {
            type: t.type as PlainFeed['type'],
            dims: t.dims,
            data: Array.from(t.data as ArrayLike<number | bigint>, Number),
          },
        ]),
      );
    await inOrtPage(new Map([['/model.onnx', model]]), async (page) => {
      // tsx keeps function names with a helper that the functions sent to the page call.
      await page.evaluate('globalThis.__name = (f) => f');
      // The prompt on an empty cache, then one step on the cache the page's own run returned.
      const web = await page.evaluate(
        async ({ first, next }) => {
          // biome-ignore lint/suspicious/noExplicitAny: the page's global from ort.wasm.min.js
          const ort = (globalThis as any).ort;
          ort.env.wasm.numThreads = 1;
          ort.env.wasm.wasmPaths = '/ort/';
          const session = await ort.InferenceSession.create('/model.onnx');
          const tensors = (feeds: Record<string, PlainFeed>) =>
            Object.fromEntries(
              Object.entries(feeds).map(([name, f]) => [
                name,
                new ort.Tensor(
                  f.type,
                  f.type === 'int64' ? BigInt64Array.from(f.data, BigInt) : Float32Array.from(f.data),
                  f.dims,
                ),
              ]),
            );
          const prompt = await session.run(tensors(first));
          const stepFeeds = tensors(next);
          for (const [name, value] of Object.entries(prompt))
            if (name.startsWith('present.')) stepFeeds[name.replace('present.', 'past_key_values.')] = value;
          const step = await session.run(stepFeeds);
          return {
            prompt: Array.from(prompt.logits.data as Float32Array),
            step: Array.from(step.logits.data as Float32Array),
          };
        },
        {
          first: plain(prompt),
          next: Object.fromEntries(
            Object.entries(plain(step(nodePrompt as never))).filter(([name]) => !name.startsWith('past_')),
          ),
        },
      );

      const promptDiff = maxAbsDiff(web.prompt, nodePrompt.logits.data as Float32Array);
      const stepDiff = maxAbsDiff(web.step, nodeStep.logits.data as Float32Array);
      assert.ok(promptDiff < 1e-4, `prompt logits differ by ${promptDiff}`);
      assert.ok(stepDiff < 1e-4, `step logits differ by ${stepDiff}`);
    });
  });
});
