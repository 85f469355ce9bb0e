import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { toNpy } from '../src/data/npy.ts';
import { readArrays, readData } from '../src/io/files.ts';
import { halfToFloat } from '../src/onnx/float16.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
import { idprune, type Outcome } from './helpers/cli.ts';
import { waveformConv } from './helpers/models.ts';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'idprune-readers-'));
const path = (name: string) => join(dir, name);
after(() => rmSync(dir, { recursive: true, force: true }));

const SAMPLES = 64;

function assertCleanFailure(outcome: Outcome, message: RegExp): void {
  assert.notEqual(outcome.code, 0);
  assert.match(outcome.stderr, message);
  assert.doesNotMatch(outcome.stderr, /\n\s+at /, 'no stack trace');
}

describe('Fashion-MNIST images as PNG files', () => {
  let calib: Float32Array;

  before(async () => {
    // The fixture's calibration data are 8-bit images scaled by 1/255 (fixtures.json: input_scaling);
    // written back as 8-bit gray PNGs, they must decode to the same values with the default --scale.
    const half = [...readArrays(fixture('calib.npy')).values()][0].rows(0, SAMPLES) as Uint16Array;
    calib = Float32Array.from(half, halfToFloat);
    mkdirSync(path('images'));
    for (let n = 0; n < SAMPLES; n++) {
      const pixels = Uint8Array.from(calib.subarray(n * 784, (n + 1) * 784), (v) => Math.round(v * 255));
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toFile(path(`images/${String(n).padStart(3, '0')}.png`));
    }
    writeFileSync(path('calib.npy'), toNpy({ dtype: 'float32', shape: [SAMPLES, 1, 28, 28], data: calib }));
  });

  it('decode to the .npy values', async () => {
    const inputs = inputSpecs(decodeModel(readFileSync(fixture('vgg.onnx')), 'vgg'));
    const arrays = await readData(path('images'), inputs, {}, 'calibration data');
    const array = arrays.get(inputs[0].name)!;
    assert.deepEqual(array.shape, [SAMPLES, 1, 28, 28]);
    const decoded = array.rows(0, SAMPLES) as Float32Array;
    let worst = 0;
    for (let i = 0; i < calib.length; i++) worst = Math.max(worst, Math.abs(decoded[i] - calib[i]));
    assert.ok(worst <= 2.5e-4, `largest difference ${worst} (the .npy holds float16)`);
  });

  it('compress the VGG fixture from a folder of PNGs as from the .npy of the same images', async () => {
    const common = ['--target-flops', '0.5', '--mode', 'plain', '--allocation', 'estimated'];
    const fromImages = await idprune(
      'compress',
      fixture('vgg.onnx'),
      '--calib',
      path('images'),
      '--eval',
      join(path('images'), '*.png'),
      '-o',
      path('vgg-images.onnx'),
      '--json',
      path('images.json'),
      ...common,
    );
    assert.equal(fromImages.code, 0, fromImages.stderr);
    assert.match(fromImages.stdout, /agreement\s+\d+\.\d+% same top-1 on 64 samples/);
    const fromNpy = await idprune(
      'compress',
      fixture('vgg.onnx'),
      '--calib',
      path('calib.npy'),
      '-o',
      path('vgg-npy.onnx'),
      '--json',
      path('npy.json'),
      ...common,
    );
    assert.equal(fromNpy.code, 0, fromNpy.stderr);
    const kept = (file: string) => JSON.parse(readFileSync(file, 'utf8')).spaces.map((s: { kept: number }) => s.kept);
    assert.deepEqual(kept(path('images.json')), kept(path('npy.json')));
  });

  it('refuses images of the wrong size for a fixed input, in one line', async () => {
    assertCleanFailure(
      await idprune('inspect', fixture('vgg.onnx'), '--calib', path('images'), '--image-size', '32'),
      new RegExp(
        /idprune: error: .*images: model input "input" \[\?, 1, 28, 28\] /.source +
          /takes 28×28 images, but --image-size gives 32×32/.source,
      ),
    );
  });
});

describe('WAV files and text on the command line', () => {
  before(() => {
    writeFileSync(path('waveform.onnx'), encodeModel(waveformConv()));
    mkdirSync(path('audio'));
    for (const [name, rate] of [
      ['a.wav', 8000],
      ['b.wav', 16000],
    ] as const) {
      const samples = Int16Array.from({ length: rate / 4 }, (_, i) =>
        Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / rate)),
      );
      const header = new DataView(new ArrayBuffer(44));
      [...'RIFF'].forEach((c, i) => {
        header.setUint8(i, c.charCodeAt(0));
      });
      header.setUint32(4, 36 + samples.byteLength, true);
      [...'WAVEfmt '].forEach((c, i) => {
        header.setUint8(8 + i, c.charCodeAt(0));
      });
      header.setUint32(16, 16, true);
      header.setUint16(20, 1, true);
      header.setUint16(22, 1, true);
      header.setUint32(24, rate, true);
      header.setUint32(28, rate * 2, true);
      header.setUint16(32, 2, true);
      header.setUint16(34, 16, true);
      [...'data'].forEach((c, i) => {
        header.setUint8(36 + i, c.charCodeAt(0));
      });
      header.setUint32(40, samples.byteLength, true);
      writeFileSync(
        path(`audio/${name}`),
        new Uint8Array([...new Uint8Array(header.buffer), ...new Uint8Array(samples.buffer)]),
      );
    }
    // A tokenizer.json for the text fixture's vocabulary (lowercased words, [UNK] for the rest, no special tokens
    // around).
    const { vocab } = JSON.parse(readFileSync(fixture('text_vocab.json'), 'utf8'));
    const tokenizer = {
      version: '1.0',
      added_tokens: [
        { id: 0, content: '[PAD]', special: true },
        { id: 1, content: '[UNK]', special: true },
      ],
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: null,
      decoder: null,
      model: {
        type: 'WordPiece',
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab,
      },
    };
    writeFileSync(path('tokenizer.json'), JSON.stringify(tokenizer));
    writeFileSync(
      path('news.txt'),
      [
        'Wheat and corn exports rose 5 pct, the department said.',
        'The company said net profit fell in the first quarter.',
        'Grain shipments to the Soviet Union were delayed.',
      ].join('\n'),
    );
  });

  it('eval takes a folder of WAV files, resampled and cut into --window samples', async () => {
    // 0.25 s at 8 kHz and at 16 kHz: 4000 samples each at 16 kHz, 62 windows of 64 each.
    const out = await idprune(
      'eval',
      path('waveform.onnx'),
      path('waveform.onnx'),
      '--data',
      path('audio'),
      '--window',
      '64',
      '--runs',
      '1',
      '--json',
    );
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).samples, 124);
  });

  it('eval takes a .txt, tokenized with --tokenizer for the text classifier', async () => {
    const out = await idprune(
      'eval',
      fixture('text.onnx'),
      fixture('text.onnx'),
      '--data',
      path('news.txt'),
      '--tokenizer',
      path('tokenizer.json'),
      '--runs',
      '1',
      '--json',
    );
    assert.equal(out.code, 0, out.stderr);
    const result = JSON.parse(out.stdout);
    assert.equal(result.samples, 3);
    assert.equal(result.agreement, 1);
  });

  it('refuses text for an image model, and audio without a window, in one line', async () => {
    assertCleanFailure(
      await idprune('inspect', fixture('vgg.onnx'), '--calib', path('news.txt'), '--tokenizer', path('tokenizer.json')),
      /idprune: error: .*news\.txt: text gives input_ids, but the model's inputs are "input"/,
    );
    assertCleanFailure(
      await idprune('inspect', path('waveform.onnx'), '--calib', path('audio')),
      /takes waveforms of any length; give the window with --window N/,
    );
  });
});
