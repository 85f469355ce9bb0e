import { clone } from '@bufbuild/protobuf';
import { type ModelProto, ModelProtoSchema } from 'onnx-buf';
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { type ArraySource, arraySource, type NdArray, parseNpyHeader, typedValues } from '../data/npy.ts';
import { parseNpz } from '../data/npz.ts';
import { type Progress, silentProgress } from '../progress.ts';
import type { ReadOptions } from '../data/read-options.ts';
import { decodeSamples, findSamples } from '../data/source.ts';
import { IdpruneError } from '../errors.ts';
import { externalizeData, inlineExternalData } from '../onnx/external-data.ts';
import { decodeModel, encodeModel } from '../onnx/model.ts';
import type { InputSpec } from '../onnx/shapes.ts';

export function readBytes(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new IdpruneError(`${what} ${path}: no such file`);
  if (statSync(path).isDirectory()) throw new IdpruneError(`${what} ${path} is a folder, expected a file`);
  return new Uint8Array(readFileSync(path));
}

export interface LoadedModel {
  model: ModelProto;
  /** The model as ONNX Runtime gets it: external data, if any, inlined. */
  bytes: Uint8Array;
  /** Whether its weights were in external data files (the output then keeps them beside it too). */
  external: boolean;
}

/** Reads a model and the external data files it names (only from its own folder). */
export function readModel(path: string): LoadedModel {
  const raw = readBytes(path, 'model');
  const model = decodeModel(raw, path);
  const folder = dirname(path);
  const external = inlineExternalData(model, (location, offset, length) => {
    const file = join(folder, location);
    if (!existsSync(file)) throw new IdpruneError(`model ${path}: external data file ${location} not found`);
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const count = length ?? size - offset;
      if (offset + count > size)
        throw new IdpruneError(`model ${path}: external data file ${location} is shorter than the model says`);
      const bytes = new Uint8Array(count);
      readSync(fd, bytes, 0, count, offset);
      return bytes;
    } finally {
      closeSync(fd);
    }
  });
  return { model, bytes: external ? encodeModel(model) : raw, external };
}

/** The external data file written beside a model at `path`. */
export const externalDataPath = (path: string) => `${path}.data`;

/**
 * Writes a model atomically; its weights go to an external data file beside it when the input had
 * them there or the model would pass 1 GB (protobuf cannot hold 2 GB). The data file comes first,
 * so the model never names a file that is not there.
 */
export function writeModel(path: string, model: ModelProto, external: boolean): void {
  const bytes = encodeModel(model);
  if (!external && bytes.length < 2 ** 30) {
    writeAtomic(path, bytes);
    return;
  }
  const copy = clone(ModelProtoSchema, model);
  const blob = externalizeData(copy, basename(externalDataPath(path)));
  writeAtomic(externalDataPath(path), blob);
  writeAtomic(path, encodeModel(copy));
}

/**
 * Arrays from a .npy file, a .npz archive, or a folder of `<input name>.npy` files. .npy files are
 * read a batch of samples at a time; a .npz archive is read whole.
 */
export function readArrays(path: string, what = 'data'): Map<string, ArraySource> {
  if (!existsSync(path)) throw new IdpruneError(`${what} ${path}: no such file or folder`);
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path)
      .filter((f) => f.endsWith('.npy'))
      .sort();
    if (files.length === 0) throw new IdpruneError(`${what} folder ${path} holds no .npy files`);
    return new Map(files.map((f) => [basename(f, '.npy'), npyFile(join(path, f), what)]));
  }
  if (extname(path).toLowerCase() === '.npz') {
    return new Map([...parseNpz(readBytes(path, what), path)].map(([name, array]) => [name, arraySource(array)]));
  }
  return new Map([[basename(path, extname(path)), npyFile(path, what)]]);
}

/**
 * Data for the model's inputs from any path `--calib`, `--eval` and `--data` take: NumPy arrays
 * (readArrays), or images, .wav files or text decoded for the model's input shapes.
 */
export async function readData(
  path: string,
  inputs: readonly InputSpec[],
  options: ReadOptions,
  what: string,
  progress: Progress = silentProgress,
): Promise<Map<string, ArraySource>> {
  const found = findSamples(path, what);
  if (found.kind === 'numpy') return readArrays(path, what);
  const arrays = await decodeSamples(found, inputs, options, progress);
  return new Map([...arrays].map(([name, array]) => [name, arraySource(array)]));
}

/** A .npy file whose samples are read from disk on demand. */
function npyFile(path: string, what: string): ArraySource {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  const head = new Uint8Array(Math.min(size, 1 << 20));
  readSync(fd, head, 0, head.length, 0);
  const header = parseNpyHeader(head, path);
  const perSample = header.shape.slice(1).reduce((a, b) => a * b, 1) * header.bytesPerValue;
  const needed = header.dataOffset + (header.shape[0] ?? 1) * perSample;
  if (size < needed) throw new IdpruneError(`${what} ${path}: file is truncated (${size} of ${needed} bytes)`);
  return {
    dtype: header.dtype,
    shape: header.shape,
    rows(start, count) {
      const bytes = new Uint8Array(count * perSample);
      readSync(fd, bytes, 0, bytes.length, header.dataOffset + start * perSample);
      return typedValues(header.dtype, bytes);
    },
  };
}

/**
 * Integer labels from a .npy file (or the array named "labels" or "targets" of an .npz): one per
 * sample, or one per position of each sample ([samples, positions]: a language model's next tokens).
 */
export function readLabels(path: string): NdArray['data'] {
  const arrays = readArrays(path, 'labels');
  const array = arrays.get('labels') ?? arrays.get('targets') ?? [...arrays.values()][0];
  if (!['int64', 'int32', 'uint8'].includes(array.dtype))
    throw new IdpruneError(`labels ${path} have type ${array.dtype}, expected integers`);
  if (array.shape.length !== 1 && array.shape.length !== 2)
    throw new IdpruneError(
      `labels ${path} have shape [${array.shape}], expected one label per sample or per position of each sample`,
    );
  return array.rows(0, array.shape[0]);
}

/** Refuses to write over the input model, or over an existing file unless forced. */
export function checkOutputPath(output: string, inputs: string[], force: boolean): void {
  const target = resolve(output);
  for (const input of inputs) {
    if (existsSync(target) && existsSync(input) && realpathSync(target) === realpathSync(input)) {
      throw new IdpruneError(`output ${output} is the input model; choose another path`);
    }
  }
  if (existsSync(target) && !force) throw new IdpruneError(`output ${output} exists; pass --force to overwrite it`);
  if (!existsSync(dirname(target))) throw new IdpruneError(`output folder ${dirname(output)} does not exist`);
}

/** Writes through a temporary file in the same folder and renames: readers never see half a file. */
export function writeAtomic(path: string, data: Uint8Array | string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw new IdpruneError(`cannot write ${path}: ${(err as Error).message}`);
  }
}
