import { clone, fromBinary, toBinary } from '@bufbuild/protobuf';
import { type ModelProto, ModelProtoSchema } from 'onnx-buf';
import { IdpruneError } from '../errors.ts';

/** Parses an ONNX model. Unknown fields are kept, so what we do not touch is written back as read. */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (err) {
    throw new IdpruneError(`${source} is not an ONNX model (protobuf parse failed: ${(err as Error).message})`);
  }
  if (!model.graph || model.graph.node.length === 0 || model.opsetImport.length === 0) {
    throw new IdpruneError(`${source} is not an ONNX model (no graph, nodes or opset imports)`);
  }
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}

export function setMetadata(model: ModelProto, entries: Record<string, string>): void {
  for (const [key, value] of Object.entries(entries)) {
    const existing = model.metadataProps.find((p) => p.key === key);
    if (existing) existing.value = value;
    else model.metadataProps.push({ $typeName: 'onnx.StringStringEntryProto', key, value });
  }
}

/**
 * A deep copy of the model that shares its initializers with it: each weight is held once however
 * many edited copies are made. Safe because nothing edits an initializer in place — surgery puts a
 * new tensor where it changes one.
 */
export function copySharingInitializers(model: ModelProto): ModelProto {
  const graph = model.graph!;
  const initializers = graph.initializer;
  graph.initializer = [];
  try {
    const copy = clone(ModelProtoSchema, model);
    copy.graph!.initializer = [...initializers];
    return copy;
  } finally {
    graph.initializer = initializers;
  }
}
