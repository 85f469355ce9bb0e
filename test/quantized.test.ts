import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { OperatorSetIdProtoSchema, TensorProtoSchema, TensorProto_DataType } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { floatTensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { randomArray } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

const F = TensorProto_DataType.FLOAT;

/** x [N, 16] → MatMulNBits (4-bit weights, blocks of 16, ONNX Runtime's contrib op) → Relu → MatMulNBits → y [N, 8]. */
function fourBitMlp() {
  const layer = (name: string, input: string, output: string, k: number, n: number) => {
    const node = makeNode('MatMulNBits', [input, `${name}_b`, `${name}_scales`], [output], {
      K: k,
      N: n,
      bits: 4,
      block_size: 16,
    });
    node.domain = 'com.microsoft';
    const packed = create(TensorProtoSchema, {
      name: `${name}_b`,
      dataType: TensorProto_DataType.UINT8,
      dims: [BigInt(n), BigInt(k / 16), 8n],
      rawData: Uint8Array.from({ length: n * (k / 16) * 8 }, (_, i) => (i * 37) % 256),
    });
    return {
      node,
      initializers: [packed, floatTensor(`${name}_scales`, [n * (k / 16)], randomArray(n * (k / 16), 7, 0.1))],
    };
  };
  const first = layer('fc1', 'x', 'h', 16, 32);
  const second = layer('fc2', 'a', 'y', 32, 8);
  const model = makeModel({
    nodes: [first.node, makeNode('Relu', ['h'], ['a']), second.node],
    inputs: [valueInfo('x', F, ['N', 16])],
    outputs: [valueInfo('y', F, ['N', 8])],
    initializers: [...first.initializers, ...second.initializers],
  });
  model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n }));
  return model;
}

describe('quantized models', () => {
  it('a model of 4-bit MatMulNBits layers is refused with the reason', async () => {
    await assert.rejects(
      compressModel(
        fourBitMlp(),
        (a) => makeDataset(new Map([['x', floatData([32, 16], 3)]]), a.inputs, 'calib'),
        nodeRuntime,
        { budget: { kind: 'flops', fraction: 0.5 } },
      ),
      /it is quantized \(MatMulNBits ×2\).*compress the float model, then quantize it/,
    );
  });
});
