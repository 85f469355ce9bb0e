import { readFileSync } from 'node:fs';
import type { ArraySource } from '../src/data/npy.ts';
import { readArrays, readLabels } from '../src/io/files.ts';

/** The trained fixtures of test/fixtures/ (scripts/make_fixtures.py, scripts/make_transformer_fixtures.py). */
export const CNN_FIXTURES = ['mlp', 'vgg', 'resnet', 'mobilenet'] as const;
export const TRANSFORMER_FIXTURES = ['vit', 'text'] as const;
/** The character-level GPT of scripts/make_gpt_fixture.py: agreement is counted per token. */
export const LANGUAGE_FIXTURES = ['gpt'] as const;
/** The Llama-style decoder of scripts/make_llama_fixture.py, exported with a KV cache. */
export const DECODER_FIXTURES = ['llama_kv'] as const;
export type Fixture =
  | (typeof CNN_FIXTURES)[number]
  | (typeof TRANSFORMER_FIXTURES)[number]
  | (typeof LANGUAGE_FIXTURES)[number]
  | (typeof DECODER_FIXTURES)[number];

const dir = new URL('../test/fixtures/', import.meta.url).pathname;
export const fixturePath = (name: string) => `${dir}${name}`;

/** Data files per fixture: the Fashion-MNIST images for all but the text classifier. */
function files(fixture: Fixture) {
  if (fixture === 'text')
    return { calib: 'text_calib.npz', heldout: 'text_heldout.npz', labels: 'text_heldout_labels.npy' };
  if (fixture === 'gpt') return { calib: 'gpt_calib.npz', heldout: 'gpt_heldout.npz' };
  if (fixture === 'llama_kv')
    return { calib: 'llama_calib.npz', heldout: 'llama_heldout.npz', labels: 'llama_heldout.npz' };
  return { calib: 'calib.npy', heldout: 'heldout.npy', labels: 'heldout_labels.npy' };
}

export const loadModel = (fixture: Fixture) => new Uint8Array(readFileSync(fixturePath(`${fixture}.onnx`)));
export const loadCalibration = (fixture: Fixture): Map<string, ArraySource> =>
  readArrays(fixturePath(files(fixture).calib));
/** Read once per fixture: every measurement of a benchmark uses the same held-out data. */
function once<T>(load: (fixture: Fixture) => T): (fixture: Fixture) => T {
  const loaded = new Map<Fixture, T>();
  return (fixture) => loaded.get(fixture) ?? loaded.set(fixture, load(fixture)).get(fixture)!;
}

export const loadHeldout = once((fixture): Map<string, ArraySource> => readArrays(fixturePath(files(fixture).heldout)));
/** Labels of the held-out samples (the decoder's: the next token at every position); none for the GPT. */
export const loadLabels = once((fixture): BigInt64Array | undefined => {
  const path = files(fixture).labels;
  return path ? (readLabels(fixturePath(path)) as BigInt64Array) : undefined;
});
