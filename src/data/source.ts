import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { NdArray } from './npy.ts';
import { type Progress, silentProgress } from '../progress.ts';
import { IdpruneError, oneLine } from '../errors.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { readWaveforms } from './audio.ts';
import { expandGlob, isGlob } from './glob.ts';
import { IMAGE_EXTENSIONS, readImages } from './images.ts';
import type { ReadOptions } from './read-options.ts';
import { parseTexts, textLayout, tokenizeTexts } from './text.ts';
import { loadTokenizer } from './tokenizer.ts';

export type SampleKind = 'numpy' | 'images' | 'audio' | 'text';

/** What a data path holds: NumPy arrays (read as before), or files of one kind to decode. */
export interface SampleFiles {
  kind: SampleKind;
  path: string;
  files: string[];
}

const kindOf = (file: string): SampleKind | undefined => {
  const ext = extname(file).toLowerCase();
  if (ext === '.npy' || ext === '.npz') return 'numpy';
  if (ext === '.wav') return 'audio';
  if (ext === '.txt' || ext === '.jsonl') return 'text';
  return IMAGE_EXTENSIONS.includes(ext) ? 'images' : undefined;
};

/**
 * Chooses the reader by the path: a folder of .npy files, of images or of .wav files; a quoted glob
 * of images or .wav files; or one file by its extension (anything unknown is read as .npy, whose
 * reader names what is wrong with it).
 */
export function findSamples(path: string, what: string): SampleFiles {
  if (isGlob(path) && !existsSync(path)) return ofOneKind(expandGlob(path, what), path, what);
  if (!existsSync(path)) throw new IdpruneError(`${what} ${path}: no such file or folder`);
  if (!statSync(path).isDirectory()) {
    const kind = kindOf(path) ?? 'numpy';
    return { kind, path, files: [path] };
  }
  const names = readdirSync(path)
    .filter((name) => !name.startsWith('.'))
    .sort();
  if (names.some((name) => name.endsWith('.npy'))) return { kind: 'numpy', path, files: [] };
  const files = names
    .filter((name) => kindOf(name) === 'images' || kindOf(name) === 'audio')
    .map((name) => join(path, name))
    .filter((f) => statSync(f).isFile());
  if (files.length === 0)
    throw new IdpruneError(
      `${what} folder ${path} holds no .npy files, images (${IMAGE_EXTENSIONS.join(', ')}) or .wav files`,
    );
  return ofOneKind(files, path, what);
}

function ofOneKind(files: string[], path: string, what: string): SampleFiles {
  const kinds = new Set(files.map(kindOf));
  if (kinds.size === 1 && (kinds.has('images') || kinds.has('audio'))) return { kind: [...kinds][0]!, path, files };
  if (kinds.size > 1 && [...kinds].every((k) => k === 'images' || k === 'audio')) {
    throw new IdpruneError(`${what} ${path} holds both images and .wav files; give one kind`);
  }
  const other = files.find((f) => kindOf(f) !== 'images' && kindOf(f) !== 'audio')!;
  throw new IdpruneError(
    `${what} ${path}: ${other} is neither an image (${IMAGE_EXTENSIONS.join(', ')}) nor a .wav file`,
  );
}

/** Decodes images, audio or text into one array for each of the model's inputs they feed. */
export async function decodeSamples(
  found: SampleFiles,
  inputs: readonly InputSpec[],
  options: ReadOptions,
  progress: Progress = silentProgress,
): Promise<Map<string, NdArray>> {
  const { kind, path } = found;
  if (kind === 'numpy') throw new Error('NumPy data is read by readArrays');
  if (kind === 'text') {
    const layout = textLayout(inputs, options, path);
    const tokenizer = readTokenizer(options, path);
    const texts = parseTexts(
      readText(path),
      extname(path).toLowerCase() === '.jsonl' ? 'jsonl' : 'txt',
      options.textField ?? 'text',
      path,
    );
    return tokenizeTexts(tokenizer, texts, layout, path, progress);
  }
  if (inputs.length !== 1) {
    throw new IdpruneError(
      `${path}: ${kind} feed a model with one input; ` +
        `this one takes ${inputs.map((i) => `"${i.name}"`).join(', ')} (give every input in an .npz)`,
    );
  }
  const input = inputs[0];
  const array =
    kind === 'images'
      ? await readImages(found.files, input, options, progress, path)
      : readWaveforms(found.files, input, options, progress, path);
  return new Map([[input.name, array]]);
}

function readText(file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
  } catch (err) {
    if (err instanceof TypeError) throw new IdpruneError(`${file}: not UTF-8 text`);
    throw new IdpruneError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The tokenizer given, else the tokenizer.json beside the model; with its tokenizer_config.json where there is one. */
function readTokenizer(options: ReadOptions, source: string) {
  const beside = options.modelPath ? join(dirname(options.modelPath), 'tokenizer.json') : undefined;
  const file = options.tokenizer ?? (beside && existsSync(beside) ? beside : undefined);
  if (!file)
    throw new IdpruneError(
      `${source}: text data needs the model's tokenizer; give its tokenizer.json with --tokenizer`,
    );
  const json = readJson(file, 'tokenizer');
  const configFile = join(dirname(file), 'tokenizer_config.json');
  const config = existsSync(configFile) ? readJson(configFile, 'tokenizer config') : {};
  return loadTokenizer(json, config, file);
}

function readJson(file: string, what: string): unknown {
  if (!existsSync(file)) throw new IdpruneError(`${what} ${file}: no such file`);
  try {
    return JSON.parse(readText(file));
  } catch (err) {
    if (err instanceof IdpruneError) throw err;
    throw new IdpruneError(`${what} ${file}: not JSON (${oneLine((err as Error).message)})`);
  }
}
