import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { toNpy } from '../src/data/npy.ts';
import { checkLocation, externalizeData, inlineExternalData } from '../src/onnx/external-data.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { readFloatTensor } from '../src/onnx/tensor.ts';
import { convReluFlattenGemm } from './helpers/models.ts';
import { idprune } from './helpers/cli.ts';
import { floatData } from './helpers/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'idprune-external-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('external data locations', () => {
  for (const location of ['weights.bin', 'sub/weights.bin', 'a/../weights.bin']) {
    it(`accept ${location}`, () => checkLocation('w', location));
  }
  for (const location of ['../weights.bin', 'a/../../weights.bin', '/etc/passwd', 'C:\\weights.bin', '']) {
    it(`refuse ${JSON.stringify(location)}`, () =>
      assert.throws(() => checkLocation('w', location), /leaves the model's folder/));
  }
});

describe('external data', () => {
  it('moves to a blob and back unchanged', () => {
    const model = convReluFlattenGemm(1);
    const before = readFloatTensor(model.graph!.initializer[1]).data;
    const blob = externalizeData(model, 'm.data');
    assert.equal(model.graph!.initializer[1].dataLocation, TensorProto_DataLocation.EXTERNAL);
    assert.equal(model.graph!.initializer[1].rawData.byteLength, 0);
    const found = inlineExternalData(model, (_location, offset, length) =>
      blob.slice(offset, offset + (length ?? blob.length - offset)),
    );
    assert.equal(found, true);
    assert.deepEqual(readFloatTensor(model.graph!.initializer[1]).data, before);
  });

  it('is read beside the model and written beside the output by the command', async () => {
    const model = convReluFlattenGemm(1);
    writeFileSync(join(dir, 'weights.bin'), externalizeData(model, 'weights.bin', 64));
    writeFileSync(join(dir, 'model.onnx'), encodeModel(model));
    writeFileSync(join(dir, 'calib.npy'), toNpy(floatData([64, 2, 6, 6], 1)));
    const out = await idprune(
      'compress',
      join(dir, 'model.onnx'),
      '--calib',
      join(dir, 'calib.npy'),
      '-o',
      join(dir, 'small.onnx'),
      '--target-flops',
      '0.6',
    );
    assert.equal(out.code, 0, out.stderr);
    assert.ok(existsSync(join(dir, 'small.onnx.data')));
    assert.ok(readFileSync(join(dir, 'small.onnx')).length < 1024, 'the weights are not inside the model file');
    const session = await ort.InferenceSession.create(join(dir, 'small.onnx'));
    const x = floatData([2, 2, 6, 6], 2);
    const result = await session.run({ x: new ort.Tensor('float32', x.data as Float32Array, x.shape) });
    assert.deepEqual(result.y.dims, [2, 5]);
  });

  it('that points outside the model folder is refused', async () => {
    const model = convReluFlattenGemm(1);
    const weight = model.graph!.initializer[0];
    weight.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: '../outside.bin' })];
    weight.dataLocation = TensorProto_DataLocation.EXTERNAL;
    writeFileSync(join(dir, 'escape.onnx'), encodeModel(model));
    const out = await idprune('inspect', join(dir, 'escape.onnx'));
    assert.equal(out.code, 1);
    assert.match(out.stderr, /tensor "w1": external data location "\.\.\/outside\.bin" leaves the model's folder/);
  });
});
