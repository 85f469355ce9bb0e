// compareModels, on which every agreement threshold rests: known answers from constructed outputs.
import assert from 'node:assert/strict';
import { TensorProto_DataType } from 'onnx-buf';
import { describe, it } from 'node:test';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { compareModels } from '../src/evaluate/compare.ts';
import { floatTensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';

const F = TensorProto_DataType.FLOAT;

/** y = x + shift, over rows of `width` values: the identity where the shift is zero. */
function shifted(width: number, shift: number[]) {
  return makeModel({
    nodes: [makeNode('Add', ['x', 'shift'], ['y'], {}, 'add')],
    inputs: [valueInfo('x', F, ['N', width])],
    outputs: [valueInfo('y', F, ['N', width])],
    initializers: [floatTensor('shift', [width], Float64Array.from(shift))],
  });
}

async function compare(width: number, shift: number[], rows: number[][], labels?: number[]) {
  const original = shifted(width, new Array(width).fill(0));
  const inputs = inputSpecs(original);
  const dataset = makeDataset(
    new Map([['x', { dtype: 'float32' as const, shape: [rows.length, width], data: Float32Array.from(rows.flat()) }]]),
    inputs,
    'data',
  );
  return compareModels(encodeModel(original), encodeModel(shifted(width, shift)), {
    runtime: nodeRuntime,
    dataset,
    inputs,
    batchSize: 2,
    labels,
  });
}

const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} ≠ ${expected}`);

describe('comparing two models (compareModels)', () => {
  it(
    'counts the rows whose top-1 class is the same, ' + "and the outputs' relative L2, cosine and largest change",
    async () => {
      // +0.5 on the third score overtakes the first in the second row only.
      const rows = [
        [1, 0, 0],
        [1, 0, 0.6],
        [0, 2, 0],
        [0, 0, 1],
      ];
      const c = await compare(3, [0, 0, 0.5], rows);
      assert.equal(c.samples, 4);
      assert.equal(c.agreement, 0.75);
      const norm2 = 7.36;
      close(c.relativeL2, Math.sqrt(1 / norm2));
      close(c.cosine, 8.16 / Math.sqrt(norm2 * 9.96));
      close(c.maxAbsDifference, 0.5);
      assert.equal(c.accuracy, undefined, 'no labels, no accuracy');
    },
  );

  it('reads one probability per row at 0.5, with accuracy against labels', async () => {
    const c = await compare(1, [0.2], [[0.1], [0.4], [0.35], [0.9]], [0, 1, 0, 1]);
    assert.equal(c.agreement, 0.5);
    assert.deepEqual(c.accuracy, { original: 0.75, candidate: 0.75 });
  });

  it('reads one logit per row at 0', async () => {
    const c = await compare(1, [0.3], [[-1], [0.5], [-0.2], [2]]);
    assert.equal(c.agreement, 0.75);
  });

  it('finds a model identical to itself', async () => {
    const c = await compare(
      3,
      [0, 0, 0],
      [
        [1, 2, 3],
        [3, 2, 1],
      ],
    );
    assert.equal(c.agreement, 1);
    assert.equal(c.relativeL2, 0);
    close(c.cosine, 1);
  });
});
