import { TensorProto_DataType, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { floatTensor, int64Tensor, makeModel, makeNode, valueInfo } from '../../src/onnx/build.ts';
import { randomArray } from './models.ts';

/*
 * Tiny graphs in the op forms real exporters write, at a chosen opset: every model reads
 * x [N,4,6,6] and writes y [N,3]. Ops whose inputs were attributes before some opset (Clip before
 * 11, Squeeze before 13) are written in the form that opset knows.
 */

const F = TensorProto_DataType.FLOAT;

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private seed = 500;

  constructor(readonly opset: number) {}

  weight(name: string, dims: number[], scale = 0.4): string {
    this.initializers.push(
      floatTensor(
        name,
        dims,
        randomArray(
          dims.reduce((a, b) => a * b, 1),
          this.seed++,
          scale,
        ),
      ),
    );
    return name;
  }

  constant(name: string, dims: number[], values: number[]): string {
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  node(opType: string, inputs: string[], output: string, attrs: Parameters<typeof makeNode>[3] = {}): string {
    this.nodes.push(makeNode(opType, inputs, [output], attrs, output));
    return output;
  }

  conv(name: string, input: string, out: number, inChannels: number, k = 3): string {
    return this.node(
      'Conv',
      [input, this.weight(`w_${name}`, [out, inChannels, k, k]), this.weight(`b_${name}`, [out], 0.1)],
      name,
      { kernel_shape: [k, k], pads: Array(4).fill((k - 1) / 2) },
    );
  }

  /** Clip to [min, max]: attributes before opset 11, constant inputs from 11 on. */
  clip(input: string, output: string, min: number, max: number): string {
    if (this.opset < 11) return this.node('Clip', [input], output, { min: { float: min }, max: { float: max } });
    return this.node(
      'Clip',
      [input, this.constant(`${output}_min`, [], [min]), this.constant(`${output}_max`, [], [max])],
      output,
    );
  }

  /** Squeeze of the given axes: an attribute before opset 13, an input from 13 on. */
  squeeze(input: string, output: string, axes: number[]): string {
    if (this.opset < 13) return this.node('Squeeze', [input], output, { axes });
    this.initializers.push(int64Tensor(`${output}_axes`, [axes.length], axes));
    return this.node('Squeeze', [input, `${output}_axes`], output);
  }

  /** A Gemm classifier head with its C input (required before opset 11). */
  gemm(input: string, inFeatures: number): string {
    return this.node('Gemm', [input, this.weight('w_fc', [3, inFeatures]), this.weight('b_fc', [3], 0.1)], 'y', {
      transB: 1,
    });
  }

  /**
   * The model at the builder's opset, with the IR version exporters paired with it; before opset 10
   * the initializers are also listed as graph inputs, as PyTorch's exports of that time did.
   */
  model(): ModelProto {
    const inputs = [valueInfo('x', F, ['N', 4, 6, 6])];
    if (this.opset < 10)
      inputs.push(...this.initializers.map((t) => valueInfo(t.name, t.dataType, t.dims.map(Number))));
    const model = makeModel({
      nodes: this.nodes,
      inputs,
      outputs: [valueInfo('y', F, ['N', 3])],
      initializers: this.initializers,
      opset: this.opset,
    });
    model.irVersion = BigInt(this.opset < 10 ? 4 : this.opset < 21 ? 8 : 10);
    return model;
  }
}

/**
 * PyTorch at opset 9: Conv → BatchNorm → PRelu → MaxPool → Conv → Relu → GlobalAveragePool → Flatten
 * → Gemm.
 */
export function pytorchOpset9Style(opset: number): ModelProto {
  const g = new GraphBuilder(opset);
  g.conv('c1', 'x', 6, 4);
  g.node(
    'BatchNormalization',
    [
      'c1',
      g.weight('bn_scale', [6]),
      g.weight('bn_shift', [6], 0.1),
      g.weight('bn_mean', [6], 0.1),
      g.constant('bn_var', [6], [1, 1.2, 0.8, 1.5, 0.9, 1.1]),
    ],
    'bn',
  );
  g.node('PRelu', ['bn', g.constant('slope', [6, 1, 1], [0.1, 0.2, 0.05, 0.25, 0.15, 0.3])], 'act1');
  g.node('MaxPool', ['act1'], 'pool', { kernel_shape: [2, 2], strides: [2, 2] });
  g.conv('c2', 'pool', 8, 6);
  g.node('Relu', ['c2'], 'act2');
  g.node('GlobalAveragePool', ['act2'], 'gap');
  g.node('Flatten', ['gap'], 'flat', { axis: 1 });
  g.gemm('flat', 8);
  return g.model();
}

/**
 * tf2onnx: Conv → LeakyRelu → Max(x, scalar) → Min(x, per-channel bound) → Conv → Relu → GAP → Squeeze
 * → Gemm.
 */
export function tf2onnxStyle(opset: number): ModelProto {
  const g = new GraphBuilder(opset);
  g.conv('c1', 'x', 6, 4);
  g.node('LeakyRelu', ['c1'], 'leaky', { alpha: { float: 0.2 } });
  g.node('Max', ['leaky', g.constant('floor', [], [-0.05])], 'floored');
  g.node('Min', ['floored', g.constant('ceiling', [6, 1, 1], [0.6, 0.7, 0.8, 0.5, 0.9, 0.65])], 'clipped');
  g.conv('c2', 'clipped', 8, 6);
  g.node('Relu', ['c2'], 'act2');
  g.node('GlobalAveragePool', ['act2'], 'gap');
  g.squeeze('gap', 'squeezed', [2, 3]);
  g.gemm('squeezed', 8);
  return g.model();
}

/**
 * Activations written out, as tf2onnx and paddle2onnx export them: ReLU6 as Clip, HardSwish as
 * x · HardSigmoid(x), SiLU as x · Sigmoid(x); then GAP → Squeeze → Gemm.
 */
export function writtenOutActivations(opset: number): ModelProto {
  const g = new GraphBuilder(opset);
  g.conv('c1', 'x', 6, 4);
  g.clip('c1', 'relu6', 0, 6);
  g.conv('c2', 'relu6', 6, 6);
  g.node('HardSigmoid', ['c2'], 'gate', { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });
  g.node('Mul', ['c2', 'gate'], 'hardswish');
  g.conv('c3', 'hardswish', 8, 6, 1);
  g.node('Sigmoid', ['c3'], 'sig');
  g.node('Mul', ['c3', 'sig'], 'silu');
  g.node('GlobalAveragePool', ['silu'], 'gap');
  g.squeeze('gap', 'squeezed', [2, 3]);
  g.gemm('squeezed', 8);
  return g.model();
}
