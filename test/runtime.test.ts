import assert from 'node:assert/strict';
import { it } from 'node:test';
import { makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';

it('returns the requested subset of outputs under their own names', async () => {
  const model = makeModel({
    nodes: [makeNode('Relu', ['x'], ['y']), makeNode('Neg', ['x'], ['z'])],
    inputs: [valueInfo('x', undefined, ['N', 2])],
    outputs: [valueInfo('y'), valueInfo('z')],
  });
  const session = await nodeRuntime.load(encodeModel(model));
  const out = await session.run({ x: { type: 'float32', dims: [1, 2], data: new Float32Array([1, -2]) } }, ['z']);
  assert.deepEqual(Object.keys(out), ['z']);
  assert.deepEqual([...(out.z.data as Float32Array)], [-1, 2]);
  await session.release();
});
