import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Progress } from '../src/progress.ts';
import { globPattern } from '../src/data/glob.ts';
import { imageLayout } from '../src/data/image-layout.ts';
import { readImages } from '../src/data/images.ts';
import { normalization } from '../src/data/normalize.ts';
import { decodeSamples, findSamples } from '../src/data/source.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-images-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const path = (name: string) => join(dir, name);
const silent: Progress = { begin() {}, advance() {}, end() {} };
const input = (dims: (number | null)[], type: InputSpec['type'] = 'float32'): InputSpec => ({
  name: 'pixels',
  type,
  dims,
});

/** Writes an 8-bit image from interleaved pixel values (PNG is lossless: the values come back as written). */
async function writeImage(
  name: string,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  pixels: number[],
  format: 'png' | 'webp' | 'tiff' = 'png',
): Promise<string> {
  const image = sharp(Uint8Array.from(pixels), { raw: { width, height, channels } });
  await (format === 'png' ? image.png() : format === 'webp' ? image.webp({ lossless: true }) : image.tiff()).toFile(
    path(name),
  );
  return path(name);
}

function assertClose(actual: ArrayLike<number>, expected: number[], tolerance: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `[${i}]: ${actual[i]} vs ${expected[i]}`);
}

// A 2×2 RGB image: red, green / blue, a gray of (10, 20, 30).
const PIXELS = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
/** The value torchvision's ToTensor + Normalize gives channel c of pixel p, computed here directly. */
const imagenet = (p: number, c: number) => (PIXELS[3 * p + c] / 255 - MEAN[c]) / STD[c];

describe('image layout from the model input', () => {
  it('channels of 1 or 3 on axis 1 are nchw, on the last axis nhwc; the count picks gray or rgb', () => {
    assert.deepEqual(imageLayout(input([null, 3, 224, 224]), {}, 'd'), {
      layout: 'nchw',
      colour: 'rgb',
      channels: 3,
      height: 224,
      width: 224,
      resize: 'crop',
      sample: [3, 224, 224],
    });
    assert.deepEqual(imageLayout(input([1, 160, 120, 3]), {}, 'd').sample, [160, 120, 3]);
    assert.equal(imageLayout(input([1, 160, 120, 3]), {}, 'd').layout, 'nhwc');
    assert.equal(imageLayout(input([null, 1, 28, 28]), {}, 'd').colour, 'gray');
    assert.deepEqual(imageLayout(input([null, 28, 28]), {}, 'd').sample, [28, 28]);
  });

  it('a free size comes from --image-size, square or H,W; it must agree with a fixed one', () => {
    assert.deepEqual(imageLayout(input([null, 3, null, null]), { imageSize: [96] }, 'd').sample, [3, 96, 96]);
    assert.deepEqual(imageLayout(input([null, null, null, 3]), { imageSize: [64, 48] }, 'd').sample, [64, 48, 3]);
    assert.throws(
      () => imageLayout(input([null, 3, null, null]), {}, 'calib'),
      /calib: model input "pixels" \[\?, 3, \?, \?\] has a free image size; give it with --image-size H\[,W\]/,
    );
    assert.throws(
      () => imageLayout(input([null, 3, 224, 224]), { imageSize: [256] }, 'd'),
      /takes 224×224 images, but --image-size gives 256×256/,
    );
  });

  it('refuses what contradicts the model', () => {
    assert.throws(
      () => imageLayout(input([null, 1, 28, 28]), { channels: 'rgb' }, 'd'),
      /has 1 channel, but --channels rgb gives 3/,
    );
    assert.throws(() => imageLayout(input([null, 4, 32, 32]), {}, 'd'), /has 4 channels; images give 1 \(gray\) or 3/);
    assert.throws(() => imageLayout(input([null, 784]), {}, 'd'), /does not take images/);
    assert.throws(() => imageLayout(input([null, 3, 8, 8], 'int64'), {}, 'd'), /takes int64; images give float/);
  });
});

describe('normalization', () => {
  it('presets, with --scale, --mean and --std overriding their parts', () => {
    assert.deepEqual(normalization({ preprocess: 'imagenet' }, { colour: 'rgb', channels: 3 }, 'd'), {
      scale: 1 / 255,
      mean: MEAN,
      std: STD,
    });
    assert.deepEqual(normalization({}, { colour: 'gray', channels: 1 }, 'd'), { scale: 1 / 255, mean: [0], std: [1] });
    assert.deepEqual(normalization({ preprocess: '-1-1' }, { colour: 'rgb', channels: 3 }, 'd'), {
      scale: 1 / 255,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
    });
    assert.deepEqual(normalization({ preprocess: 'imagenet', scale: 1 }, { colour: 'rgb', channels: 3 }, 'd').scale, 1);
  });

  it("a preset's RGB means follow the channels to BGR; given values are in the model's order", () => {
    assert.deepEqual(
      normalization({ preprocess: 'imagenet' }, { colour: 'bgr', channels: 3 }, 'd').mean,
      [...MEAN].reverse(),
    );
    assert.deepEqual(normalization({ mean: [1, 2, 3] }, { colour: 'bgr', channels: 3 }, 'd').mean, [1, 2, 3]);
  });

  it('one value or one per channel', () => {
    assert.throws(
      () => normalization({ preprocess: 'imagenet' }, { colour: 'gray', channels: 1 }, 'd'),
      /3 values of mean for 1 channel/,
    );
    assert.throws(
      () => normalization({ std: [1, 0, 1] }, { colour: 'rgb', channels: 3 }, 'd'),
      /--std values must be positive/,
    );
  });
});

describe('decoding images', () => {
  let rgb: string;
  before(async () => {
    rgb = await writeImage('rgb.png', 2, 2, 3, PIXELS);
  });

  it('a 2×2 PNG through imagenet normalization, nchw', async () => {
    const array = await readImages([rgb], input([null, 3, 2, 2]), { preprocess: 'imagenet' }, silent, 'd');
    assert.equal(array.dtype, 'float32');
    assert.deepEqual(array.shape, [1, 3, 2, 2]);
    const expected = [0, 1, 2].flatMap((c) => [0, 1, 2, 3].map((p) => imagenet(p, c)));
    assertClose(array.data as Float32Array, expected, 1e-6);
  });

  it("nhwc keeps each pixel's channels together; bgr reverses them", async () => {
    const nhwc = await readImages([rgb], input([null, 2, 2, 3]), { preprocess: 'imagenet' }, silent, 'd');
    assertClose(
      nhwc.data as Float32Array,
      [0, 1, 2, 3].flatMap((p) => [0, 1, 2].map((c) => imagenet(p, c))),
      1e-6,
    );
    const bgr = await readImages([rgb], input([null, 3, 2, 2]), { channels: 'bgr', scale: 1 }, silent, 'd');
    assertClose(
      bgr.data as Float32Array,
      [2, 1, 0].flatMap((c) => [0, 1, 2, 3].map((p) => PIXELS[3 * p + c])),
      0,
    );
  });

  it('gray is the ITU-R 601 luma of the colours, and alpha is dropped', async () => {
    const rgba = await writeImage('rgba.png', 2, 2, 4, [255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255, 10, 20, 30, 7]);
    const gray = await readImages([rgba], input([null, 1, 2, 2]), { scale: 1 }, silent, 'd');
    const luma = [0, 1, 2, 3].map((p) => 0.299 * PIXELS[3 * p] + 0.587 * PIXELS[3 * p + 1] + 0.114 * PIXELS[3 * p + 2]);
    assertClose(gray.data as Float32Array, luma, 0.5);
  });

  it('a uint8 input takes the pixels as they are, and refuses normalization', async () => {
    const raw = await readImages([rgb], input([null, 2, 2, 3], 'uint8'), {}, silent, 'd');
    assert.equal(raw.dtype, 'uint8');
    assert.deepEqual([...raw.data], PIXELS);
    await assert.rejects(
      readImages([rgb], input([null, 2, 2, 3], 'uint8'), { preprocess: 'imagenet' }, silent, 'd'),
      /takes uint8 pixels as they are/,
    );
  });

  it('crop scales to cover the size and keeps the centre; stretch keeps everything, squeezed', async () => {
    // 6×2: two red columns, two green, two blue.
    const stripes = await writeImage(
      'stripes.png',
      6,
      2,
      3,
      [0, 1].flatMap(() =>
        [0, 0, 1, 1, 2, 2].flatMap((c) => [c === 0 ? 255 : 0, c === 1 ? 255 : 0, c === 2 ? 255 : 0]),
      ),
    );
    const crop = await readImages([stripes], input([null, 2, 2, 3]), { scale: 1 }, silent, 'd');
    assert.deepEqual(
      [...crop.data],
      [0, 1, 2, 3].flatMap(() => [0, 255, 0]),
    );
    const stretch = await readImages([stripes], input([null, 2, 2, 3]), { scale: 1, resize: 'stretch' }, silent, 'd');
    const [r0, g0, b0, r1, g1, b1] = stretch.data as Float32Array;
    assert.ok(r0 > g0 && r0 > b0, `left pixel ${[r0, g0, b0]} is mostly red`);
    assert.ok(b1 > g1 && b1 > r1, `right pixel ${[r1, g1, b1]} is mostly blue`);
  });

  it('reads WebP and TIFF too, and resizes a uniform image to the same colour', async () => {
    const webp = await writeImage('flat.webp', 8, 6, 3, Array.from({ length: 48 }, () => [40, 80, 120]).flat(), 'webp');
    const tiff = await writeImage('flat.tiff', 8, 6, 3, Array.from({ length: 48 }, () => [40, 80, 120]).flat(), 'tiff');
    const array = await readImages([webp, tiff], input([null, 3, 3, 3]), { scale: 1 }, silent, 'd');
    assertClose(
      array.data as Float32Array,
      [0, 1].flatMap(() => [40, 80, 120].flatMap((v) => new Array(9).fill(v))),
      1,
    );
  });

  it('reports progress file by file', async () => {
    const events: string[] = [];
    const progress: Progress = {
      begin: (label, total) => events.push(`${label} ${total}`),
      advance: (done) => events.push(String(done)),
      end: () => events.push('end'),
    };
    await readImages([rgb, rgb], input([null, 3, 2, 2]), {}, progress, 'd');
    assert.deepEqual(events, ['reading images 2', '1', '2', 'end']);
  });

  it('names the file it cannot decode; refuses a model that does not take images before decoding any', async () => {
    writeFileSync(path('broken.png'), 'this is not a PNG');
    await assert.rejects(
      readImages([rgb, path('broken.png')], input([null, 3, 2, 2]), {}, silent, 'd'),
      /broken\.png: cannot read the image/,
    );
    await assert.rejects(
      readImages([path('never-read.png')], input([null, 10]), {}, silent, 'd'),
      /does not take images/,
    );
  });
});

describe('finding image files', () => {
  before(async () => {
    mkdirSync(path('set'));
    for (const [name, value] of [
      ['b.png', 20],
      ['a.png', 10],
      ['c.jpg', 30],
    ] as const) {
      const image = sharp(Uint8Array.from(new Array(12).fill(value)), { raw: { width: 2, height: 2, channels: 3 } });
      await (name.endsWith('.png') ? image.png() : image.jpeg({ quality: 100 })).toFile(join(path('set'), name));
    }
    writeFileSync(join(path('set'), 'notes.md'), 'not an image');
  });

  it('a folder gives its images sorted by name, other files left aside', async () => {
    const found = findSamples(path('set'), 'data');
    assert.equal(found.kind, 'images');
    assert.deepEqual(
      found.files.map((f) => f.slice(dir.length + 5)),
      ['a.png', 'b.png', 'c.jpg'],
    );
    const array = (await decodeSamples(found, [input([null, 3, 2, 2])], { scale: 1 }, silent)).get('pixels')!;
    assert.deepEqual(
      [0, 1, 2].map((n) => Math.round(array.data[n * 12] as number)),
      [10, 20, 30],
    );
  });

  it('a glob picks files by name', () => {
    assert.deepEqual(
      findSamples(join(path('set'), '*.png'), 'data').files.map((f) => f.slice(dir.length + 5)),
      ['a.png', 'b.png'],
    );
    assert.deepEqual(
      findSamples(join(path('set'), '[!a].*g'), 'data').files.map((f) => f.slice(dir.length + 5)),
      ['b.png', 'c.jpg'],
    );
    assert.throws(() => findSamples(join(path('set'), '*.gif'), 'data'), /\*\.gif: no file matches/);
    assert.throws(() => findSamples(join(path('set'), '*'), 'data'), /notes\.md is neither an image/);
  });

  it('glob patterns: * and ? within a name, classes, no leading dot', () => {
    assert.ok(globPattern('img_??.png').test('img_07.png'));
    assert.ok(!globPattern('img_??.png').test('img_7.png'));
    assert.ok(globPattern('*.[jp]*g').test('x.jpeg'));
    assert.ok(!globPattern('*.png').test('.hidden.png'));
    assert.ok(!globPattern('a.png').test('aXpng'));
  });

  it('images feed a model with one input', async () => {
    const two = [input([null, 3, 2, 2]), { name: 'other', type: 'float32' as const, dims: [null, 4] }];
    await assert.rejects(
      decodeSamples(findSamples(path('set'), 'data'), two, {}, silent),
      /images feed a model with one input; this one takes "pixels", "other"/,
    );
  });
});
