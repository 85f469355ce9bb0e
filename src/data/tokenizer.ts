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
 * token, else 0 (padding positions are masked out by attention_mask in any case). The parts of
 * tokenizer.json the encoding reads are checked first: one clear error naming the field, where the
 * library would crash or give every word the unknown token.
 */
export function loadTokenizer(json: unknown, config: unknown, source: string): TextTokenizer {
  const uses = checkSchema(json, source);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, (config ?? {}) as object);
  } catch (err) {
    throw new IdpruneError(`${source}: not a usable Hugging Face tokenizer (${oneLine(err)})`);
  }
  checkUses(tokenizer, uses, source);
  const named = (json as TokenizerJson).padding?.pad_id;
  if (named !== undefined && tokenizer.model?.vocab[named] === undefined)
    throw invalid(source, 'padding.pad_id', `is ${named}, which is not the id of a token in the vocabulary`);
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

/** The largest token id taken: input_ids may be int32, and no vocabulary comes near 2³¹ tokens. */
const MAX_ID = 2 ** 31 - 1;
const ID = `an integer from 0 to ${MAX_ID}`;

type Json = Record<string, unknown>;
/** The one part of tokenizer.json read here directly, once checked; the rest goes through the library. */
interface TokenizerJson {
  padding?: { pad_id?: number } | null;
}

/** A token the post-processor puts around the text, and the ids the file gives it where it does. */
interface TokenUse {
  field: string;
  token: string;
  given?: { field: string; ids: unknown };
}

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_ID;
/** The start of a JSON value, for a message. */
const shown = (value: unknown) => (value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 40));
const invalid = (source: string, field: string, problem: string) => new IdpruneError(`${source}: ${field} ${problem}`);
const oneLine = (err: unknown) =>
  String(err instanceof Error ? err.message : err)
    .split(/\s*\n\s*/)
    .filter(Boolean)
    .join('; ');

/** Checks the model, added tokens, padding and post-processor; returns the tokens the post-processor names. */
function checkSchema(json: unknown, source: string): TokenUse[] {
  if (!isObject(json) || !Object.hasOwn(json, 'model')) {
    const why = isObject(json) ? 'it has no "model"' : 'not a JSON object';
    throw new IdpruneError(`${source}: not a usable Hugging Face tokenizer (${why})`);
  }
  checkModel(json.model, source);
  checkAddedTokens(json.added_tokens, source);
  const padding = json.padding;
  if (padding !== undefined && padding !== null) {
    if (!isObject(padding)) throw invalid(source, 'padding', `must be an object or null (got ${shown(padding)})`);
    if (padding.pad_id !== undefined && !isId(padding.pad_id))
      throw invalid(source, 'padding.pad_id', `must be ${ID} (got ${shown(padding.pad_id)})`);
  }
  const uses: TokenUse[] = [];
  const processor = json.post_processor;
  if (processor !== undefined && processor !== null) checkPostProcessor(processor, 'post_processor', uses, source);
  return uses;
}

function checkModel(model: unknown, source: string): void {
  if (!isObject(model)) throw invalid(source, 'model', `must be an object (got ${shown(model)})`);
  const { type, vocab } = model;
  // The library reads a Unigram vocabulary as [token, score] pairs, any other as a map of tokens to ids.
  const pieces = type === 'Unigram' || (type !== 'WordPiece' && type !== 'BPE' && Array.isArray(vocab));
  if (pieces) checkPieces(vocab, model.unk_id, source);
  else checkIds(vocab, source);
  const longest = model.max_input_chars_per_word;
  if (longest !== undefined && longest !== null && !(Number.isInteger(longest) && (longest as number) >= 1))
    throw invalid(source, 'model.max_input_chars_per_word', `must be a positive integer (got ${shown(longest)})`);
  if (type === 'BPE') checkMerges(model.merges, source);
}

function checkIds(vocab: unknown, source: string): void {
  if (!isObject(vocab)) {
    const got = Array.isArray(vocab) ? 'a list' : shown(vocab);
    throw invalid(source, 'model.vocab', `must map each token to its id (got ${got})`);
  }
  const entries = Object.entries(vocab);
  if (entries.length === 0) throw invalid(source, 'model.vocab', 'is empty');
  for (const [token, id] of entries) {
    if (!isId(id)) throw invalid(source, `model.vocab[${shown(token)}]`, `must be ${ID} (got ${shown(id)})`);
  }
}

/** A Unigram vocabulary: [token, score] pairs, the id of each its index. */
function checkPieces(vocab: unknown, unknownId: unknown, source: string): void {
  if (!Array.isArray(vocab))
    throw invalid(source, 'model.vocab', `must list [token, score] pairs (got ${shown(vocab)})`);
  if (vocab.length === 0) throw invalid(source, 'model.vocab', 'is empty');
  vocab.forEach((entry, i) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Number.isFinite(entry[1]))
      throw invalid(source, `model.vocab[${i}]`, `must be a [token, score] pair (got ${shown(entry)})`);
  });
  if (unknownId !== undefined && unknownId !== null && !(isId(unknownId) && unknownId < vocab.length))
    throw invalid(
      source,
      'model.unk_id',
      `must be an index of model.vocab, 0 to ${vocab.length - 1} (got ${shown(unknownId)})`,
    );
}

function checkMerges(merges: unknown, source: string): void {
  if (!Array.isArray(merges)) throw invalid(source, 'model.merges', `must be a list (got ${shown(merges)})`);
  const isPair = (m: unknown) => Array.isArray(m) && m.length === 2 && m.every((part) => typeof part === 'string');
  merges.forEach((merge, i) => {
    if (typeof merge !== 'string' && !isPair(merge))
      throw invalid(source, `model.merges[${i}]`, `must be "a b" or ["a", "b"] (got ${shown(merge)})`);
  });
}

function checkAddedTokens(added: unknown, source: string): void {
  if (!Array.isArray(added)) throw invalid(source, 'added_tokens', `must be a list (got ${shown(added)})`);
  added.forEach((token, i) => {
    if (!isObject(token) || typeof token.content !== 'string')
      throw invalid(source, `added_tokens[${i}]`, `must be an object with a "content" string (got ${shown(token)})`);
    if (!isId(token.id)) throw invalid(source, `added_tokens[${i}].id`, `must be ${ID} (got ${shown(token.id)})`);
  });
}

/** The post-processors that put tokens around the text; ByteLevel adds none, and the library refuses unknown ones. */
function checkPostProcessor(processor: unknown, field: string, uses: TokenUse[], source: string): void {
  if (!isObject(processor)) throw invalid(source, field, `must be an object (got ${shown(processor)})`);
  if (processor.type === 'TemplateProcessing') checkTemplate(processor, field, uses, source);
  if (processor.type === 'BertProcessing' || processor.type === 'RobertaProcessing') {
    for (const part of ['cls', 'sep']) {
      const pair = processor[part];
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || !isId(pair[1]))
        throw invalid(source, `${field}.${part}`, `must be a [token, id] pair (got ${shown(pair)})`);
      uses.push({ field: `${field}.${part}`, token: pair[0], given: { field: `${field}.${part}`, ids: [pair[1]] } });
    }
  }
  if (processor.type === 'Sequence' && processor.processors !== undefined) {
    const list = processor.processors;
    if (!Array.isArray(list)) throw invalid(source, `${field}.processors`, `must be a list (got ${shown(list)})`);
    for (const [i, inner] of list.entries()) checkPostProcessor(inner, `${field}.processors[${i}]`, uses, source);
  }
}

/** The single-text template: special tokens, and the text once ({"Sequence": {"id": "A"}}). */
function checkTemplate(processor: Json, field: string, uses: TokenUse[], source: string): void {
  const single = processor.single;
  if (!Array.isArray(single) || single.length === 0)
    throw invalid(source, `${field}.single`, `must be a non-empty list (got ${shown(single)})`);
  const specials = isObject(processor.special_tokens) ? processor.special_tokens : {};
  let texts = 0;
  single.forEach((piece, i) => {
    const at = `${field}.single[${i}]`;
    const kind = isObject(piece) ? (Object.hasOwn(piece, 'SpecialToken') ? 'SpecialToken' : 'Sequence') : undefined;
    const part = kind && isObject(piece) ? piece[kind] : undefined;
    if (!kind || !isObject(part))
      throw invalid(source, at, `must be {"SpecialToken": {...}} or {"Sequence": {...}} (got ${shown(piece)})`);
    if (!isId(part.type_id))
      throw invalid(source, `${at}.${kind}.type_id`, `must be ${ID} (got ${shown(part.type_id)})`);
    if (kind === 'Sequence') {
      if (part.id !== 'A')
        throw invalid(source, `${at}.Sequence.id`, `must be "A" in the single-text template (got ${shown(part.id)})`);
      texts++;
      return;
    }
    const token = part.id;
    if (typeof token !== 'string')
      throw invalid(source, `${at}.SpecialToken.id`, `must be a token (got ${shown(token)})`);
    const entry = Object.hasOwn(specials, token) ? specials[token] : undefined;
    const given = isObject(entry)
      ? { field: `${field}.special_tokens[${shown(token)}].ids`, ids: entry.ids }
      : undefined;
    uses.push({ field: `${at}.SpecialToken.id`, token, given });
  });
  if (texts !== 1)
    throw invalid(source, `${field}.single`, `must hold the text once ({"Sequence": {"id": "A"}}), not ${texts} times`);
}

/** Every token the post-processor puts around the text is in the vocabulary, with the ids the file gives it. */
function checkUses(tokenizer: Tokenizer, uses: TokenUse[], source: string): void {
  for (const { field, token, given } of uses) {
    const id = tokenizer.token_to_id(token);
    if (id === undefined) throw invalid(source, field, `names ${shown(token)}, which is not in the vocabulary`);
    if (given && JSON.stringify(given.ids) !== JSON.stringify([id]))
      throw invalid(
        source,
        given.field,
        `gives ${shown(given.ids)} for ${shown(token)}, whose id in the vocabulary is ${id}`,
      );
  }
}
