import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { NdArray } from './npy.ts';
import type { Progress } from '../progress.ts';
import { IdpruneError } from '../errors.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { allocate } from './decoded-array.ts';
import type { AudioOptions } from './read-options.ts';
import { MAX_SAMPLES, resample, resampledLength } from './resample.ts';
import { monoSamples, readWavFormat, type WavFormat } from './wav.ts';
import { windowCount, windowLayout, writeWindows } from './windows.ts';

/**
 * Windows of WAV files for the model's waveform input: each file mixed to mono, resampled to the
 * sample rate and cut into windows. The headers are read first, so the one output array is allocated
 * at its final size; then each file's samples are read, resampled and copied in, and let go.
 */
export function readWaveforms(
  files: string[],
  input: InputSpec,
  options: AudioOptions,
  progress: Progress,
  source: string,
): NdArray {
  const layout = windowLayout(input, options, source);
  const { window, hop, sampleRate } = layout;
  const formats = files.map((file) => withFile(file, (fd, size) => readWavFormat(reader(fd, file), size, file)));
  const lengths = formats.map((f, i) => checkedLength(f, sampleRate, files[i]));
  const counts = lengths.map((length) => windowCount(length, window, hop));
  const total = counts.reduce((a, b) => a + b, 0);
  const data = allocate('float32', total * window, `${total} windows of ${window} samples`, source) as Float32Array;
  progress.begin('reading audio', total);
  try {
    let done = 0;
    files.forEach((file, i) => {
      const samples = withFile(file, (fd) => readSamples(fd, file, formats[i]));
      done += writeWindows(resample(samples, formats[i].sampleRate, sampleRate), window, hop, data, done * window);
      progress.advance(done);
    });
  } finally {
    progress.end();
  }
  return { dtype: 'float32', shape: [total, ...layout.sample], data };
}

/** The samples a file gives at `rate`; a file longer than MAX_SAMPLES before or after resampling is refused. */
function checkedLength(format: WavFormat, rate: number, file: string): number {
  const length = resampledLength(format.frames, format.sampleRate, rate);
  const longest = Math.max(format.frames, length);
  if (longest > MAX_SAMPLES) {
    const minutes = (format.frames / format.sampleRate / 60).toFixed(1);
    throw new IdpruneError(
      `${file}: ${format.frames} samples at ${format.sampleRate} Hz (${minutes} min) give ${length} at ${rate} Hz; ` +
        `one file may hold at most ${MAX_SAMPLES} samples: split it into shorter files`,
    );
  }
  return length;
}

function withFile<T>(file: string, use: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new IdpruneError(`${file}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return use(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

function reader(fd: number, file: string) {
  return (offset: number, length: number) => {
    const bytes = new Uint8Array(length);
    const got = readSync(fd, bytes, 0, length, offset);
    if (got < length) throw new IdpruneError(`${file}: WAV file is truncated`);
    return bytes;
  };
}

/** Bytes of sample data read at once: whole frames, however many channels, never a whole long file. */
const READ_BYTES = 1 << 24;

function readSamples(fd: number, file: string, format: WavFormat): Float32Array {
  const frameBytes = (format.channels * format.bitsPerSample) / 8;
  const step = Math.max(1, Math.floor(READ_BYTES / frameBytes));
  const read = reader(fd, file);
  const out = new Float32Array(format.frames);
  for (let first = 0; first < format.frames; first += step) {
    const frames = Math.min(step, format.frames - first);
    const bytes = read(format.dataOffset + first * frameBytes, frames * frameBytes);
    out.set(monoSamples(bytes, { ...format, frames }, file, first), first);
  }
  return out;
}
