import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Progress } from '../src/progress.ts';
import { decodeSamples, findSamples } from '../src/data/source.ts';
import { parseTexts, textLayout, tokenizeTexts } from '../src/data/text.ts';
import { loadTokenizer } from '../src/data/tokenizer.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';
import { bertTokenizer } from './helpers/tokenizer.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-text-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A GPT-2-style tokenizer.json: byte-level BPE, no special tokens around the text. */
const bpeTokenizer = {
  version: '1.0',
  added_tokens: [],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: '',
    end_of_word_suffix: '',
    fuse_unk: false,
    vocab: { a: 0, b: 1, Ġ: 2, ab: 3, Ġab: 4, '<|endoftext|>': 5 },
    merges: ['a b', 'Ġ ab'],
  },
};

const spec = (name: string, dims: (number | null)[] = [null, null], type: InputSpec['type'] = 'int64'): InputSpec => ({
  name,
  type,
  dims,
});
const BERT_INPUTS = [spec('input_ids'), spec('attention_mask'), spec('token_type_ids')];
const rows = (data: ArrayLike<number | bigint>, length: number) =>
  Array.from({ length: data.length / length }, (_, r) =>
    Array.from({ length }, (_, t) => Number(data[r * length + t])),
  );

describe("tokenizing with the model's tokenizer.json", () => {
  const tokenizer = loadTokenizer(bertTokenizer(), {}, 'tokenizer.json');

  it('encodes as the tokenizer does: lowercased word pieces between [CLS] and [SEP], unknown words as [UNK]', () => {
    assert.deepEqual(tokenizer.encode('The cats sat', 16).ids, [2, 4, 5, 9, 6, 3]);
    assert.deepEqual(tokenizer.encode('the dog', 16).ids, [2, 4, 1, 3]);
  });

  it('pads on the right with the pad id, the attention mask 0 there', () => {
    const layout = textLayout(BERT_INPUTS, { maxLength: 8 }, 'd');
    const arrays = tokenizeTexts(tokenizer, ['The cats sat', 'on the mat'], layout, 'd');
    assert.deepEqual(rows(arrays.get('input_ids')!.data, 8), [
      [2, 4, 5, 9, 6, 3, 0, 0],
      [2, 7, 4, 8, 3, 0, 0, 0],
    ]);
    assert.deepEqual(rows(arrays.get('attention_mask')!.data, 8), [
      [1, 1, 1, 1, 1, 1, 0, 0],
      [1, 1, 1, 1, 1, 0, 0, 0],
    ]);
    assert.deepEqual(rows(arrays.get('token_type_ids')!.data, 8), [
      [0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    assert.deepEqual(arrays.get('input_ids')!.shape, [2, 8]);
  });

  it('truncates the text, keeping [CLS] and [SEP]', () => {
    const layout = textLayout(BERT_INPUTS, { maxLength: 4 }, 'd');
    const arrays = tokenizeTexts(tokenizer, ['the cats sat on the mat'], layout, 'd');
    assert.deepEqual(rows(arrays.get('input_ids')!.data, 4), [[2, 4, 5, 3]]);
    assert.deepEqual(rows(arrays.get('attention_mask')!.data, 4), [[1, 1, 1, 1]]);
  });

  it('the pad id named in tokenizer.json wins', () => {
    const padded = loadTokenizer(bertTokenizer({ pad_id: 8 }), {}, 't');
    const arrays = tokenizeTexts(padded, ['the'], textLayout([spec('input_ids')], { maxLength: 5 }, 'd'), 'd');
    assert.deepEqual(rows(arrays.get('input_ids')!.data, 5), [[2, 4, 3, 8, 8]]);
  });

  it('byte-level BPE without special tokens: merges, and a cut at the length', () => {
    const bpe = loadTokenizer(bpeTokenizer, {}, 'gpt');
    assert.deepEqual(bpe.encode('ab ab', 8).ids, [3, 4]);
    assert.deepEqual(bpe.encode('ab ab ab', 2).ids, [3, 4]);
    assert.equal(bpe.padId, 5);
  });

  it('arrays have the types the model declares; position_ids count from 0', () => {
    const layout = textLayout(
      [
        spec('input_ids', [null, 6], 'int32'),
        spec('attention_mask', [null, 6], 'float32'),
        spec('position_ids', [null, 6]),
      ],
      {},
      'd',
    );
    const arrays = tokenizeTexts(tokenizer, ['the mat'], layout, 'd');
    assert.ok(arrays.get('input_ids')!.data instanceof Int32Array);
    assert.deepEqual([...arrays.get('attention_mask')!.data], [1, 1, 1, 1, 0, 0]);
    assert.ok(arrays.get('attention_mask')!.data instanceof Float32Array);
    assert.deepEqual([...arrays.get('position_ids')!.data], [0n, 1n, 2n, 3n, 4n, 5n]);
  });

  it('reports progress text by text', () => {
    const events: string[] = [];
    const progress: Progress = {
      begin: (label, total) => events.push(`${label} ${total}`),
      advance: (done) => events.push(String(done)),
      end: () => events.push('end'),
    };
    tokenizeTexts(tokenizer, ['a', 'b'], textLayout(BERT_INPUTS, {}, 'd'), 'd', progress);
    assert.deepEqual(events, ['tokenizing 2', '1', '2', 'end']);
  });

  it('refuses a file that is not a tokenizer', () => {
    assert.throws(() => loadTokenizer({ vocab: {} }, {}, 'tok.json'), /tok\.json: not a usable Hugging Face tokenizer/);
  });
});

describe('sequence length and inputs from the model', () => {
  it("the model's fixed length, else --max-length, else 128", () => {
    assert.equal(
      textLayout([spec('input_ids', [null, 32]), spec('attention_mask', [null, 32])], {}, 'd').maxLength,
      32,
    );
    assert.equal(textLayout(BERT_INPUTS, { maxLength: 64 }, 'd').maxLength, 64);
    assert.equal(textLayout(BERT_INPUTS, {}, 'd').maxLength, 128);
    assert.throws(
      () => textLayout([spec('input_ids', [null, 32])], { maxLength: 64 }, 'd'),
      /takes sequences of 32 tokens, but --max-length gives 64/,
    );
  });

  it('refuses a model taking inputs text does not give', () => {
    assert.throws(
      () => textLayout([spec('pixels', [null, 3, 8, 8], 'float32')], {}, 'd'),
      /d: text gives input_ids, but the model's inputs are "pixels"/,
    );
    assert.throws(
      () => textLayout([spec('input_ids'), spec('past_key_values.0.key', [null, 4, null, 16], 'float32')], {}, 'd'),
      /the model also takes "past_key_values\.0\.key"/,
    );
    assert.throws(
      () => textLayout([spec('input_ids', [null, 4, 4])], {}, 'd'),
      /"input_ids" \[\?, 4, 4\] is not \[batch, sequence\]/,
    );
  });
});

describe('text files', () => {
  it('a .txt gives one sample a non-blank line', () => {
    assert.deepEqual(parseTexts('\uFEFFfirst line\r\n\n  \nsecond line\n', 'txt', 'text', 'a.txt'), [
      'first line',
      'second line',
    ]);
  });

  it('a .jsonl gives the named field of each line, and names the line it cannot read', () => {
    assert.deepEqual(parseTexts('{"text": "one", "label": 1}\n{"text": "two"}\n', 'jsonl', 'text', 'a.jsonl'), [
      'one',
      'two',
    ]);
    assert.deepEqual(parseTexts('{"review": "good"}\n', 'jsonl', 'review', 'a.jsonl'), ['good']);
    assert.throws(
      () => parseTexts('{"text": "one"}\n{"text": \n', 'jsonl', 'text', 'b.jsonl'),
      /b\.jsonl line 2: not JSON/,
    );
    assert.throws(
      () => parseTexts('{"body": "one"}\n', 'jsonl', 'text', 'c.jsonl'),
      /c\.jsonl line 1: no text in field "text" \(set the field with --text-field\)/,
    );
    assert.throws(
      () => parseTexts('{"text": 5}\n', 'jsonl', 'text', 'd.jsonl'),
      /d\.jsonl line 1: no text in field "text" \(it holds 5\)/,
    );
  });

  it('reads a .txt with the tokenizer.json beside the model', async () => {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(bertTokenizer()));
    writeFileSync(join(dir, 'texts.txt'), 'the cat\nthe mats\n');
    const found = findSamples(join(dir, 'texts.txt'), 'data');
    assert.equal(found.kind, 'text');
    const arrays = await decodeSamples(
      found,
      BERT_INPUTS,
      { modelPath: join(dir, 'model.onnx'), maxLength: 6 },
      { begin() {}, advance() {}, end() {} },
    );
    assert.deepEqual(rows(arrays.get('input_ids')!.data, 6), [
      [2, 4, 5, 3, 0, 0],
      [2, 4, 8, 9, 3, 0],
    ]);
    assert.ok(arrays.get('input_ids')!.data instanceof BigInt64Array);
  });

  it('asks for --tokenizer when there is none beside the model; names a text file that is not UTF-8', async () => {
    const silent = { begin() {}, advance() {}, end() {} };
    await assert.rejects(
      decodeSamples(
        findSamples(join(dir, 'texts.txt'), 'data'),
        BERT_INPUTS,
        { modelPath: '/nowhere/model.onnx' },
        silent,
      ),
      /needs the model's tokenizer; give its tokenizer\.json with --tokenizer/,
    );
    writeFileSync(join(dir, 'latin1.txt'), Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    await assert.rejects(
      decodeSamples(
        findSamples(join(dir, 'latin1.txt'), 'data'),
        BERT_INPUTS,
        { tokenizer: join(dir, 'tokenizer.json') },
        silent,
      ),
      /latin1\.txt: not UTF-8 text/,
    );
  });
});
