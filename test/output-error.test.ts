import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TensorProto_DataType } from 'onnx-buf';
import { decisionMargins, marginError, outputKinds } from '../src/compress/output-error.ts';
import { makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';

const F = TensorProto_DataType.FLOAT;

/** x → [op] → y, with y of shape [N, 3]. */
const head = (op: string, attributes: Record<string, number> = {}, opset = 13) =>
  makeModel({
    nodes: [makeNode(op, ['x'], ['y'], attributes, 'head')],
    inputs: [valueInfo('x', F, ['N', 3])],
    outputs: [valueInfo('y', F, ['N', 3])],
    opset,
  });
const shapes = new Map([['y', [1, 3]]]);

describe('output errors in the units of the output', () => {
  it('reads a Softmax output as class decisions, a Sigmoid output as yes/no decisions', () => {
    assert.deepEqual(outputKinds(head('Softmax'), shapes)[0].reading, {
      kind: 'classes',
      axis: 1,
      log: true,
      flattenFrom: false,
    });
    assert.deepEqual(outputKinds(head('LogSoftmax', { axis: 1 }, 11), shapes)[0].reading, {
      kind: 'classes',
      axis: 1,
      log: false,
      flattenFrom: true,
    });
    assert.deepEqual(outputKinds(head('Sigmoid'), shapes)[0].reading, { kind: 'binary' });
  });

  it('reads other outputs as relative L2, or as class scores when decisions are asked for', () => {
    assert.deepEqual(outputKinds(head('Relu'), shapes)[0].reading, { kind: 'relative' });
    assert.deepEqual(outputKinds(head('Relu'), shapes, 'decisions')[0].reading, {
      kind: 'classes',
      axis: 1,
      log: false,
    });
    assert.deepEqual(outputKinds(head('Softmax'), shapes, 'relative')[0].reading, { kind: 'relative' });
  });

  it('a row margin is the top log-score less the best other, for the original top class in both models', () => {
    const probabilities = { kind: 'classes', axis: 1, log: true } as const;
    // Two rows of three classes; the candidate swaps row 2's decision.
    const margins = decisionMargins(
      probabilities,
      [2, 3],
      [0.7, 0.2, 0.1, 0.3, 0.6, 0.1],
      [0.6, 0.3, 0.1, 0.5, 0.4, 0.1],
    );
    assert.ok(Math.abs(margins.original[0] - Math.log(0.7 / 0.2)) < 1e-12);
    assert.ok(Math.abs(margins.candidate[0] - Math.log(0.6 / 0.3)) < 1e-12);
    assert.ok(Math.abs(margins.candidate[1] - Math.log(0.4 / 0.5)) < 1e-12);
  });

  it('reads classes along an inner axis, one row per position', () => {
    // [1, 2 classes, 3 positions]: position p's scores are entries p and 3 + p.
    const margins = decisionMargins(
      { kind: 'classes', axis: 1, log: false },
      [1, 2, 3],
      [1, 0, 5, 0, 2, 1],
      [1, 0, 5, 0, 2, 1],
    );
    assert.deepEqual([...margins.original], [1, 2, 4]);
  });

  it('a yes/no margin is the log-odds on the side of the original decision', () => {
    const margins = decisionMargins({ kind: 'binary' }, [2, 1], [0.8, 0.1], [0.4, 0.2]);
    assert.ok(Math.abs(margins.original[0] - Math.log(4)) < 1e-12);
    assert.ok(Math.abs(margins.candidate[0] - Math.log(0.4 / 0.6)) < 1e-12);
    assert.ok(Math.abs(margins.original[1] - Math.log(9)) < 1e-12);
  });

  it('a flipped decision counts 1, a margin moved by a tenth of itself 0.01', () => {
    const sum = marginError({ original: Float64Array.of(2, 2, 2), candidate: Float64Array.of(-1, 1.8, 2) });
    assert.equal(sum.rows, 3);
    assert.ok(Math.abs(sum.error - 1.01) < 1e-12);
  });
});
