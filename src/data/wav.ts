import { IdpruneError } from '../errors.ts';
import { MAX_INPUT_MAGNITUDE } from './decoded-array.ts';

/** What a WAV file holds and where its samples are. */
export interface WavFormat {
  encoding: 'pcm' | 'float';
  bitsPerSample: number;
  channels: number;
  sampleRate: number;
  frames: number;
  /** Byte offset of the first sample. */
  dataOffset: number;
}

/** Bytes [offset, offset + length) of a file, however it is held (a Node file, a browser ArrayBuffer). */
export type ByteReader = (offset: number, length: number) => Uint8Array;

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;
/** A data chunk size written by streaming encoders that did not know the length. */
const UNKNOWN_SIZE = 0xffffffff;
/**
 * The sample rates taken. Audio is recorded from 8 kHz (telephony) up; ultrasound recorders (bat
 * detectors) write WAV files at up to 500 kHz, so 1 MHz leaves room. A rate outside is a broken
 * header, and resampling it to a model's rate would take minutes (1 Hz to 16 kHz multiplies the
 * length by 16 000).
 */
export const SAMPLE_RATES = { min: 1000, max: 1_000_000 };

const ascii = (bytes: Uint8Array, start: number) => String.fromCharCode(...bytes.subarray(start, start + 4));

/**
 * Walks the RIFF chunks of a WAV file of `size` bytes, reading only chunk headers and the format
 * chunk: the sample data is not touched. 16- and 24-bit PCM and 32-bit float are read.
 */
export function readWavFormat(read: ByteReader, size: number, source: string): WavFormat {
  const riff = size >= 12 ? read(0, 12) : new Uint8Array(0);
  if (riff.length < 12 || ascii(riff, 0) !== 'RIFF' || ascii(riff, 8) !== 'WAVE')
    throw new IdpruneError(`${source} is not a WAV file (no RIFF/WAVE header)`);
  let format: Omit<WavFormat, 'frames' | 'dataOffset'> | undefined;
  let data: { offset: number; length: number } | undefined;
  for (let offset = 12; offset + 8 <= size && !(format && data); ) {
    const header = read(offset, 8);
    const id = ascii(header, 0);
    const length = new DataView(header.buffer, header.byteOffset, 8).getUint32(4, true);
    const body = offset + 8;
    if (body + length > size && !(id === 'data' && length === UNKNOWN_SIZE))
      throw pastEnd(id, offset, length, size, source);
    if (id === 'fmt ') format = parseFormat(read(body, Math.min(length, 40)), source);
    if (id === 'data') data = { offset: body, length: length === UNKNOWN_SIZE ? size - body : length };
    offset = body + length + (length & 1);
  }
  if (!format) throw new IdpruneError(`${source}: WAV file has no format chunk`);
  if (!data) throw new IdpruneError(`${source}: WAV file has no data chunk`);
  const frameBytes = (format.channels * format.bitsPerSample) / 8;
  return { ...format, frames: Math.floor(data.length / frameBytes), dataOffset: data.offset };
}

/** A chunk longer than what is left of the file: a cut data chunk, or a size field that is not one. */
function pastEnd(id: string, offset: number, length: number, size: number, source: string): IdpruneError {
  if (id === 'data')
    return new IdpruneError(`${source}: WAV file is truncated (${size - offset - 8} of ${length} data bytes)`);
  return new IdpruneError(
    `${source}: WAV chunk ${JSON.stringify(id)} at byte ${offset} declares ${length} bytes, ` +
      `past the end of the file (${size} bytes)`,
  );
}

function parseFormat(bytes: Uint8Array, source: string): Omit<WavFormat, 'frames' | 'dataOffset'> {
  if (bytes.length < 16) throw new IdpruneError(`${source}: WAV format chunk is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let tag = view.getUint16(0, true);
  const channels = view.getUint16(2, true);
  const sampleRate = view.getUint32(4, true);
  const bitsPerSample = view.getUint16(14, true);
  // WAVE_FORMAT_EXTENSIBLE names the real format in the first two bytes of its subformat GUID.
  if (tag === FORMAT_EXTENSIBLE && bytes.length >= 26) tag = view.getUint16(24, true);
  const encoding =
    tag === FORMAT_PCM && (bitsPerSample === 16 || bitsPerSample === 24)
      ? 'pcm'
      : tag === FORMAT_FLOAT && bitsPerSample === 32
        ? 'float'
        : undefined;
  if (!encoding) {
    const kind =
      tag === FORMAT_PCM
        ? `${bitsPerSample}-bit PCM`
        : tag === FORMAT_FLOAT
          ? `${bitsPerSample}-bit float`
          : `format tag ${tag}`;
    throw new IdpruneError(`${source}: ${kind} WAV is not supported (16- or 24-bit PCM, or 32-bit float)`);
  }
  if (channels < 1) throw new IdpruneError(`${source}: WAV format chunk gives ${channels} channels`);
  if (sampleRate < SAMPLE_RATES.min || sampleRate > SAMPLE_RATES.max) {
    throw new IdpruneError(
      `${source}: WAV format chunk gives a sample rate of ${sampleRate} Hz ` +
        `(taken: ${SAMPLE_RATES.min} to ${SAMPLE_RATES.max} Hz)`,
    );
  }
  return { encoding, bitsPerSample, channels, sampleRate };
}

/**
 * The samples of `bytes` (whole frames of the data chunk, from frame `first`), channels averaged into
 * one, in [−1, 1]. Float samples that are not finite or beyond ±MAX_INPUT_MAGNITUDE are refused, naming the file.
 */
export function monoSamples(bytes: Uint8Array, format: WavFormat, source: string, first = 0): Float32Array {
  const { channels, frames } = format;
  const width = format.bitsPerSample / 8;
  if (bytes.length < frames * channels * width)
    throw new Error(`expected ${frames * channels * width} bytes of samples, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sample: (at: number) => number =
    format.encoding === 'float'
      ? (at) => view.getFloat32(at, true)
      : width === 2
        ? (at) => view.getInt16(at, true) / 32768
        : (at) => (view.getUint8(at) | (view.getUint8(at + 1) << 8) | (view.getInt8(at + 2) << 16)) / 8388608;
  const out = new Float32Array(frames);
  for (let f = 0, at = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++, at += width) {
      const value = sample(at);
      if (!(Math.abs(value) <= MAX_INPUT_MAGNITUDE)) throw badSample(value, first + f, c, format, source);
      sum += value;
    }
    out[f] = sum / channels;
  }
  return out;
}

function badSample(value: number, frame: number, channel: number, format: WavFormat, source: string): IdpruneError {
  const what = Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? String(value) : 'infinite';
  const where = format.channels > 1 ? ` of channel ${channel + 1}` : '';
  return new IdpruneError(
    `${source}: WAV sample ${frame}${where} (at ${(frame / format.sampleRate).toFixed(3)} s) is ${what}; ` +
      `samples must be finite and within ±${MAX_INPUT_MAGNITUDE} (audio is within ±1)`,
  );
}

/** A whole WAV file held in memory: its sample rate and mono samples. */
export function decodeWav(bytes: Uint8Array, source: string): { sampleRate: number; samples: Float32Array } {
  const format = readWavFormat((offset, length) => bytes.subarray(offset, offset + length), bytes.length, source);
  return { sampleRate: format.sampleRate, samples: monoSamples(bytes.subarray(format.dataOffset), format, source) };
}
