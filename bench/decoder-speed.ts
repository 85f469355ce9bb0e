// Decode speed after compression (npm run bench:decoder-speed): the random-weight Llama-style
// decoder of scripts/make_speed_decoder.py (24.7M parameters, KV cache in Optimum's layout),
// compressed to parameter targets, then both models generate greedily at batch 1 with the cache and
// their tokens per second are compared, prompt by prompt in turn. Random weights: the decisions mean
// nothing here, the speed does. Writes bench/decoder-speed.md and .json.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { compareGeneration, decoderCallOf } from '../src/evaluate/generate.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';

const path = new URL('../.cache/speed/llama_speed_kv.onnx', import.meta.url).pathname;
if (!existsSync(path)) throw new Error(`${path} is missing: run /usr/bin/python3 scripts/make_speed_decoder.py`);
const VOCABULARY = 4096;
const TARGETS = [0.8, 0.6];
const PROMPTS = 8;
const PROMPT_TOKENS = 16;
const STEPS = 64;

let state = 20261208;
const token = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return BigInt(state % VOCABULARY);
};
const calibration = { dtype: 'int64' as const, shape: [64, 64], data: BigInt64Array.from({ length: 64 * 64 }, token) };
const prompts = BigInt64Array.from({ length: PROMPTS * PROMPT_TOKENS }, token);
const original = new Uint8Array(readFileSync(path));
const callOf = (bytes: Uint8Array) => decoderCallOf(decodeModel(bytes));

const rows = [];
for (const fraction of TARGETS) {
  const start = performance.now();
  const result = await compressModel(
    decodeModel(original),
    (a) => makeDataset(new Map([['input_ids', calibration]]), a.inputs, 'calib'),
    nodeRuntime,
    { budget: { kind: 'params', fraction } },
  );
  const seconds = (performance.now() - start) / 1000;
  const before = result.analysis.params;
  const analysis = await analyzeModel(result.model, nodeRuntime);
  const speed = await compareGeneration(
    nodeRuntime,
    original,
    result.bytes,
    [callOf(original), callOf(result.bytes)],
    prompts,
    PROMPTS,
    STEPS,
    PROMPTS,
  );
  const kept = result.outcomes.map((o) => `${o.kept}/${o.space.channels}`).join(' ');
  const row = {
    target: fraction,
    params: analysis.params / before,
    tokensPerSecondRatio: speed.tokensPerSecondRatio,
    compressSeconds: seconds,
    kept,
  };
  rows.push(row);
  console.error(
    `params ${fraction}: kept ${row.params.toFixed(3)} of the parameters, ` +
      `${row.tokensPerSecondRatio.toFixed(2)}× the tokens/s (${seconds.toFixed(0)} s to compress)`,
  );
}

const markdown = [
  '# Decode speed after compression',
  '',
  `Written by \`npm run bench:decoder-speed\` on ${new Date().toISOString().slice(0, 10)} ` +
    `(${process.platform}, ${process.arch}, Node ${process.version}, 2 threads).`,
  'The random-weight Llama-style decoder of `scripts/make_speed_decoder.py` (width 512, 8 blocks, 8 query heads',
  "over 2 key/value heads of 64, SwiGLU 1408, vocabulary 4096; 24.7M parameters; KV cache in Optimum's layout),",
  'calibrated from 64 random sequences of 64 tokens and compressed to each parameter target. Both models then',
  `continue ${PROMPTS} random prompts of ${PROMPT_TOKENS} tokens by ${STEPS} tokens, greedily, at batch 1 with the`,
  'cache, in turn prompt by prompt; "tokens/s ratio" is the median over the prompts of the candidate\'s tokens per',
  "second ÷ the original's. The weights are random: the decisions mean nothing, only the speed does.",
  '',
  '| target | params kept | tokens/s ratio | ÷ params kept | compress time | kept per space |',
  '|--------|-------------|----------------|---------------|---------------|----------------|',
  ...rows.map(
    (r) =>
      `| params ${r.target} | ${r.params.toFixed(3)} | ${r.tokensPerSecondRatio.toFixed(2)} | ` +
      `${(1 / r.tokensPerSecondRatio / r.params).toFixed(2)} | ${r.compressSeconds.toFixed(0)} s | ${r.kept} |`,
  ),
  '',
  '"÷ params kept": the time ratio (1 ÷ tokens/s ratio) over the parameter ratio; 1.1 or less is the goal.',
  '',
].join('\n');
writeFileSync(new URL('./decoder-speed.md', import.meta.url), markdown);
writeFileSync(new URL('./decoder-speed.json', import.meta.url), `${JSON.stringify(rows, null, 2)}\n`);
console.log(markdown);
