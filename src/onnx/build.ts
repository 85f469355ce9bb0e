import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  type ModelProto,
  NodeProtoSchema,
  type NodeProto,
  OperatorSetIdProtoSchema,
  type TensorProto,
  TensorProto_DataType,
  TensorProtoSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { withFloatData } from './tensor.ts';

/** Small constructors for ONNX messages: instrumented copies of models, and models built in tests. */

export type AttrValue = number | number[] | string | TensorProto | { float: number } | { floats: number[] };

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
  name = '',
): NodeProto {
  const attribute = Object.entries(attrs).map(([attrName, value]) => {
    const a = create(AttributeProtoSchema, { name: attrName });
    if (typeof value === 'number') {
      a.type = AttributeProto_AttributeType.INT;
      a.i = BigInt(value);
    } else if (typeof value === 'string') {
      a.type = AttributeProto_AttributeType.STRING;
      a.s = new TextEncoder().encode(value);
    } else if (Array.isArray(value)) {
      a.type = AttributeProto_AttributeType.INTS;
      a.ints = value.map(BigInt);
    } else if ('float' in value) {
      a.type = AttributeProto_AttributeType.FLOAT;
      a.f = value.float;
    } else if ('floats' in value) {
      a.type = AttributeProto_AttributeType.FLOATS;
      a.floats = value.floats;
    } else {
      a.type = AttributeProto_AttributeType.TENSOR;
      a.t = value;
    }
    return a;
  });
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, attribute, name });
}

export function floatTensor(
  name: string,
  dims: number[],
  data: ArrayLike<number>,
  dataType: TensorProto_DataType = TensorProto_DataType.FLOAT,
): TensorProto {
  const like = create(TensorProtoSchema, { name, dataType });
  return withFloatData(like, dims, Float64Array.from(data));
}

export function int64Tensor(name: string, dims: number[], values: number[]): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dataType: TensorProto_DataType.INT64,
    dims: dims.map(BigInt),
    int64Data: values.map(BigInt),
  });
}

/** A value info; dims given as numbers (fixed) or strings (symbolic); undefined dims = unknown rank. */
export function valueInfo(
  name: string,
  elemType: TensorProto_DataType = TensorProto_DataType.FLOAT,
  dims?: (number | string)[],
): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType });
  if (dims) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: dims.map((d) =>
        create(TensorShapeProto_DimensionSchema, {
          value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

export interface ModelSpec {
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  opset?: number;
}

export function makeModel(spec: ModelSpec): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'idprune-test',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(spec.opset ?? 13) })],
    graph: create(GraphProtoSchema, {
      name: 'graph',
      node: spec.nodes,
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    }),
  });
}
