import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { NdArray } from './npy.ts';
import type { Progress } from '../progress.ts';
import { IdpruneError } from '../errors.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { allocate } from './decoded-array.ts';
import type { AudioOptions } from './read-options.ts';
import { resample, resampledLength } from './resample.ts';
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
  const counts = formats.map((f) => windowCount(resampledLength(f.frames, f.sampleRate, sampleRate), window, hop));
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

function readSamples(fd: number, file: string, format: WavFormat): Float32Array {
  const bytes = reader(fd, file)(format.dataOffset, (format.frames * format.channels * format.bitsPerSample) / 8);
  return monoSamples(bytes, format);
}
