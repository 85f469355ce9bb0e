import { create } from '@bufbuild/protobuf';
import { type ModelProto, StringStringEntryProtoSchema, type TensorProto, TensorProto_DataLocation } from 'onnx-buf';
import { IdpruneError } from '../errors.ts';

/** Reads `length` bytes (the rest of the file when undefined) at `offset` of a file beside the model. */
export type ExternalReader = (location: string, offset: number, length: number | undefined) => Uint8Array;

function tensors(model: ModelProto): TensorProto[] {
  const graph = model.graph!;
  const inNodes = graph.node.flatMap((n) => n.attribute.flatMap((a) => (a.t ? [a.t] : [])));
  return [...graph.initializer, ...inNodes];
}

const entry = (t: TensorProto, key: string) => t.externalData.find((e) => e.key === key)?.value;

/** Refuses locations that are absolute or climb out of the model's folder. */
export function checkLocation(tensor: string, location: string): void {
  const refuse = () => {
    throw new IdpruneError(`tensor "${tensor}": external data location "${location}" leaves the model's folder`);
  };
  if (!location || /^([/\\]|[a-zA-Z]:)/.test(location)) refuse();
  let depth = 0;
  for (const segment of location.split(/[/\\]/)) {
    if (segment === '..') depth--;
    else if (segment !== '.' && segment !== '') depth++;
    if (depth < 0) refuse();
  }
}

/** Moves every external tensor's bytes into its raw data; returns whether the model had any. */
export function inlineExternalData(model: ModelProto, read: ExternalReader): boolean {
  let found = false;
  for (const t of tensors(model)) {
    if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL && t.externalData.length === 0) continue;
    found = true;
    const location = entry(t, 'location') ?? '';
    checkLocation(t.name, location);
    const length = entry(t, 'length');
    const bytes = read(location, Number(entry(t, 'offset') ?? 0), length === undefined ? undefined : Number(length));
    t.rawData = new Uint8Array(bytes);
    t.externalData = [];
    t.dataLocation = TensorProto_DataLocation.DEFAULT;
  }
  return found;
}

/**
 * Moves the raw data of tensors of at least `minBytes` into one blob written beside the model as
 * `location`; returns the blob. Offsets are aligned to 64 bytes.
 */
export function externalizeData(model: ModelProto, location: string, minBytes = 1024): Uint8Array {
  const moved = tensors(model).filter((t) => t.rawData.byteLength >= minBytes);
  let size = 0;
  const offsets = moved.map((t) => {
    const offset = Math.ceil(size / 64) * 64;
    size = offset + t.rawData.byteLength;
    return offset;
  });
  const blob = new Uint8Array(size);
  moved.forEach((t, i) => {
    blob.set(t.rawData, offsets[i]);
    const field = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
    t.externalData = [
      field('location', location),
      field('offset', String(offsets[i])),
      field('length', String(t.rawData.byteLength)),
    ];
    t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    t.rawData = new Uint8Array(0);
  });
  return blob;
}
