import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Progress } from '../src/progress.ts';
import { readWaveforms } from '../src/data/audio.ts';
import { decodeWav } from '../src/data/wav.ts';
import { IdpruneError } from '../src/errors.ts';
import { windowLayout } from '../src/data/windows.ts';
import { encodeModel } from '../src/onnx/model.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';
import { idprune } from './helpers/cli.ts';
import { waveformConv } from './helpers/models.ts';
import { ascii, chunk, float32, fmt, pcm16, riff } from './helpers/wav.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-audio-hardening-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const silent: Progress = { begin() {}, advance() {}, end() {} };
const model: InputSpec = { name: 'waveform', type: 'float32', dims: [null, null] };

const pcmWav = (rate: number, frames: number) =>
  riff([fmt(1, 1, rate, 16), chunk('data', pcm16(new Int16Array(frames)))]);
const floatWav = (channels: number, values: ArrayLike<number>) =>
  riff([fmt(3, channels, 16000, 32), chunk('data', float32(values))]);
/** An IdpruneError whose one-line message matches `pattern`. */
const refused = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof IdpruneError, String(err));
  assert.match(err.message, pattern);
  assert.doesNotMatch(err.message, /\n/);
  return true;
};
function write(name: string, bytes: Uint8Array): string {
  writeFileSync(join(dir, name), bytes);
  return join(dir, name);
}

describe('WAV sample rates', () => {
  it('a rate outside 1 kHz to 1 MHz is refused when the header is read, naming the file', () => {
    for (const rate of [0, 1, 999, 1_000_001, 4_000_000_000]) {
      assert.throws(
        () => decodeWav(pcmWav(rate, 4), 'odd.wav'),
        refused(
          new RegExp(`^odd\\.wav: WAV format chunk gives a sample rate of ${rate} Hz \\(taken: 1000 to 1000000 Hz\\)$`),
        ),
      );
    }
  });

  it('rates of 1 kHz and 1 MHz are read', () => {
    assert.equal(decodeWav(pcmWav(1000, 4), 'low.wav').sampleRate, 1000);
    assert.equal(decodeWav(pcmWav(1_000_000, 4), 'high.wav').sampleRate, 1_000_000);
  });

  it('a 1 Hz file is refused before it is resampled (16 samples would become 256 000 at 16 kHz)', () => {
    const file = write('one-hertz.wav', pcmWav(1, 16));
    assert.throws(
      () => readWaveforms([file], model, { window: 64 }, silent, 'audio'),
      refused(/one-hertz\.wav: WAV format chunk gives a sample rate of 1 Hz/),
    );
  });

  it('the rate to resample to is held to the same range', () => {
    assert.throws(
      () => windowLayout(model, { window: 64, sampleRate: 1 }, 'audio'),
      refused(/^audio: the sample rate must be from 1000 to 1000000 Hz \(got 1\)$/),
    );
  });

  it('a file that would resample to more than 2^27 samples is refused before anything is allocated', () => {
    // 140 000 samples at 1 kHz are 140 million at 1 MHz: more than one file may give.
    const file = write('long.wav', pcmWav(1000, 140_000));
    const started = performance.now();
    assert.throws(
      () => readWaveforms([file], model, { window: 64, sampleRate: 1_000_000 }, silent, 'audio'),
      refused(/long\.wav: 140000 samples at 1000 Hz \(2\.3 min\) give 140000000 at 1000000 Hz; .* at most 134217728/),
    );
    assert.ok(performance.now() - started < 1000, 'refused at once');
  });
});

describe('WAV chunk sizes', () => {
  it('a chunk declaring more bytes than the file holds is refused, naming the chunk', () => {
    const wav = riff([fmt(1, 1, 16000, 16), chunk('LIST', ascii('info'), 4_000_000_000), chunk('data', pcm16([1, 2]))]);
    assert.throws(
      () => decodeWav(wav, 'list.wav'),
      refused(/^list\.wav: WAV chunk "LIST" at byte 36 declares 4000000000 bytes, past the end of the file/),
    );
  });

  it('a chunk name of control characters stays on one line', () => {
    const wav = riff([chunk('\n\r\0\t', ascii('xx'), 1000), fmt(1, 1, 16000, 16), chunk('data', pcm16([1]))]);
    assert.throws(() => decodeWav(wav, 'junk.wav'), refused(/^junk\.wav: WAV chunk "\\n\\r\\u0000\\t" at byte 12/));
  });
});

describe('float WAV samples', () => {
  it('a sample of 3e38 is refused when the file is read, naming the file and the sample', () => {
    const values = [0.5, -0.25, 3e38, 0.1];
    assert.throws(
      () => decodeWav(floatWav(1, values), 'huge.wav'),
      refused(/^huge\.wav: WAV sample 2 \(at 0\.000 s\) is 3\.0+\d*e\+38; samples must be finite and within ±10{15} /),
    );
    const file = write('huge.wav', floatWav(1, values));
    assert.throws(
      () => readWaveforms([file], model, { window: 2 }, silent, 'audio'),
      refused(/huge\.wav: WAV sample 2/),
    );
  });

  it('NaN and infinity are refused, with the channel of a stereo file', () => {
    assert.throws(
      () => decodeWav(floatWav(1, [0, Number.NaN]), 'nan.wav'),
      refused(/^nan\.wav: WAV sample 1 .* is NaN;/),
    );
    assert.throws(
      () => decodeWav(floatWav(2, [0, 0, 0.5, Number.NEGATIVE_INFINITY]), 'inf.wav'),
      refused(/^inf\.wav: WAV sample 1 of channel 2 \(at 0\.000 s\) is infinite;/),
    );
  });

  it('a stereo pair of huge samples of opposite sign is refused, not averaged away', () => {
    assert.throws(
      () => decodeWav(floatWav(2, [1e30, -1e30]), 'pair.wav'),
      refused(/^pair\.wav: WAV sample 0 of channel 1/),
    );
  });

  it('samples beyond ±1 that clipping leaves are read as they are', () => {
    assert.deepEqual([...decodeWav(floatWav(1, [1.5, -2, 1e6]), 'loud.wav').samples], [1.5, -2, 1e6]);
  });

  it('a file read in pieces names a bad sample by its place in the whole file', () => {
    // 5 million float samples (20 MB) are read in more than one piece.
    const values = new Float32Array(5_000_000);
    values[4_800_000] = Number.POSITIVE_INFINITY;
    const file = write('pieces.wav', floatWav(1, values));
    assert.throws(
      () => readWaveforms([file], model, { window: 1_000_000 }, silent, 'audio'),
      refused(/pieces\.wav: WAV sample 4800000 \(at 300\.000 s\) is infinite/),
    );
  });

  it('a file read in pieces gives every sample once, in order', () => {
    const values = Float32Array.from({ length: 4_500_000 }, (_, i) => (i % 1000) / 1000);
    const file = write('ramp.wav', floatWav(1, values));
    const array = readWaveforms([file], model, { window: 4_500_000 }, silent, 'audio');
    assert.deepEqual(array.shape, [1, 4_500_000]);
    assert.deepEqual(array.data, values);
  });
});

describe('the command line', () => {
  it('a WAV file declaring 1 Hz fails at once, on one line', async () => {
    writeFileSync(join(dir, 'waveform.onnx'), encodeModel(waveformConv()));
    const file = write('cli-one-hertz.wav', pcmWav(1, 16));
    const out = await idprune('inspect', join(dir, 'waveform.onnx'), '--calib', file, '--window', '64');
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /^idprune: error: .*cli-one-hertz\.wav: WAV format chunk gives a sample rate of 1 Hz/);
    assert.equal(out.stderr.trimEnd().split('\n').length, 1, out.stderr);
  });
});
