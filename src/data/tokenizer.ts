import { Tokenizer } from '@huggingface/tokenizers';
import { IdpruneError } from '../errors.ts';

/** One text as the model's tokenizer encodes it. */
export interface Encoded {
  ids: number[];
  /** The segment of each token (0 for single texts; what token_type_ids inputs take). */
  typeIds: number[];
}

export interface TextTokenizer {
  /** Token ids with the tokenizer's special tokens; beyond `maxLength` the text is cut, the special tokens kept. */
  encode(text: string, maxLength: number): Encoded;
  /** The id padding positions hold. */
  padId: number;
}

const PAD_TOKENS = ['[PAD]', '<pad>', '<|pad|>', '<|endoftext|>'];

/**
 * A tokenizer from a Hugging Face tokenizer.json (and its tokenizer_config.json, if there is one).
 * The padding id is the one tokenizer.json names, else the config's pad token, else a usual pad
 * token, else 0 (padding positions are masked out by attention_mask in any case).
 */
export function loadTokenizer(json: unknown, config: unknown, source: string): TextTokenizer {
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, (config ?? {}) as object);
  } catch (err) {
    throw new IdpruneError(`${source}: not a usable Hugging Face tokenizer (${(err as Error).message})`);
  }
  const named = (json as { padding?: { pad_id?: number } | null }).padding?.pad_id;
  const configured = (config as { pad_token?: unknown } | undefined)?.pad_token;
  const padToken =
    typeof configured === 'string' ? configured : (configured as { content?: string } | undefined)?.content;
  const padId =
    named ??
    [padToken, ...PAD_TOKENS]
      .map((t) => (t === undefined ? undefined : tokenizer.token_to_id(t)))
      .find((id) => id !== undefined) ??
    0;
  const unknown = tokenizer.model?.unk_token_id;
  const idOf = (token: string) => {
    const id = tokenizer.token_to_id(token) ?? unknown;
    if (id === undefined)
      throw new IdpruneError(
        `${source}: token "${token}" is not in the vocabulary, and the tokenizer has no unknown token`,
      );
    return id;
  };
  return {
    padId,
    encode(text, maxLength) {
      // Truncation cuts the text's own tokens, then the special tokens are put around what is left,
      // as Hugging Face tokenizers truncate.
      let tokens = tokenizer.tokenize(text, { add_special_tokens: false });
      const special = withSpecials([]).tokens.length;
      if (tokens.length + special > maxLength) tokens = tokens.slice(0, Math.max(0, maxLength - special));
      const processed = withSpecials(tokens);
      const ids = processed.tokens.slice(0, maxLength).map(idOf);
      const typeIds = processed.token_type_ids?.slice(0, maxLength) ?? new Array<number>(ids.length).fill(0);
      return { ids, typeIds };
    },
  };

  function withSpecials(tokens: string[]) {
    return tokenizer.post_processor
      ? tokenizer.post_processor.post_process(tokens, null, true)
      : { tokens, token_type_ids: undefined };
  }
}
