import { existsSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { type NdArray, parseNpy } from '../calibrate/npy.ts';
import { parseNpz } from '../calibrate/npz.ts';
import { IdpruneError } from '../errors.ts';

export function readBytes(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new IdpruneError(`${what} ${path}: no such file`);
  if (statSync(path).isDirectory()) throw new IdpruneError(`${what} ${path} is a folder, expected a file`);
  return new Uint8Array(readFileSync(path));
}

/** Arrays from a .npy file, a .npz archive, or a folder of `<input name>.npy` files. */
export function readArrays(path: string, what = 'data'): Map<string, NdArray> {
  if (!existsSync(path)) throw new IdpruneError(`${what} ${path}: no such file or folder`);
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path).filter((f) => f.endsWith('.npy')).sort();
    if (files.length === 0) throw new IdpruneError(`${what} folder ${path} holds no .npy files`);
    return new Map(files.map((f) => [basename(f, '.npy'), parseNpy(readBytes(join(path, f), what), join(path, f))]));
  }
  const bytes = readBytes(path, what);
  if (extname(path).toLowerCase() === '.npz') return parseNpz(bytes, path);
  return new Map([[basename(path, extname(path)), parseNpy(bytes, path)]]);
}

/** Integer class labels from a .npy file. */
export function readLabels(path: string): NdArray['data'] {
  const array = [...readArrays(path, 'labels').values()][0];
  if (!['int64', 'int32', 'uint8'].includes(array.dtype)) throw new IdpruneError(`labels ${path} have type ${array.dtype}, expected integers`);
  if (array.shape.length !== 1) throw new IdpruneError(`labels ${path} have shape [${array.shape}], expected one label per sample`);
  return array.data;
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
