// Valid inputs of every kind the readers take, to mutate (test/fuzz/run.ts).
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { encodeStatistics } from '../../src/compress/statistics-format.ts';
import { toNpy } from '../../src/data/npy.ts';
import type { InputSpec } from '../../src/onnx/shapes.ts';
import { floatData } from '../helpers/run.ts';
import { bertTokenizer } from '../helpers/tokenizer.ts';
import { chunk, float32, fmt, pcm16, riff } from '../helpers/wav.ts';
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

/** A BERT-style tokenizer.json (test/helpers/tokenizer.ts) naming its pad token. */
export const tokenizerJson = () => JSON.stringify(bertTokenizer({ pad_id: 0 }));

/** A 16-bit PCM (or 32-bit float) mono WAV of a tone. */
function wav(rate: number, samples: number, float: boolean): Uint8Array {
  const tone = Array.from({ length: samples }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / rate));
  const data = float ? float32(tone) : pcm16(tone.map((v) => Math.round(v * 32767)));
  return riff([fmt(float ? 3 : 1, 1, rate, float ? 32 : 16), chunk('data', data)]);
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
