import { clone, create } from '@bufbuild/protobuf';
import { type ModelProto, ModelProtoSchema, TensorProto_DataType, type ValueInfoProto, ValueInfoProtoSchema } from 'onnx-buf';
import { IdpruneError } from '../errors.ts';
import { encodeModel } from './model.ts';
import { type ElementType, type Feeds, type Runtime, typedArray } from './runtime.ts';

export type Shapes = Map<string, number[]>;

const ELEMENT_TYPES: Partial<Record<TensorProto_DataType, ElementType>> = {
  [TensorProto_DataType.FLOAT]: 'float32',
  [TensorProto_DataType.DOUBLE]: 'float64',
  [TensorProto_DataType.FLOAT16]: 'float16',
  [TensorProto_DataType.INT64]: 'int64',
  [TensorProto_DataType.INT32]: 'int32',
  [TensorProto_DataType.UINT8]: 'uint8',
  [TensorProto_DataType.BOOL]: 'bool',
};

export interface InputSpec {
  name: string;
  type: ElementType;
  /** A number for a fixed dimension, null for a symbolic or unknown one. */
  dims: (number | null)[];
}

export function inputSpecs(model: ModelProto): InputSpec[] {
  const graph = model.graph!;
  const initializers = new Set(graph.initializer.map((t) => t.name));
  return graph.input.filter((v) => !initializers.has(v.name)).map(describeInput);
}

function describeInput(v: ValueInfoProto): InputSpec {
  if (v.type?.value.case !== 'tensorType') throw new IdpruneError(`model input "${v.name}" is not a tensor`);
  const tensorType = v.type.value.value;
  const type = ELEMENT_TYPES[tensorType.elemType as TensorProto_DataType];
  if (!type) throw new IdpruneError(`model input "${v.name}" has unsupported type ${TensorProto_DataType[tensorType.elemType]}`);
  if (!tensorType.shape) throw new IdpruneError(`model input "${v.name}" has no declared shape`);
  const dims = tensorType.shape.dim.map((d) => (d.value.case === 'dimValue' && d.value.value > 0n ? Number(d.value.value) : null));
  return { name: v.name, type, dims };
}

/**
 * Concrete shapes of every tensor for one sample: runs a copy of the model that outputs all
 * intermediate tensors on a zero input. Free dimensions other than the batch take the size of the
 * data that will be fed (`sampleDims`, per input), or 1 when there is none.
 */
export async function probeShapes(model: ModelProto, runtime: Runtime, sampleDims: Record<string, number[]> = {}): Promise<Shapes> {
  const probe = clone(ModelProtoSchema, model);
  const graph = probe.graph!;
  const declared = new Set(graph.output.map((o) => o.name));
  for (const node of graph.node) {
    for (const name of node.output) {
      if (name && !declared.has(name)) {
        graph.output.push(create(ValueInfoProtoSchema, { name }));
        declared.add(name);
      }
    }
  }
  const feeds: Feeds = {};
  for (const spec of inputSpecs(model)) {
    const dims = spec.dims.map((d, axis) => d ?? (axis === 0 ? 1 : (sampleDims[spec.name]?.[axis] ?? 1)));
    feeds[spec.name] = { type: spec.type, dims, data: typedArray(spec.type, dims.reduce((a, b) => a * b, 1)) };
  }
  const session = await runtime.load(encodeModel(probe));
  try {
    const outputs = await session.run(feeds);
    const shapes: Shapes = new Map();
    for (const [name, spec] of Object.entries(feeds)) shapes.set(name, spec.dims);
    for (const [name, t] of Object.entries(outputs)) shapes.set(name, t.dims);
    return shapes;
  } finally {
    await session.release();
  }
}
