import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TensorProto_DataType } from 'onnx-buf';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../src/onnx/build.ts';
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
      initializers: [
        floatTensor('w1', [5, 4, 1, 1], randomArray(20, 1)),
        floatTensor('w2', [3, 10, 1, 1], randomArray(30, 2)),
      ],
    });
    const shapes = await probeShapes(model, nodeRuntime);
    assert.deepEqual(shapes.get('joined'), [1, 10, 6, 6]);
    assert.equal(shapes.has('sequence'), false);
  });

  it(
    'runs a model whose positions come from Range over the input length ' + '(a crash under extended optimizations)',
    async () => {
      // GPT-style embeddings: positions = Range(0, T) gather learned position vectors. With ONNX Runtime's
      // extended optimizations, exposing the Range output as a graph output crashed the process.
      const model = makeModel({
        nodes: [
          makeNode('Shape', ['idx'], ['shape']),
          makeNode('Gather', ['shape', 'one'], ['length'], { axis: 0 }),
          makeNode('Range', ['zero', 'length', 'one'], ['positions']),
          makeNode('Gather', ['token_embedding', 'idx'], ['tokens']),
          makeNode('Gather', ['position_embedding', 'positions'], ['placed']),
          makeNode('Add', ['tokens', 'placed'], ['hidden']),
          makeNode('MatMul', ['hidden', 'head'], ['y']),
        ],
        inputs: [valueInfo('idx', TensorProto_DataType.INT64, ['N', 'T'])],
        outputs: [valueInfo('y', F, ['N', 'T', 4])],
        initializers: [
          int64Tensor('zero', [], [0]),
          int64Tensor('one', [], [1]),
          floatTensor('token_embedding', [10, 8], randomArray(80, 1)),
          floatTensor('position_embedding', [16, 8], randomArray(128, 2)),
          floatTensor('head', [8, 4], randomArray(32, 3)),
        ],
        opset: 14,
      });
      const shapes = await probeShapes(model, nodeRuntime, { idx: [1, 5] });
      assert.deepEqual(shapes.get('positions'), [5]);
      assert.deepEqual(shapes.get('y'), [1, 5, 4]);
    },
  );
});
