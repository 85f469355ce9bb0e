import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { floatToHalf, halfToFloat } from '../src/onnx/float16.ts';
import { topologicallySorted } from '../src/onnx/graph-index.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { readFloatTensor, withFloatData } from '../src/onnx/tensor.ts';
import { convBnReluConv } from './helpers/models.ts';
import { floatData } from './helpers/run.ts';

describe('ONNX models', () => {
  it('that are not ONNX are refused with a clear error', () => {
    assert.throws(
      () => decodeModel(new TextEncoder().encode('definitely not a protobuf model'), 'x.onnx'),
      /x.onnx is not an ONNX model/,
    );
    assert.throws(() => decodeModel(new Uint8Array(0), 'empty.onnx'), /empty.onnx is not an ONNX model/);
  });

  it('keep fields this tool does not know through decode and encode', () => {
    const bytes = encodeModel(convBnReluConv());
    const unknownField = Uint8Array.from([0xf8, 0x06, 0x2a]); // field 111, varint 42
    const withUnknown = new Uint8Array([...bytes, ...unknownField]);
    const again = encodeModel(decodeModel(withUnknown));
    assert.deepEqual([...again.subarray(again.length - 3)], [...unknownField]);
  });

  it('come out of compression with their names, opsets, docs and metadata, plus what was done', async () => {
    const model = convBnReluConv();
    model.docString = 'a tiny model';
    model.producerName = 'exporter';
    model.graph!.docString = 'graph doc';
    model.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'author', value: 'someone' }));
    const calib = floatData([32, 3, 8, 8], 1);
    const result = await compressModel(model, (a) => makeDataset(new Map([['x', calib]]), a.inputs, 'c'), nodeRuntime, {
      budget: { kind: 'flops', fraction: 0.6 },
      version: '9.9.9',
      date: new Date('2026-01-02T03:04:05Z'),
    });
    const out = decodeModel(result.bytes);
    assert.equal(out.docString, 'a tiny model');
    assert.equal(out.producerName, 'exporter');
    assert.equal(out.graph!.docString, 'graph doc');
    assert.deepEqual(
      out.opsetImport.map((o) => [o.domain, o.version]),
      [['', 13n]],
    );
    assert.deepEqual(
      out.graph!.node.map((n) => n.name),
      model.graph!.node.map((n) => n.name),
    );
    const meta = Object.fromEntries(out.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(meta.author, 'someone');
    assert.equal(meta['idprune.version'], '9.9.9');
    assert.equal(meta['idprune.target'], 'flops=0.6');
    assert.equal(meta['idprune.date'], '2026-01-02T03:04:05.000Z');
  });
});

describe('tensors', () => {
  it('are read from typed fields as well as raw data', () => {
    const typed = create(TensorProtoSchema, {
      name: 't',
      dataType: TensorProto_DataType.FLOAT,
      dims: [2n],
      floatData: [1.5, -2],
    });
    assert.deepEqual([...readFloatTensor(typed).data], [1.5, -2]);
    const doubles = create(TensorProtoSchema, {
      name: 'd',
      dataType: TensorProto_DataType.DOUBLE,
      dims: [1n],
      doubleData: [0.1],
    });
    assert.deepEqual([...readFloatTensor(doubles).data], [0.1]);
  });

  it('keep their data type when rewritten', () => {
    const half = create(TensorProtoSchema, {
      name: 'h',
      dataType: TensorProto_DataType.FLOAT16,
      dims: [2n],
      int32Data: [floatToHalf(1), floatToHalf(-0.5)],
    });
    assert.deepEqual([...readFloatTensor(half).data], [1, -0.5]);
    const rewritten = withFloatData(half, [3], Float64Array.from([0.25, 2, -4]));
    assert.equal(rewritten.dataType, TensorProto_DataType.FLOAT16);
    assert.deepEqual([...readFloatTensor(rewritten).data], [0.25, 2, -4]);
  });

  it('held in an external file must be read in first', () => {
    const external = create(TensorProtoSchema, {
      name: 'w',
      dataType: TensorProto_DataType.FLOAT,
      dims: [1n],
      externalData: [create(StringStringEntryProtoSchema, { key: 'location', value: 'w.bin' })],
    });
    assert.throws(() => readFloatTensor(external), /"w" keeps its data in an external file: read it in first/);
  });
});

describe('float16 conversion', () => {
  it('round-trips representable values and rounds to nearest even', () => {
    for (const v of [0, 1, -2.5, 65504, 6.103515625e-5, 5.9604644775390625e-8])
      assert.equal(halfToFloat(floatToHalf(v)), v);
    assert.equal(halfToFloat(floatToHalf(1 + 2 ** -11)), 1); // halfway: ties to even
    assert.equal(halfToFloat(floatToHalf(1e6)), Infinity);
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  });
});

describe('node order', () => {
  it('a model whose nodes are not in topological order is sorted; a sorted one is left as it is', () => {
    const model = convBnReluConv();
    assert.equal(topologicallySorted(model), model);
    const shuffled = convBnReluConv();
    shuffled.graph!.node.reverse();
    assert.deepEqual(
      topologicallySorted(shuffled).graph!.node.map((n) => n.name),
      model.graph!.node.map((n) => n.name),
    );
  });
});
