import { IdpruneError } from '../errors.ts';
import { batchAxis, type InputSpec } from '../onnx/shapes.ts';
import type { AudioOptions } from './read-options.ts';
import { SAMPLE_RATES } from './wav.ts';

/** How waveforms are cut into samples of a model's waveform input. */
export interface WindowLayout {
  window: number;
  hop: number;
  sampleRate: number;
  /** One sample's shape as the model takes it, without the batch axis: [..., window]. */
  sample: number[];
}

const FLOAT_TYPES = ['float32', 'float16', 'float64'];

/**
 * A waveform input is [batch, samples] (or [batch, 1, …, samples]); its window is the fixed last
 * axis, else `window`. A given window that contradicts the model is refused.
 */
export function windowLayout(input: InputSpec, options: AudioOptions, source: string): WindowLayout {
  const dims = input.dims;
  const where = `${source}: model input "${input.name}" [${dims.map((d) => d ?? '?').join(', ')}]`;
  if (!FLOAT_TYPES.includes(input.type))
    throw new IdpruneError(`${where} takes ${input.type}; audio gives float samples`);
  const middle = dims.slice(1, -1);
  if (dims.length < 2 || batchAxis(input) !== 0 || middle.some((d) => d !== 1)) {
    throw new IdpruneError(`${where} does not take waveforms ([batch, samples])`);
  }
  const fixed = dims[dims.length - 1];
  const window = fixed ?? options.window;
  if (window === undefined)
    throw new IdpruneError(`${where} takes waveforms of any length; give the window with --window N`);
  if (options.window !== undefined && options.window !== window) {
    throw new IdpruneError(`${where} takes windows of ${window} samples, but --window gives ${options.window}`);
  }
  const hop = options.hop ?? window;
  const sampleRate = options.sampleRate ?? 16000;
  for (const [name, value] of Object.entries({ window, hop, 'sample rate': sampleRate })) {
    if (!Number.isInteger(value) || value < 1)
      throw new IdpruneError(`${source}: the ${name} must be a positive integer (got ${value})`);
  }
  // Held to the rates WAV files are read at: outside them, a rate is a mistake (--sample-rate 1).
  if (sampleRate < SAMPLE_RATES.min || sampleRate > SAMPLE_RATES.max) {
    throw new IdpruneError(
      `${source}: the sample rate must be from ${SAMPLE_RATES.min} to ${SAMPLE_RATES.max} Hz (got ${sampleRate})`,
    );
  }
  return { window, hop, sampleRate, sample: [...middle.map(() => 1), window] };
}

/**
 * The windows a signal of `length` samples gives: every window that fits, one every `hop` samples
 * (a tail shorter than a window is left out); a signal shorter than one window gives one, padded
 * with silence; an empty one gives none.
 */
export function windowCount(length: number, window: number, hop: number): number {
  if (length === 0) return 0;
  if (length <= window) return 1;
  return 1 + Math.floor((length - window) / hop);
}

/** Copies the windows of `signal` into `out` from `offset`; returns how many were written. */
export function writeWindows(
  signal: Float32Array,
  window: number,
  hop: number,
  out: Float32Array,
  offset: number,
): number {
  const count = windowCount(signal.length, window, hop);
  for (let w = 0; w < count; w++) {
    const start = w * hop;
    const part = signal.subarray(start, Math.min(start + window, signal.length));
    out.set(part, offset + w * window);
    out.fill(0, offset + w * window + part.length, offset + (w + 1) * window);
  }
  return count;
}
