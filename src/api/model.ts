import { IdpruneError } from '../errors.ts';
import { type LoadedModel, readModel } from '../io/files.ts';
import { inlineExternalData } from '../onnx/external-data.ts';
import { decodeModel } from '../onnx/model.ts';

/** An ONNX model: the bytes of an .onnx file, or the file's path (external data files beside it are read too). */
export type ModelSource = Uint8Array | string;

/** Reads a model given as a path or as bytes. */
export function loadModel(source: ModelSource, what = 'model'): LoadedModel {
  if (typeof source === 'string') return readModel(source);
  if (!(source instanceof Uint8Array))
    throw new IdpruneError(`${what} must be a Uint8Array of an .onnx file or its path`);
  const model = decodeModel(source, `${what} bytes`);
  // Bytes have no folder to find external data files in.
  inlineExternalData(model, (location) => {
    throw new IdpruneError(`${what} bytes name an external data file (${location}); give the model's path instead`);
  });
  return { model, bytes: source, external: false };
}
