import type { ArraySource } from '../data/npy.ts';
import type { Feeds } from '../onnx/runtime.ts';
import type { InputSpec } from '../onnx/shapes.ts';

/**
 * The inputs a decoder exported with a KV cache (Optimum's and transformers.js's layout:
 * input_ids, attention_mask, position_ids, past_key_values.N.key|value) needs besides the token
 * ids, as a prompt run from the start supplies them: an empty cache, every position attended,
 * positions 0…T−1. A causal decoder's prompt pass computes at every position what the decode
 * step at that position computes, so its statistics cover both.
 */
export function decoderDefaults(
  inputs: readonly InputSpec[],
  given: ReadonlyMap<string, ArraySource>,
): Map<string, ArraySource> {
  const ids = given.get(TOKEN_IDS);
  const defaults = new Map<string, ArraySource>();
  if (ids?.shape.length !== 2 || !inputs.some(isCache)) return defaults;
  const [count, tokens] = ids.shape;
  for (const input of inputs) {
    if (given.has(input.name)) continue;
    if (isCache(input)) defaults.set(input.name, emptyCache(input, count));
    else if (input.name === 'attention_mask')
      defaults.set(
        input.name,
        perToken(input, count, tokens, () => 1),
      );
    else if (input.name === 'position_ids')
      defaults.set(
        input.name,
        perToken(input, count, tokens, (t) => t),
      );
  }
  return defaults;
}

const TOKEN_IDS = 'input_ids';

/** A past key or value: a float input named past_… with its samples first and one free length axis. */
export function isCache(input: InputSpec): boolean {
  return (
    input.name.startsWith('past_') &&
    input.type.startsWith('float') &&
    input.dims.length >= 3 &&
    input.dims.slice(1).filter((d) => d === null).length === 1
  );
}

/** The shape of an empty cache for `rows` samples: the input's dims, its free length axis 0. */
export function emptyCacheDims(dims: readonly (number | null)[], rows: number): number[] {
  return [rows, ...dims.slice(1).map((d) => d ?? 0)];
}

function emptyCache(input: InputSpec, count: number): ArraySource {
  return { dtype: 'float32', shape: emptyCacheDims(input.dims, count), rows: () => new Float32Array(0) };
}

function perToken(input: InputSpec, count: number, tokens: number, value: (t: number) => number): ArraySource {
  const dtype = input.type === 'int32' ? 'int32' : 'int64';
  return {
    dtype,
    shape: [count, tokens],
    rows: (_, rows) => {
      const values = Array.from({ length: rows * tokens }, (_, i) => value(i % tokens));
      return dtype === 'int32' ? Int32Array.from(values) : BigInt64Array.from(values.map(BigInt));
    },
  };
}

/**
 * Feeds for a compressed model whose cache is narrower than the original's (key/value heads
 * removed): each empty cache fed to the original is rebuilt to the candidate's declared shape.
 */
export function withEmptyCaches(feeds: Feeds, inputs: readonly InputSpec[]): Feeds {
  const adapted: Feeds = { ...feeds };
  for (const input of inputs) {
    const feed = feeds[input.name];
    if (!feed || feed.data.length > 0 || !isCache(input)) continue;
    adapted[input.name] = { ...feed, dims: emptyCacheDims(input.dims, feed.dims[0]) };
  }
  return adapted;
}
