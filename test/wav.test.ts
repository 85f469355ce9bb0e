import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Progress } from '../src/progress.ts';
import { readWaveforms } from '../src/data/audio.ts';
import { resample, resampledLength } from '../src/data/resample.ts';
import { decodeWav } from '../src/data/wav.ts';
import { windowCount, windowLayout, writeWindows } from '../src/data/windows.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';
import { ascii, chunk, float32, fmt, pcm16, pcm24, riff, sine } from './helpers/wav.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-wav-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('WAV files', () => {
  it('16-bit PCM is scaled to [-1, 1), and stereo is averaged into mono', () => {
    const left = [0, 16384, -32768, 32767];
    const right = [0, -16384, -32768, 0];
    const interleaved = left.flatMap((l, i) => [l, right[i]]);
    const wav = decodeWav(riff([fmt(1, 2, 22050, 16), chunk('data', pcm16(interleaved))]), 'stereo.wav');
    assert.equal(wav.sampleRate, 22050);
    assertClose(wav.samples, [0, 0, -1, 32767 / 65536], 1e-7);
  });

  it('32-bit float and 24-bit PCM are read, also behind WAVE_FORMAT_EXTENSIBLE', () => {
    const values = [0.5, -0.25, 1, -1];
    assertClose(decodeWav(riff([fmt(3, 1, 8000, 32), chunk('data', float32(values))]), 'f.wav').samples, values, 0);
    assertClose(
      decodeWav(riff([fmt(0xfffe, 1, 8000, 32, 3), chunk('data', float32(values))]), 'x.wav').samples,
      values,
      0,
    );
    const ints = [4194304, -2097152, 8388607, -8388608];
    assertClose(
      decodeWav(riff([fmt(1, 1, 8000, 24), chunk('data', pcm24(ints))]), 'p24.wav').samples,
      ints.map((v) => v / 8388608),
      1e-7,
    );
  });

  it('chunks other than fmt and data are skipped, odd-sized ones with their pad byte', () => {
    const wav = riff([fmt(1, 1, 16000, 16), chunk('LIST', ascii('odd')), chunk('data', pcm16([100, -100]))]);
    assertClose(decodeWav(wav, 'list.wav').samples, [100 / 32768, -100 / 32768], 1e-9);
  });

  it('a data size left unknown by a streaming writer means: to the end of the file', () => {
    const wav = riff([fmt(1, 1, 16000, 16), chunk('data', pcm16([1, 2, 3]), 0xffffffff)]);
    assert.equal(decodeWav(wav, 'stream.wav').samples.length, 3);
  });

  it('refuses what it cannot read, naming the file', () => {
    assert.throws(() => decodeWav(ascii('not a wav file at all'), 'a.wav'), /a\.wav is not a WAV file/);
    assert.throws(
      () => decodeWav(riff([fmt(1, 1, 8000, 8), chunk('data', new Uint8Array(4))]), 'b.wav'),
      /b\.wav: 8-bit PCM WAV is not supported/,
    );
    assert.throws(() => decodeWav(riff([fmt(1, 1, 8000, 16)]), 'c.wav'), /c\.wav: WAV file has no data chunk/);
    assert.throws(
      () => decodeWav(riff([fmt(1, 1, 8000, 16), chunk('data', pcm16([1, 2, 3]), 60)]), 'd.wav'),
      /d\.wav: WAV file is truncated/,
    );
    assert.throws(() => decodeWav(riff([chunk('data', pcm16([1]))]), 'e.wav'), /e\.wav: WAV file has no format chunk/);
  });
});

describe('resampling', () => {
  /** Largest deviation from the analytic sine away from the ends, where the signal is cut off. */
  function sineError(out: Float32Array, frequency: number, rate: number, margin: number): number {
    let worst = 0;
    for (let k = margin; k < out.length - margin; k++)
      worst = Math.max(worst, Math.abs(out[k] - Math.sin((2 * Math.PI * frequency * k) / rate)));
    return worst;
  }
  const rms = (x: Float32Array, margin: number) =>
    Math.sqrt(x.subarray(margin, x.length - margin).reduce((a, v) => a + v * v, 0) / (x.length - 2 * margin));

  it('8000 → 16000 Hz reproduces a 440 Hz sine at the new rate', () => {
    const out = resample(Float32Array.from(sine(440, 8000, 8000)), 8000, 16000);
    assert.equal(out.length, 16000);
    assert.ok(sineError(out, 440, 16000, 200) < 1e-4, `error ${sineError(out, 440, 16000, 200)}`);
  });

  it('44100 → 16000 Hz keeps a 3 kHz sine', () => {
    const out = resample(Float32Array.from(sine(3000, 44100, 44100)), 44100, 16000);
    assert.equal(out.length, 16000);
    assert.ok(sineError(out, 3000, 16000, 200) < 1e-4);
  });

  it('48000 → 16000 Hz removes what lies above the new Nyquist frequency instead of folding it back', () => {
    // Dropping every third sample would turn 10 kHz into a full-amplitude 6 kHz tone.
    const out = resample(Float32Array.from(sine(10000, 48000, 48000)), 48000, 16000);
    assert.ok(rms(out, 200) < 1e-4, `rms ${rms(out, 200)}`);
  });

  it('lengths follow the ratio; equal rates leave the signal as it is', () => {
    assert.equal(resampledLength(44100, 44100, 16000), 16000);
    assert.equal(resampledLength(1000, 8000, 16000), 2000);
    const x = Float32Array.from([1, 2, 3]);
    assert.deepEqual([...resample(x, 16000, 16000)], [1, 2, 3]);
  });
});

describe('windows', () => {
  const input = (dims: (number | null)[], type: InputSpec['type'] = 'float32'): InputSpec => ({
    name: 'audio',
    type,
    dims,
  });

  it('every whole window, one per hop; a short signal is padded with silence; an empty one gives none', () => {
    assert.equal(windowCount(10, 4, 4), 2);
    assert.equal(windowCount(10, 4, 2), 4);
    assert.equal(windowCount(3, 4, 4), 1);
    assert.equal(windowCount(0, 4, 4), 0);
    const out = new Float32Array(12).fill(-1);
    assert.equal(writeWindows(Float32Array.from([1, 2, 3, 4, 5, 6]), 4, 2, out, 0), 2);
    assert.deepEqual([...out.subarray(0, 8)], [1, 2, 3, 4, 3, 4, 5, 6]);
    assert.equal(writeWindows(Float32Array.from([7, 8]), 4, 2, out, 8), 1);
    assert.deepEqual([...out.subarray(8)], [7, 8, 0, 0]);
  });

  it("the window is the model's fixed input length, else --window; contradictions are refused", () => {
    assert.deepEqual(windowLayout(input([null, 400]), {}, 'w'), {
      window: 400,
      hop: 400,
      sampleRate: 16000,
      sample: [400],
    });
    assert.deepEqual(windowLayout(input([null, 1, null]), { window: 64, hop: 32, sampleRate: 8000 }, 'w'), {
      window: 64,
      hop: 32,
      sampleRate: 8000,
      sample: [1, 64],
    });
    assert.throws(
      () => windowLayout(input([null, null]), {}, 'w'),
      /takes waveforms of any length; give the window with --window N/,
    );
    assert.throws(
      () => windowLayout(input([null, 400]), { window: 300 }, 'w'),
      /takes windows of 400 samples, but --window gives 300/,
    );
    assert.throws(() => windowLayout(input([null, 3, 32, 32]), {}, 'w'), /does not take waveforms/);
    assert.throws(() => windowLayout(input([null, 400], 'int64'), {}, 'w'), /takes int64; audio gives float samples/);
  });
});

describe('reading WAV files for a model', () => {
  const model: InputSpec = { name: 'waveform', type: 'float32', dims: [null, 4000] };
  const write = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };

  it('resamples each file to the rate, cuts windows, and reports progress', () => {
    // One second at 8 kHz and one at 16 kHz of a 440 Hz sine: 4 windows of 4000 samples each at 16 kHz.
    const a = write(
      'a.wav',
      riff([fmt(1, 1, 8000, 16), chunk('data', pcm16(sine(440, 8000, 8000, 16384).map(Math.round)))]),
    );
    const b = write(
      'b.wav',
      riff([fmt(3, 2, 16000, 32), chunk('data', float32(sine(440, 16000, 16000, 0.5).flatMap((v) => [v, v])))]),
    );
    const events: string[] = [];
    const progress: Progress = {
      begin: (label, total) => events.push(`${label} ${total}`),
      advance: (done) => events.push(String(done)),
      end: () => events.push('end'),
    };
    const array = readWaveforms([a, b], model, {}, progress, 'audio');
    assert.deepEqual(array.shape, [8, 4000]);
    assert.deepEqual(events, ['reading audio 8', '4', '8', 'end']);
    const data = array.data as Float32Array;
    // Window 1 of the first file: samples 4000..7999 of the resampled sine, away from the file's ends.
    const expected = Array.from({ length: 4000 }, (_, k) => 0.5 * Math.sin((2 * Math.PI * 440 * (4000 + k)) / 16000));
    assertClose(data.subarray(4000, 8000), expected, 1e-3, 'resampled window');
    assertClose(
      data.subarray(4 * 4000, 5 * 4000),
      expected.map((_, k) => 0.5 * Math.sin((2 * Math.PI * 440 * k) / 16000)),
      1e-6,
      'second file',
    );
  });

  it('refuses a model that does not take waveforms before reading any file', () => {
    assert.throws(
      () =>
        readWaveforms(
          [join(dir, 'missing.wav')],
          { name: 'image', type: 'float32', dims: [null, 3, 8, 8] },
          {},
          silent,
          'audio',
        ),
      /does not take waveforms/,
    );
  });

  it('names the file it cannot read', () => {
    const bad = write('bad.wav', ascii('RIFF....WAVEjunk'));
    assert.throws(
      () => readWaveforms([bad], model, {}, silent, 'audio'),
      new RegExp(`${bad.replace(/[.]/g, '\\.')}: WAV file has no format chunk`),
    );
  });
});

const silent: Progress = { begin() {}, advance() {}, end() {} };
