import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TensorProto_DataType } from 'onnx-buf';
import { floatTensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { probeShapes } from '../src/onnx/shapes.ts';
import { randomArray } from './helpers/models.ts';

const F = TensorProto_DataType.FLOAT;

describe('shape probe', () => {
  it('leaves sequence values out of the tensors it asks for', async () => {
    // Conv → Relu → SequenceConstruct → ConcatFromSequence → Conv: a runtime cannot return the sequence.
    const model = makeModel({
      nodes: [
        makeNode('Conv', ['x', 'w1'], ['c1'], { kernel_shape: [1, 1] }),
        makeNode('Relu', ['c1'], ['r1']),
        makeNode('SequenceConstruct', ['r1', 'r1'], ['sequence']),
        makeNode('ConcatFromSequence', ['sequence'], ['joined'], { axis: 1 }),
        makeNode('Conv', ['joined', 'w2'], ['y'], { kernel_shape: [1, 1] }),
      ],
      inputs: [valueInfo('x', F, ['N', 4, 6, 6])],
      outputs: [valueInfo('y', F, ['N', 3, 6, 6])],
      initializers: [floatTensor('w1', [5, 4, 1, 1], randomArray(20, 1)), floatTensor('w2', [3, 10, 1, 1], randomArray(30, 2))],
    });
    const shapes = await probeShapes(model, nodeRuntime);
    assert.deepEqual(shapes.get('joined'), [1, 10, 6, 6]);
    assert.equal(shapes.has('sequence'), false);
  });
});
