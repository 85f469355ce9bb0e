// Valid inputs of every kind the readers take, to mutate (test/fuzz/run.ts).
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { encodeStatistics } from '../../src/compress/statistics-format.ts';
import { toNpy } from '../../src/data/npy.ts';
import type { InputSpec } from '../../src/onnx/shapes.ts';
import { floatData } from '../helpers/run.ts';
import { zip } from '../helpers/zip.ts';

export type Kind = 'npy' | 'npz' | 'wav' | 'image' | 'text' | 'tokenizer' | 'statistics';
export const KINDS: Kind[] = ['npy', 'npz', 'wav', 'image', 'text', 'tokenizer', 'statistics'];

export interface Seed {
  kind: Kind;
  /** The file's name: its extension tells the readers what it is. */
  name: string;
  bytes: Uint8Array;
  /**
   * The format guards its contents (a zip's CRC-32, a statistics file's SHA-256): an altered file
   * must never read as other contents.
   */
  guarded: boolean;
}

export const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());

/** The model inputs each kind is read for. */
export const INPUTS: Record<Exclude<Kind, 'statistics'>, InputSpec[]> = {
  npy: [{ name: 'x', type: 'float32', dims: [null, 2, 6, 6] }],
  npz: [{ name: 'x', type: 'float32', dims: [null, 2, 6, 6] }],
  wav: [{ name: 'x', type: 'float32', dims: [null, 1, 800] }],
  image: [{ name: 'x', type: 'float32', dims: [null, 3, 8, 8] }],
  text: [
    { name: 'input_ids', type: 'int64', dims: [null, 16] },
    { name: 'attention_mask', type: 'int64', dims: [null, 16] },
  ],
  tokenizer: [
    { name: 'input_ids', type: 'int64', dims: [null, 16] },
    { name: 'attention_mask', type: 'int64', dims: [null, 16] },
  ],
};

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'cat', 'sat', 'on', 'mat', '##s', 'dog'];
const special = (content: string, id: number) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/** A BERT-style tokenizer.json: lowercasing, WordPiece, [CLS] text [SEP]. */
export function tokenizerJson(): string {
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: { pad_id: 0 },
    added_tokens: VOCAB.slice(0, 4).map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(VOCAB.map((t, i) => [t, i])),
    },
  });
}

/** A 16-bit PCM (or 32-bit float) mono WAV of a tone. */
function wav(rate: number, samples: number, float: boolean): Uint8Array {
  const bytesPerSample = float ? 4 : 2;
  const data = new DataView(new ArrayBuffer(samples * bytesPerSample));
  for (let i = 0; i < samples; i++) {
    const v = 0.5 * Math.sin((2 * Math.PI * 440 * i) / rate);
    if (float) data.setFloat32(4 * i, v, true);
    else data.setInt16(2 * i, Math.round(v * 32767), true);
  }
  const out = new DataView(new ArrayBuffer(44 + data.byteLength));
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) out.setUint8(at + i, s.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  out.setUint32(4, 36 + data.byteLength, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  out.setUint32(16, 16, true);
  out.setUint16(20, float ? 3 : 1, true);
  out.setUint16(22, 1, true);
  out.setUint32(24, rate, true);
  out.setUint32(28, rate * bytesPerSample, true);
  out.setUint16(32, bytesPerSample, true);
  out.setUint16(34, 8 * bytesPerSample, true);
  ascii(36, 'data');
  out.setUint32(40, data.byteLength, true);
  const bytes = new Uint8Array(out.buffer);
  bytes.set(new Uint8Array(data.buffer), 44);
  return bytes;
}

function statisticsFile(): Uint8Array {
  const gram = Float64Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? 2 : 0.25));
  return encodeStatistics(
    {
      grams: new Map([['0|a', { rows: 3, cols: 3, data: gram }]]),
      rankings: new Map([[0, { order: [2, 0, 1], rank: 3, relativeError: Float64Array.from([1, 0.5, 0.1, 0]) }]]),
      curves: new Map([[0, Float64Array.from([0.9, 0.4, 0.1, 0])]]),
    },
    {
      modelSha256: 'ab'.repeat(32),
      data: { source: 'calib.npy', samples: 8 },
      options: { mode: 'corrected', skip: [] },
      tool: 'idprune fuzz',
    },
    sha256,
  );
}

export async function makeSeeds(): Promise<Seed[]> {
  const npy = toNpy(floatData([6, 2, 6, 6], 1));
  const pixels = Buffer.from(Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 37) % 256));
  const raw = { raw: { width: 16, height: 16, channels: 3 as const } };
  const text = new TextEncoder();
  return [
    { kind: 'npy', name: 'seed.npy', bytes: npy, guarded: false },
    { kind: 'npz', name: 'seed.npz', bytes: zip({ 'x.npy': npy }, true), guarded: true },
    { kind: 'npz', name: 'stored.npz', bytes: zip({ 'x.npy': npy }, false), guarded: true },
    { kind: 'wav', name: 'seed.wav', bytes: wav(16000, 2400, false), guarded: false },
    { kind: 'wav', name: 'float.wav', bytes: wav(8000, 1200, true), guarded: false },
    {
      kind: 'image',
      name: 'seed.png',
      bytes: new Uint8Array(await sharp(pixels, raw).png().toBuffer()),
      guarded: false,
    },
    {
      kind: 'image',
      name: 'seed.jpg',
      bytes: new Uint8Array(await sharp(pixels, raw).jpeg().toBuffer()),
      guarded: false,
    },
    {
      kind: 'image',
      name: 'seed.tif',
      bytes: new Uint8Array(await sharp(pixels, raw).tiff().toBuffer()),
      guarded: false,
    },
    {
      kind: 'text',
      name: 'seed.jsonl',
      bytes: text.encode('{"text": "the cat sat"}\n{"text": "on the mat"}\n{"text": "the dogs"}\n'),
      guarded: false,
    },
    { kind: 'text', name: 'seed.txt', bytes: text.encode('the cat sat\non the mat\n'), guarded: false },
    { kind: 'tokenizer', name: 'tokenizer.json', bytes: text.encode(tokenizerJson()), guarded: false },
    { kind: 'statistics', name: 'seed.stats', bytes: statisticsFile(), guarded: true },
  ];
}
