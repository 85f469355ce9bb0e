import { emptyCacheDims } from '../calibrate/decoder-inputs.ts';
import { IdpruneError } from '../errors.ts';
import { quantile } from '../onnx/latency.ts';
import { argmax } from './compare.ts';
import type { Feeds, HostTensor, InferenceSession, Runtime } from '../onnx/runtime.ts';
import type { ModelProto } from 'onnx-buf';
import { carriedState } from '../onnx/graph-index.ts';
import { type InputSpec, inputSpecs } from '../onnx/shapes.ts';

/**
 * Greedy generation, the test a language model's user applies: each model continues the same
 * prompts, one token at a time, always taking its own most likely next token. With a KV cache
 * (Optimum's layout: past_key_values.N.key|value in, present.N.key|value out) every step feeds the
 * new token alone with the cache of the previous steps; without one, the whole sequence so far.
 */

/** How a decoder is called: its token input, its optional mask and positions, the cache pairs. */
export interface DecoderCall {
  ids: string;
  mask?: string;
  positions?: string;
  logits: string;
  /** Past input → present output, with the input's dims (null for free axes). */
  cache: { input: string; output: string; dims: (number | null)[] }[];
}

export interface GenerationComparison {
  prompts: number;
  promptTokens: number;
  steps: number;
  /** Share of prompts whose continuations are the same token for token. */
  identical: number;
  /** Share of generated positions before the first difference, over all prompts. */
  matchingPrefix: number;
  /** Decode steps per second at batch 1 (the candidate's ÷ the original's), median of interleaved prompts. */
  tokensPerSecondRatio: number;
}

/** The call of a decoder whose inputs are token ids (int64 `input_ids`), with a cache where it has one. */
export function decoderCall(
  inputs: readonly InputSpec[],
  outputs: readonly string[],
  state: ReadonlyMap<string, string>,
): DecoderCall {
  const ids = inputs.find((i) => i.name === 'input_ids') ?? (inputs.length === 1 ? inputs[0] : undefined);
  if (!ids?.type.startsWith('int') || ids.dims.length !== 2)
    throw new IdpruneError('generation needs a model whose input is token ids [batch, tokens] ("input_ids")');
  const byInput = new Map([...state].map(([output, input]) => [input, output]));
  const cache = inputs
    .filter((i) => byInput.has(i.name))
    .map((i) => ({ input: i.name, output: byInput.get(i.name)!, dims: i.dims }));
  const known = new Set([ids.name, 'attention_mask', 'position_ids', ...cache.map((c) => c.input)]);
  const unknown = inputs.filter((i) => !known.has(i.name));
  if (unknown.length > 0)
    throw new IdpruneError(`generation does not know what to feed model input "${unknown[0].name}"`);
  const logits = outputs.find((o) => !state.has(o));
  if (!logits) throw new IdpruneError('the model has no output besides its cache');
  const has = (name: string) => inputs.some((i) => i.name === name);
  return {
    ids: ids.name,
    mask: has('attention_mask') ? 'attention_mask' : undefined,
    positions: has('position_ids') ? 'position_ids' : undefined,
    logits,
    cache,
  };
}

/** The call of a decoder model, its cache found as the state it carries from call to call. */
export function decoderCallOf(model: ModelProto): DecoderCall {
  return decoderCall(
    inputSpecs(model),
    model.graph!.output.map((o) => o.name),
    carriedState(model.graph!),
  );
}

/**
 * Greedy continuations of `steps` tokens for each prompt row ([rows, promptTokens] token ids),
 * with the cache carried from step to step where the model has one (`incremental`), else the whole
 * sequence at every step.
 */
export async function continuations(
  session: InferenceSession,
  call: DecoderCall,
  prompts: BigInt64Array,
  rows: number,
  steps: number,
  incremental = call.cache.length > 0,
): Promise<BigInt64Array> {
  const promptTokens = prompts.length / rows;
  const generated = new BigInt64Array(rows * steps);
  let sequence = prompts;
  let cache: Record<string, HostTensor> | undefined;
  for (let step = 0; step < steps; step++) {
    const length = promptTokens + step;
    const fed = cache ? lastTokens(sequence, rows, length) : sequence;
    const fedTokens = cache ? 1 : length;
    const feeds: Feeds = { [call.ids]: int64([rows, fedTokens], fed) };
    if (call.mask) feeds[call.mask] = int64([rows, length], new BigInt64Array(rows * length).fill(1n));
    if (call.positions) {
      const from = length - fedTokens;
      feeds[call.positions] = int64(
        [rows, fedTokens],
        BigInt64Array.from({ length: rows * fedTokens }, (_, i) => BigInt(from + (i % fedTokens))),
      );
    }
    for (const c of call.cache) feeds[c.input] = cache?.[c.output] ?? emptyCache(c.dims, rows);
    const outputs = await session.run(feeds, [call.logits, ...(incremental ? call.cache.map((c) => c.output) : [])]);
    const next = lastArgmax(outputs[call.logits], rows, fedTokens);
    if (incremental) cache = outputs;
    const grown = new BigInt64Array(rows * (length + 1));
    for (let r = 0; r < rows; r++) {
      grown.set(sequence.subarray(r * length, (r + 1) * length), r * (length + 1));
      grown[r * (length + 1) + length] = next[r];
      generated[r * steps + step] = next[r];
    }
    sequence = grown;
  }
  return generated;
}

/** Both models continue every prompt; then each times `timed` prompts at batch 1, in turn. */
export async function compareGeneration(
  runtime: Runtime,
  original: Uint8Array,
  candidate: Uint8Array,
  calls: [DecoderCall, DecoderCall],
  prompts: BigInt64Array,
  rows: number,
  steps: number,
  timed = 8,
): Promise<GenerationComparison> {
  const sessions = [await runtime.load(original), await runtime.load(candidate)];
  try {
    const [a, b] = await Promise.all(sessions.map((s, i) => continuations(s, calls[i], prompts, rows, steps)));
    let identical = 0;
    let prefix = 0;
    for (let r = 0; r < rows; r++) {
      let same = 0;
      while (same < steps && a[r * steps + same] === b[r * steps + same]) same++;
      if (same === steps) identical++;
      prefix += same;
    }
    const promptTokens = prompts.length / rows;
    const ratios: number[] = [];
    for (let r = 0; r < Math.min(timed, rows); r++) {
      const prompt = prompts.subarray(r * promptTokens, (r + 1) * promptTokens);
      const seconds: number[] = [];
      for (const [i, session] of sessions.entries()) {
        const start = performance.now();
        await continuations(session, calls[i], prompt, 1, steps);
        seconds.push(performance.now() - start);
      }
      ratios.push(seconds[0] / seconds[1]);
    }
    return {
      prompts: rows,
      promptTokens,
      steps,
      identical: identical / rows,
      matchingPrefix: prefix / (rows * steps),
      tokensPerSecondRatio: quantile(ratios, 0.5),
    };
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

function int64(dims: number[], data: BigInt64Array): HostTensor {
  return { type: 'int64', dims, data };
}

function emptyCache(dims: readonly (number | null)[], rows: number): HostTensor {
  return { type: 'float32', dims: emptyCacheDims(dims, rows), data: new Float32Array(0) };
}

function lastTokens(sequence: BigInt64Array, rows: number, length: number): BigInt64Array {
  return BigInt64Array.from({ length: rows }, (_, r) => sequence[r * length + length - 1]);
}

/** The most likely token at the last position of each row of logits [rows, tokens, vocabulary]. */
function lastArgmax(logits: HostTensor, rows: number, tokens: number): bigint[] {
  const values = logits.data as Float32Array;
  const vocabulary = values.length / (rows * tokens);
  return Array.from({ length: rows }, (_, r) =>
    BigInt(argmax(values, (r * tokens + tokens - 1) * vocabulary, vocabulary)),
  );
}
