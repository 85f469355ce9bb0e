import { clone, create } from '@bufbuild/protobuf';
import {
  type GraphProto,
  type ModelProto,
  ModelProtoSchema,
  TensorProto_DataType,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';
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

/** The ONNX data type of a runtime element type (the inverse of ELEMENT_TYPES). */
export function dataTypeOf(type: ElementType): TensorProto_DataType | undefined {
  const entry = Object.entries(ELEMENT_TYPES).find(([, element]) => element === type);
  return entry && (Number(entry[0]) as TensorProto_DataType);
}

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
  if (!type)
    throw new IdpruneError(`model input "${v.name}" has unsupported type ${TensorProto_DataType[tensorType.elemType]}`);
  if (!tensorType.shape) throw new IdpruneError(`model input "${v.name}" has no declared shape`);
  const dims = tensorType.shape.dim.map((d) =>
    d.value.case === 'dimValue' && d.value.value > 0n ? Number(d.value.value) : null,
  );
  return { name: v.name, type, dims };
}

/**
 * The axis of an input that counts samples: the first, as a rule; a recurrent state [layers, batch,
 * width] has a fixed first axis and its samples on the first free one; a scalar input has none
 * (one value serves every sample).
 */
export function batchAxis(input: InputSpec): number | null {
  if (input.dims.length === 0) return null;
  if (input.dims[0] === null || input.dims[0] === 1) return 0;
  const free = input.dims.indexOf(null);
  return Math.max(free, 0);
}

/**
 * Concrete shapes of every tensor for one sample: runs a copy of the model that outputs all
 * intermediate tensors on a zero input. Free dimensions other than the batch take the size of the
 * data that will be fed (`sampleDims`, per input), or 1 when there is none.
 */
export async function probeShapes(
  model: ModelProto,
  runtime: Runtime,
  sampleDims: Record<string, number[]> = {},
): Promise<Shapes> {
  const probe = clone(ModelProtoSchema, model);
  const graph = probe.graph!;
  const declared = new Set(graph.output.map((o) => o.name));
  const nonTensors = nonTensorValues(graph);
  for (const node of graph.node) {
    for (const name of node.output) {
      if (name && !declared.has(name) && !nonTensors.has(name)) {
        graph.output.push(create(ValueInfoProtoSchema, { name }));
        declared.add(name);
      }
    }
  }
  const specs = inputSpecs(model);
  const feeds: Feeds = {};
  for (const spec of specs) {
    const dims = spec.dims.map((d, axis) => d ?? (axis === batchAxis(spec) ? 1 : (sampleDims[spec.name]?.[axis] ?? 1)));
    feeds[spec.name] = {
      type: spec.type,
      dims,
      data: typedArray(
        spec.type,
        dims.reduce((a, b) => a * b, 1),
      ),
    };
  }
  const session = await runtime.load(encodeModel(probe), { optimization: 'basic' });
  try {
    let outputs: Awaited<ReturnType<typeof session.run>>;
    try {
      outputs = await session.run(feeds);
    } catch (err) {
      throw new IdpruneError(`${(err as Error).message.replace(/\.$/, '')}. ${probeAdvice(specs, feeds, sampleDims)}`);
    }
    const shapes: Shapes = new Map();
    for (const [name, spec] of Object.entries(feeds)) shapes.set(name, spec.dims);
    for (const [name, t] of Object.entries(outputs)) shapes.set(name, t.dims);
    return shapes;
  } finally {
    await session.release();
  }
}

/** What the probe fed, and what the user can give it instead where sizes were guessed. */
function probeAdvice(specs: InputSpec[], feeds: Feeds, sampleDims: Record<string, number[]>): string {
  const fed = specs.map((s) => `"${s.name}" [${feeds[s.name].dims.join(', ')}]`).join(', ');
  const guessed = specs.filter((s) =>
    s.dims.some((d, axis) => d === null && axis !== batchAxis(s) && sampleDims[s.name]?.[axis] === undefined),
  );
  const free = guessed.map((s) => `"${s.name}" [${s.dims.map((d) => d ?? '?').join(', ')}]`).join(', ');
  const hint =
    guessed.length > 0
      ? `Input ${free} has free dimensions, set to 1 for the probe: ` +
        'give data of the size the model takes (--calib).'
      : 'Check that the data matches what the model expects.';
  return `The shape probe ran the model once on zeros: ${fed}. ${hint}`;
}

/** Ops whose outputs are sequences or optionals, which a runtime cannot hand back as tensors. */
const NON_TENSOR_OPS = new Set([
  'SequenceConstruct',
  'SequenceEmpty',
  'SequenceInsert',
  'SequenceErase',
  'SplitToSequence',
  'Optional',
  'SequenceMap',
]);

/**
 * Values of the graph that are not tensors: outputs of sequence ops, of subgraph ops (If, Loop,
 * Scan) whose branch yields a non-tensor, and any declared so in the graph's value infos.
 */
function nonTensorValues(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  const isTensor = (v: ValueInfoProto) =>
    v.type === undefined || v.type.value.case === 'tensorType' || v.type.value.case === undefined;
  for (const v of graph.valueInfo) if (!isTensor(v)) names.add(v.name);
  for (const node of graph.node) {
    if (node.domain === '' && NON_TENSOR_OPS.has(node.opType)) for (const o of node.output) names.add(o);
    for (const attr of node.attribute) {
      const body = attr.g;
      if (!body) continue;
      // A Loop's body yields its condition first; If and Scan bodies yield the node's outputs in order.
      const yielded = node.opType === 'Loop' ? body.output.slice(1) : body.output;
      yielded.forEach((v, i) => {
        if (!isTensor(v) && node.output[i]) names.add(node.output[i]);
      });
    }
    // A Loop's carried values keep their kind: a sequence in is a sequence out.
    if (node.opType === 'Loop') {
      node.input.slice(2).forEach((v, i) => {
        if (names.has(v) && node.output[i]) names.add(node.output[i]);
      });
    }
  }
  return names;
}
