// Decoder benchmark (npm run bench:decoder): the Llama-style character model of
// scripts/make_llama_fixture.py with its KV cache, calibrated from token ids alone, at parameter
// targets 0.9, 0.8 and 0.6 (and 0.6 with the residual stream kept whole) and with half its
// key/value groups; idprune beside magnitude, random, Wanda-sp and FLAP-style selections at the same
// sizes. Per model: next-token agreement with the original over every held-out position, held-out
// perplexity, greedy continuations generated with the cache (identical to the original's token for
// token), and decode speed at batch 1 with the cache. Writes bench/decoder.md and .json.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Budget } from '../src/compress/allocate.ts';
import { compareGeneration, decoderCallOf, type GenerationComparison } from '../src/evaluate/generate.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { loadHeldout, loadModel } from './fixtures.ts';
import { analyzeFixture, compressAndMeasure } from './measure.ts';

const FIXTURE = 'llama_kv';
/** Target, budget, and whether the residual stream stays whole (--skip its embedding; no peers then). */
const CONFIGS: [string, Budget, boolean][] = [
  ['params 0.9', { kind: 'params', fraction: 0.9 }, false],
  ['params 0.8', { kind: 'params', fraction: 0.8 }, false],
  ['params 0.6', { kind: 'params', fraction: 0.6 }, false],
  ['params 0.6, stream whole', { kind: 'params', fraction: 0.6 }, true],
  ['groups 0.5', { kind: 'keep', heads: 0.5 }, false],
];
const PROMPTS = 64;
const PROMPT_TOKENS = 32;
const STEPS = 32;

interface DecoderRow {
  target: string;
  method: string;
  /** Kept width of the residual stream. */
  stream: string;
  params: number;
  flops: number;
  agreement: number;
  perplexity: number;
  generation: GenerationComparison;
}

const heldout = loadHeldout(FIXTURE);
const ids = heldout.get('input_ids')!;
const windowTokens = ids.shape[1];
const allIds = ids.rows(0, ids.shape[0]) as BigInt64Array;
const prompts = BigInt64Array.from(
  { length: PROMPTS * PROMPT_TOKENS },
  (_, i) => allIds[Math.floor(i / PROMPT_TOKENS) * windowTokens + (i % PROMPT_TOKENS)],
);

const callOf = (bytes: Uint8Array) => decoderCallOf(decodeModel(bytes));

const original = loadModel(FIXTURE);
const analysis = await analyzeFixture(FIXTURE, original);
const base = { flops: analysis.flops, params: analysis.params };
let originalPerplexity = Number.NaN;
const stream = analysis.spaces.find((s) => s.norms.length > 0)!;
const rows: DecoderRow[] = [];
for (const [target, budget, streamWhole] of CONFIGS) {
  const flags = streamWhole ? ['skip=/model/embed_tokens/Gather'] : ['peers'];
  const run = await compressAndMeasure(FIXTURE, original, base, budget, 'corrected', target, flags);
  type Sized = {
    params: number;
    flops: number;
    agreement: number;
    perplexity?: { original: number; candidate: number };
  };
  const models: [string, string, Sized][] = [
    ['idprune corrected', run.file, run.measured],
    ...run.peers.map((p): [string, string, Sized] => [p.method, p.file, p.measured]),
  ];
  for (const [method, path, measured] of models) {
    const candidate = new Uint8Array(readFileSync(path));
    originalPerplexity = measured.perplexity!.original;
    const generation = await compareGeneration(
      nodeRuntime,
      original,
      candidate,
      [callOf(original), callOf(candidate)],
      prompts,
      PROMPTS,
      STEPS,
    );
    const row = {
      target,
      method,
      stream: `${run.kept[stream.id]?.kept ?? stream.channels}/${stream.channels}`,
      params: measured.params,
      flops: measured.flops,
      agreement: measured.agreement,
      perplexity: measured.perplexity!.candidate,
      generation,
    };
    rows.push(row);
    console.error(
      `${target} ${method}: agreement ${(100 * row.agreement).toFixed(2)}%, perplexity ` +
        `${row.perplexity.toFixed(3)} (original ${originalPerplexity.toFixed(3)}), identical continuations ` +
        `${(100 * generation.identical).toFixed(1)}%`,
    );
  }
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const markdown = [
  '# Decoder benchmark',
  '',
  `Written by \`npm run bench:decoder\` on ${new Date().toISOString().slice(0, 10)} ` +
    `(${process.platform}, ${process.arch}, Node ${process.version}).`,
  'The Llama-style character model of `scripts/make_llama_fixture.py` (4 blocks, width 96, RMSNorm, rotary positions,',
  '6 query heads over 2 key/value heads, SwiGLU of 256, tied embeddings; PyTorch export at opset 14 with a KV cache in',
  "Optimum's layout), trained on Reuters-21578 articles. Calibrated from the token ids of 256 training windows of 64",
  'characters alone (idprune supplies the empty cache, the mask and the positions). "agreement": the same next',
  'character as the original at each of the 32768 positions of 512 held-out windows; "perplexity" over the same',
  `positions (original: ${originalPerplexity.toFixed(3)}); "identical": greedy continuations of ${STEPS} characters`,
  `after the first ${PROMPT_TOKENS} of ${PROMPTS} held-out windows, generated with the cache, equal to the original's`,
  'token for token; "same prefix": the share of generated positions before the first difference; "tokens/s ratio":',
  "the candidate's decode speed ÷ the original's at batch 1 with the cache (median of 8 prompts, interleaved).",
  'Peers use the per-layer sizes of `idprune corrected`. The parameter targets choose among feed-forward neurons,',
  'whole key/value groups and the residual stream (through RMSNorm); "stream whole" keeps the stream',
  '(--skip of the embedding, which is in its space) and shows what pruning it gives.',
  '',
  '| target | method | stream | params | FLOPs | agreement | perplexity | identical | same prefix | tokens/s ratio |',
  '|--------|--------|--------|--------|-------|-----------|------------|-----------|-------------|----------------|',
  ...rows.map((r) => {
    const change = 100 * (r.perplexity / originalPerplexity - 1);
    const speed = r.method.startsWith('idprune') ? r.generation.tokensPerSecondRatio.toFixed(2) : '';
    return (
      `| ${r.target} | ${r.method} | ${r.stream} | ${r.params.toFixed(3)} | ${r.flops.toFixed(3)} | ` +
      `${pct(r.agreement)} | ${r.perplexity.toFixed(3)} (${change >= 0 ? '+' : ''}${change.toFixed(1)}%) | ` +
      `${pct(r.generation.identical)} | ${pct(r.generation.matchingPrefix)} | ${speed} |`
    );
  }),
  '',
].join('\n');
writeFileSync(new URL('./decoder.md', import.meta.url), markdown);
writeFileSync(new URL('./decoder.json', import.meta.url), `${JSON.stringify({ originalPerplexity, rows }, null, 2)}\n`);
console.log(markdown);
