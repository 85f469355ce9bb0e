import type { ModelProto } from 'onnx-buf';

/** The version of the default ONNX domain the model imports (1 where it imports none, as the spec reads it). */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 1;
}
