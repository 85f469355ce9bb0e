import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadData } from '../src/api/data.ts';
import { parseTexts } from '../src/data/text.ts';
import { loadTokenizer } from '../src/data/tokenizer.ts';
import { IdpruneError } from '../src/errors.ts';
import { idprune } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-text-hardening-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

/** An IdpruneError whose one-line message matches `pattern`. */
const refused = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof IdpruneError, String(err));
  assert.match(err.message, pattern);
  assert.doesNotMatch(err.message, /\n/);
  return true;
};

describe('.jsonl fields', () => {
  it("a field named like one of Object.prototype's is looked up in the line itself", () => {
    for (const field of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      assert.throws(
        () => parseTexts('{"text": "the cat"}\n', 'jsonl', field, 'd.jsonl'),
        refused(new RegExp(`^d\\.jsonl line 1: no text in field "${field}" \\(set the field with --text-field\\)$`)),
      );
    }
  });

  it('a line that has such a field of its own is read', () => {
    assert.deepEqual(parseTexts('{"constructor": "a"}', 'jsonl', 'constructor', 'd'), ['a']);
    assert.deepEqual(parseTexts('{"__proto__": "b"}', 'jsonl', '__proto__', 'd'), ['b']);
  });

  it('a line that is not a JSON object is refused', () => {
    for (const [line, held] of [
      ['["the", "cat"]', '["the","cat"]'],
      ['"the cat"', '"the cat"'],
      ['null', 'null'],
    ]) {
      assert.throws(
        () => parseTexts(`{"text": "a"}\n${line}\n`, 'jsonl', 'text', 'd.jsonl'),
        refused(new RegExp(`^d\\.jsonl line 2: not a JSON object \\(it holds ${held.replace(/[[\]]/g, '\\$&')}\\)$`)),
      );
    }
  });
});

const VOCAB = { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, the: 4, cat: 5, sat: 6 };

type Json = Record<string, unknown>;
const special = (id: string, typeId: unknown = 0) => ({ SpecialToken: { id, type_id: typeId } });
const TEXT = { Sequence: { id: 'A', type_id: 0 } };
const SPECIAL_TOKENS = {
  '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
  '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
};

/**
 * A BERT-style tokenizer.json (WordPiece, [CLS] text [SEP]), with fields of the file, of its model
 * and of its post-processor replaced.
 */
function bert({ file = {}, model = {}, template = {} }: { file?: Json; model?: Json; template?: Json } = {}): Json {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]'].map((content) => ({
      id: VOCAB[content as keyof typeof VOCAB],
      content,
      special: true,
      normalized: false,
    })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]'), TEXT, special('[SEP]')],
      pair: [],
      special_tokens: SPECIAL_TOKENS,
      ...template,
    },
    decoder: null,
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: VOCAB,
      ...model,
    },
    ...file,
  };
}
const load = (json: unknown) => () => loadTokenizer(json, {}, 'tok.json');
const INTEGER = 'must be an integer from 0 to 2147483647';

describe('tokenizer.json: the padding id', () => {
  it('a pad_id that is not a non-negative integer is refused, naming the field', () => {
    for (const [id, shown] of [
      [1.5, '1\\.5'],
      ['0', '"0"'],
      [-1, '-1'],
    ]) {
      assert.throws(
        load(bert({ file: { padding: { pad_id: id } } })),
        refused(new RegExp(`^tok\\.json: padding\\.pad_id ${INTEGER} \\(got ${shown}\\)$`)),
      );
    }
  });

  it('a pad_id that is no token of the vocabulary is refused', () => {
    assert.throws(
      load(bert({ file: { padding: { pad_id: 1000 } } })),
      refused(/^tok\.json: padding\.pad_id is 1000, which is not the id of a token in the vocabulary$/),
    );
  });

  it('a pad_id of the vocabulary is taken', () => {
    assert.equal(loadTokenizer(bert({ file: { padding: { pad_id: 6 } } }), {}, 'tok.json').padId, 6);
  });
});

describe('tokenizer.json: the vocabulary', () => {
  it('an id that is not a non-negative integer is refused, naming the token', () => {
    for (const [id, shown] of [
      [4.5, '4\\.5'],
      ['4', '"4"'],
      [-4, '-4'],
      [2 ** 31, '2147483648'],
    ]) {
      assert.throws(
        load(bert({ model: { vocab: { ...VOCAB, the: id } } })),
        refused(new RegExp(`^tok\\.json: model\\.vocab\\["the"\\] ${INTEGER} \\(got ${shown}\\)$`)),
      );
    }
  });

  it('a list where a map of tokens to ids belongs is refused', () => {
    assert.throws(
      load(bert({ model: { vocab: Object.keys(VOCAB) } })),
      refused(/^tok\.json: model\.vocab must map each token to its id \(got a list\)$/),
    );
  });

  it('an empty vocabulary is refused', () => {
    assert.throws(load(bert({ model: { vocab: {} } })), refused(/^tok\.json: model\.vocab is empty$/));
  });

  it('a max_input_chars_per_word that is not a positive integer is refused', () => {
    for (const value of [-1, 0, 2.5]) {
      assert.throws(
        load(bert({ model: { max_input_chars_per_word: value } })),
        refused(/^tok\.json: model\.max_input_chars_per_word must be a positive integer \(got [-.\d]+\)$/),
      );
    }
  });

  it('an added token whose id is not an integer is refused', () => {
    assert.throws(
      load(bert({ file: { added_tokens: [{ id: 0.5, content: '[PAD]', special: true }] } })),
      refused(new RegExp(`^tok\\.json: added_tokens\\[0\\]\\.id ${INTEGER} \\(got 0\\.5\\)$`)),
    );
  });

  it('a BPE model without merges is refused', () => {
    assert.throws(
      load(bert({ model: { type: 'BPE' } })),
      refused(/^tok\.json: model\.merges must be a list \(got nothing\)$/),
    );
  });

  it('a Unigram vocabulary is read as [token, score] pairs, and its unk_id must be one of them', () => {
    const unigram = (unkId: unknown) =>
      bert({ model: { type: 'Unigram', unk_id: unkId, vocab: Object.keys(VOCAB).map((token) => [token, -1]) } });
    assert.deepEqual(loadTokenizer(unigram(1), {}, 'tok.json').encode('the cat', 8).ids, [2, 4, 5, 3]);
    assert.throws(
      load(unigram(99)),
      refused(/^tok\.json: model\.unk_id must be an index of model\.vocab, 0 to 6 \(got 99\)$/),
    );
  });
});

describe('tokenizer.json: the tokens put around the text', () => {
  it('a TemplateProcessing without a template is refused', () => {
    assert.throws(
      load(bert({ file: { post_processor: { type: 'TemplateProcessing' } } })),
      refused(/^tok\.json: post_processor\.single must be a non-empty list \(got nothing\)$/),
    );
  });

  it('a template token missing from the vocabulary is refused, not read as [UNK]', () => {
    assert.throws(
      load(bert({ template: { single: [special('<s>'), TEXT, special('[SEP]')] } })),
      refused(/^tok\.json: post_processor\.single\[0\]\.SpecialToken\.id names "<s>", which is not in the vocabulary$/),
    );
  });

  it('a template whose special_tokens give other ids than the vocabulary is refused', () => {
    assert.throws(
      load(bert({ template: { special_tokens: { ...SPECIAL_TOKENS, '[CLS]': { id: '[CLS]', ids: [7] } } } })),
      refused(/^tok\.json: post_processor\.special_tokens\["\[CLS\]"\]\.ids gives \[7\] for "\[CLS\]", whose id .* 2$/),
    );
  });

  it('a template must hold the text once, and integer type ids', () => {
    assert.throws(
      load(bert({ template: { single: [special('[CLS]'), special('[SEP]')] } })),
      refused(/^tok\.json: post_processor\.single must hold the text once .*, not 0 times$/),
    );
    assert.throws(
      load(bert({ template: { single: [special('[CLS]'), TEXT, special('[SEP]', 0.5)] } })),
      refused(new RegExp(`^tok\\.json: post_processor\\.single\\[2\\]\\.SpecialToken\\.type_id ${INTEGER}`)),
    );
  });

  it('BertProcessing names its tokens with their ids, which must be those of the vocabulary', () => {
    const processing = (sep: unknown) =>
      bert({ file: { post_processor: { type: 'BertProcessing', cls: ['[CLS]', 2], sep } } });
    assert.deepEqual(loadTokenizer(processing(['[SEP]', 3]), {}, 'tok.json').encode('the', 8).ids, [2, 4, 3]);
    assert.throws(
      load(processing(['</s>', 3])),
      refused(/^tok\.json: post_processor\.sep names "<\/s>", which is not in the vocabulary$/),
    );
    assert.throws(load(processing(['[SEP]'])), refused(/^tok\.json: post_processor\.sep must be a \[token, id\] pair/));
  });
});

describe('the command line', () => {
  before(() => {
    const { vocab } = JSON.parse(readFileSync(fixture('text_vocab.json'), 'utf8'));
    const tokenizer = (padding: unknown) => ({
      version: '1.0',
      padding,
      added_tokens: [],
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: null,
      decoder: null,
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', vocab },
    });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer(null)));
    writeFileSync(join(dir, 'fractional-pad.json'), JSON.stringify(tokenizer({ pad_id: 1.5 })));
    writeFileSync(join(dir, 'news.jsonl'), '{"text": "The company said net profit fell."}\n');
  });

  it('--text-field constructor fails on one line, as any missing field does', async () => {
    const out = await idprune(
      'inspect',
      fixture('text.onnx'),
      '--calib',
      join(dir, 'news.jsonl'),
      '--tokenizer',
      join(dir, 'tokenizer.json'),
      '--text-field',
      'constructor',
    );
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /^idprune: error: .*news\.jsonl line 1: no text in field "constructor"/);
    assert.equal(out.stderr.trimEnd().split('\n').length, 1, out.stderr);
  });

  it('a fractional pad_id fails on one line, naming the tokenizer.json and the field', async () => {
    const out = await idprune(
      'inspect',
      fixture('text.onnx'),
      '--calib',
      join(dir, 'news.jsonl'),
      '--tokenizer',
      join(dir, 'fractional-pad.json'),
    );
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /^idprune: error: .*fractional-pad\.json: padding\.pad_id must be an integer/);
    assert.equal(out.stderr.trimEnd().split('\n').length, 1, out.stderr);
  });
});

describe('a tokenizer.json that is not JSON', () => {
  it("is refused on one line, even where the parser's message quotes a line break of the file", async () => {
    const tokenizer = join(dir, 'broken-tokenizer.json');
    writeFileSync(tokenizer, '{"truncation":\nnope}');
    const texts = join(dir, 'broken.txt');
    writeFileSync(texts, 'the cat\n');
    const inputs = ['input_ids', 'attention_mask'].map((name) => ({ name, type: 'int64' as const, dims: [null, 16] }));
    await assert.rejects(
      loadData(texts, inputs, 'calibration data', { tokenizer }),
      refused(/broken-tokenizer\.json: not JSON \(Unexpected token/),
    );
  });
});
