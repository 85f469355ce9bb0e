// --augment: few calibration images are joined by their left-right mirror images.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { imageWidthAxis, mirrorOrder, mirrorPositions, mirrors, withMirrors } from '../src/calibrate/mirror.ts';
import { parseNpy } from '../src/data/npy.ts';
import { compress } from '../src/index.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';
import { formatCompression } from '../src/report/text.ts';

const spec = (name: string, dims: (number | null)[], type: InputSpec['type'] = 'float32'): InputSpec =>
  ({ name, dims, type }) as InputSpec;
const counting = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

describe('mirrored calibration images', () => {
  it('finds the width axis of image inputs, first or last channels, and of nothing else', () => {
    assert.equal(imageWidthAxis(spec('x', [null, 3, 32, 48]), [4, 3, 32, 48]), 3);
    assert.equal(imageWidthAxis(spec('x', [null, 32, 48, 1]), [4, 32, 48, 1]), 2);
    assert.equal(
      imageWidthAxis(spec('x', [null, 16, 32, 48]), [4, 16, 32, 48]),
      undefined,
      '16 channels: not an image',
    );
    assert.equal(imageWidthAxis(spec('x', [null, 3, 4, 4]), [4, 3, 4, 4]), undefined, 'too small to be an image');
    assert.equal(imageWidthAxis(spec('x', [null, 576]), [4, 576]), undefined);
    assert.equal(imageWidthAxis(spec('ids', [null, 3, 32, 48], 'int64'), [4, 3, 32, 48]), undefined);
  });

  it('follows the samples with their mirror images, flipped along the width, other inputs repeated', () => {
    const images = { dtype: 'float32' as const, shape: [2, 1, 8, 9], data: counting(2 * 72) };
    const other = { dtype: 'float32' as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const inputs = [spec('image', [null, 1, 8, 9]), spec('extra', [null, 3])];
    const dataset = withMirrors(
      makeDataset(
        new Map([
          ['image', images],
          ['extra', other],
        ]),
        inputs,
        'calib',
      ),
    );
    assert.equal(dataset.count, 4);
    const image = dataset.arrays.image.rows(0, 4) as Float32Array;
    assert.deepEqual([...image.subarray(0, 144)], [...images.data], 'the samples first, unchanged');
    for (let s = 0; s < 2; s++) {
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 9; x++)
          assert.equal(image[(2 + s) * 72 + y * 9 + x], images.data[s * 72 + y * 9 + (8 - x)]);
      }
    }
    assert.deepEqual([...(dataset.arrays.extra.rows(0, 4) as Float32Array)], [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  });

  it('keeps an image and its mirror at indices of one parity, the last of an odd count unmirrored', () => {
    const order = mirrorOrder(5);
    assert.equal(order.length, 9);
    for (let sample = 0; sample < 5; sample++) {
      const at = order.flatMap((o, i) => (o.sample === sample ? [i] : []));
      assert.deepEqual(at, mirrorPositions(sample, 5), `sample ${sample}`);
      assert.deepEqual(
        at.map((i) => order[i].mirror),
        sample === 4 ? [false] : [false, true],
      );
      assert.ok(
        at.every((i) => i % 2 === at[0] % 2),
        `sample ${sample}: one parity`,
      );
    }
  });

  it('flips channels-last images by whole pixels', () => {
    const images = { dtype: 'float32' as const, shape: [2, 8, 8, 3], data: counting(384) };
    const dataset = withMirrors(makeDataset(new Map([['x', images]]), [spec('x', [null, 8, 8, 3])], 'calib'));
    const mirrored = dataset.arrays.x.rows(2, 1) as Float32Array;
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++)
        for (let c = 0; c < 3; c++) assert.equal(mirrored[(y * 8 + x) * 3 + c], images.data[(y * 8 + 7 - x) * 3 + c]);
  });

  it('by default only where images are fewer than 128; always or never when told', () => {
    const inputs = [spec('x', [null, 3, 8, 8])];
    const dataset = (n: number) =>
      makeDataset(
        new Map([['x', { dtype: 'float32' as const, shape: [n, 3, 8, 8], data: new Float32Array(n * 192) }]]),
        inputs,
        'calib',
      );
    assert.equal(mirrors(dataset(127)), true);
    assert.equal(mirrors(dataset(128)), false);
    assert.equal(mirrors(dataset(128), 'mirror'), true);
    assert.equal(mirrors(dataset(16), 'none'), false);
    const vectors = makeDataset(
      new Map([['v', { dtype: 'float32' as const, shape: [4, 8], data: new Float32Array(32) }]]),
      [spec('v', [null, 8])],
      'calib',
    );
    assert.equal(mirrors(vectors, 'mirror'), false, 'no image input');
  });

  it(
    'a compression of 16 calibration images says it used their mirror images, ' +
      'and counts and splits the images given',
    async () => {
      const calib = parseNpy(
        new Uint8Array(readFileSync(new URL('./fixtures/calib.npy', import.meta.url))),
        'calib.npy',
      );
      const sixteen = { data: (calib.data as Float32Array).subarray(0, 16 * 784), shape: [16, 1, 28, 28] };
      const vgg = new Uint8Array(readFileSync(new URL('./fixtures/vgg.onnx', import.meta.url)));
      const { report } = await compress(vgg, sixteen, { targetFlops: 0.7, mode: 'plain', estimate: true });
      assert.equal(report.mirrored, true);
      assert.equal(report.calibrationSamples, 16);
      // The estimate holds out a quarter of the images given, never the mirror of an image it fitted.
      assert.equal(report.estimate!.samples, 4);
      assert.equal(report.estimate!.fitSamples, 12);
      assert.match(formatCompression(report), /^calibration 16 samples and their mirror images,/m);
      const { report: plain } = await compress(vgg, sixteen, { targetFlops: 0.7, mode: 'plain', augment: 'none' });
      assert.equal(plain.mirrored, false);
    },
  );
});
