import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Progress } from '../src/progress.ts';
import { imageLayout } from '../src/data/image-layout.ts';
import { readImages } from '../src/data/images.ts';
import { IdpruneError } from '../src/errors.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';
import { idprune } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-images-hardening-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const silent: Progress = { begin() {}, advance() {}, end() {} };
const input = (dims: (number | null)[]): InputSpec => ({ name: 'pixels', type: 'float32', dims });

/** A 64×64 RGB image of varied pixels, encoded as `format` (a TIFF's tiles are JPEG-compressed, sharp's default). */
function encoded(format: 'jpeg' | 'tiff'): Promise<Buffer> {
  const pixels = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 37) % 251);
  const image = sharp(pixels, { raw: { width: 64, height: 64, channels: 3 } });
  return (format === 'jpeg' ? image.jpeg() : image.tiff()).toBuffer();
}

/** The message reading the first `fraction` of `bytes` fails with, or undefined where the image still decodes. */
async function failure(bytes: Buffer, fraction: number, name: string): Promise<string | undefined> {
  const file = join(dir, name);
  writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  try {
    await readImages([file], input([null, 3, 8, 8]), {}, silent, 'd');
    return undefined;
  } catch (err) {
    assert.ok(err instanceof IdpruneError, String(err));
    return err.message;
  }
}

const CUTS = Array.from({ length: 19 }, (_, i) => (i + 1) / 20);

describe("a cut image file: the decoder's message on one line", () => {
  for (const format of ['jpeg', 'tiff'] as const) {
    it(`a ${format.toUpperCase()} cut anywhere fails on one line naming the file`, async () => {
      const bytes = await encoded(format);
      let failed = 0;
      for (const cut of CUTS) {
        const message = await failure(bytes, cut, `cut.${format}`);
        if (message === undefined) continue;
        failed++;
        assert.match(message, new RegExp(`^${join(dir, `cut.${format}`)}: cannot read the image \\(.+\\)$`));
        assert.doesNotMatch(message, /\n/, `cut at ${cut}: ${JSON.stringify(message)}`);
      }
      assert.ok(failed > 0, 'some cuts fail');
    });
  }

  it("the decoder's lines are given once, the essential message kept", async () => {
    // Cut in its headers, this JPEG makes libvips report "premature end of JPEG image" on three lines.
    const message = await failure(await encoded('jpeg'), 0.05, 'early.jpg');
    assert.match(message ?? '', /early\.jpg: cannot read the image \(.*VipsJpeg: premature end of JPEG image/);
    assert.equal(message?.split('premature end of JPEG image').length, 2, message);
  });

  it("a TIFF's two lines are joined", async () => {
    const message = await failure(await encoded('tiff'), 0.85, 'late.tiff');
    assert.match(message ?? '', /late\.tiff: cannot read the image \(tiff2vips: .+; tiff2vips: read error\)$/);
  });
});

describe('image sizes', () => {
  it('a model fixing a size of 0 is refused before any file is read, not blamed on the image', () => {
    assert.throws(
      () => imageLayout(input([null, 3, 0, 0]), {}, 'd'),
      (err: unknown) =>
        err instanceof IdpruneError &&
        /^d: model input "pixels" \[\?, 3, 0, 0\] takes 0×0 images; sizes must be positive integers$/.test(err.message),
    );
  });
});

describe('the command line', () => {
  before(async () => {
    mkdirSync(join(dir, 'cut'));
    const bytes = await encoded('jpeg');
    writeFileSync(join(dir, 'cut', 'a.jpg'), bytes.subarray(0, Math.floor(bytes.length * 0.05)));
  });

  it('a cut JPEG fails with one line, exit 1', async () => {
    const out = await idprune('inspect', fixture('vgg.onnx'), '--calib', join(dir, 'cut'));
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /^idprune: error: .*a\.jpg: cannot read the image \(.*premature end of JPEG image/);
    assert.equal(out.stderr.trimEnd().split('\n').length, 1, out.stderr);
  });
});
