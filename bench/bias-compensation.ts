// A FLAP-style peer at idprune's per-layer sizes. Per space it keeps the channels of largest
// fluctuation (each entry's variance on the calibration data times the squared norm of the
// consumer weights that read it), drops the rest with no interpolation, and adds each removed
// entry's calibration mean, times its weights, to the consumer's output as a bias. Consumers this
// cannot fold into (a MatMul whose weight is batched or on the left, a grouped Conv, a weight laid
// out differently from the tensor it reads) lose their removed entries with no compensation.
import { create } from '@bufbuild/protobuf';
import { type ModelProto, type TensorProto_DataType, ValueInfoProtoSchema } from 'onnx-buf';
import { batches, type Dataset } from '../src/calibrate/dataset.ts';
import { applySurgery, type SpaceDecision } from '../src/compress/surgery.ts';
import { sliceChannels } from '../src/compress/tensor-ops.ts';
import type { Analysis } from '../src/graph/analysis.ts';
import type { ChannelSpace, Consumer, Layout } from '../src/graph/types.ts';
import { floatTensor, makeNode } from '../src/onnx/build.ts';
import { intAttr } from '../src/onnx/graph-index.ts';
import { copySharingInitializers, encodeModel } from '../src/onnx/model.ts';
import { floatValues, type Runtime } from '../src/onnx/runtime.ts';
import type { InputSpec } from '../src/onnx/shapes.ts';
import { type FloatArray, readFloatTensor } from '../src/onnx/tensor.ts';
import { topK, uncorrected } from './baselines.ts';

interface Shift {
  values: Float64Array;
  dims: (outputs: number) => number[];
  type: TensorProto_DataType;
}

interface Moments {
  mean: Float64Array;
  variance: Float64Array;
}

export interface BiasPeerData {
  dataset: Dataset;
  inputs: readonly InputSpec[];
  runtime: Runtime;
  batchSize: number;
}

export async function biasCompensatedModel(
  analysis: Analysis,
  outcomes: readonly { space: ChannelSpace; kept: number }[],
  data: BiasPeerData,
): Promise<Uint8Array> {
  const pruned = outcomes.filter((o) => o.kept < o.space.channels);
  const layouts = new Map(
    pruned.flatMap((o) =>
      o.space.tensors
        .filter((t) => o.space.consumers.some((c) => c.reads === t.name))
        .map((t) => [t.name, t.layout] as const),
    ),
  );
  const moments = await entryMoments(analysis.model, layouts, data);
  const weightOf = (c: Consumer) =>
    readFloatTensor(analysis.index.constants.get(analysis.index.nodes[c.node].input[c.weight.input])!);
  const entries = (c: Consumer, channel: number) => {
    const tensor = layouts.get(c.reads)!;
    const j = Array.from({ length: c.weight.block }, (_, i) => i);
    return tensor.block !== c.weight.block
      ? []
      : j.map((i) => ({
          tensor: (tensor.offset ?? 0) + channel * tensor.block + i,
          weight: (c.weight.offset ?? 0) + channel * c.weight.block + i,
        }));
  };

  const decisions = pruned.map(({ space, kept }) => {
    const scores = new Float64Array(space.channels);
    for (const c of space.consumers) {
      const weight = weightOf(c);
      const norms = squaredNorms(weight, c.weight.axis);
      for (let ch = 0; ch < space.channels; ch++)
        for (const e of entries(c, ch)) scores[ch] += moments.get(c.reads)!.variance[e.tensor] * norms[e.weight];
    }
    return uncorrected(space, topK(scores, kept));
  });

  const shifts = new Map<number, Shift>();
  for (const { space, keep } of decisions) {
    const kept = new Set(keep);
    for (const c of space.consumers) {
      const fold = foldAxes(analysis, c);
      if (!fold) continue;
      const weight = weightOf(c);
      const outputs = weight.dims[fold.output];
      const type = analysis.index.constants.get(analysis.index.nodes[c.node].input[c.weight.input])!.dataType;
      const shift = shifts.get(c.node) ?? { values: new Float64Array(outputs), dims: fold.biasDims, type };
      shifts.set(c.node, shift);
      const sums = sumsOverOthers(weight, c.weight.axis, fold.output);
      for (let ch = 0; ch < space.channels; ch++) {
        if (kept.has(ch)) continue;
        for (const e of entries(c, ch)) {
          const mean = moments.get(c.reads)!.mean[e.tensor];
          for (let o = 0; o < outputs; o++) shift.values[o] += mean * sums[e.weight * outputs + o];
        }
      }
    }
  }

  for (const [node, shift] of shifts) shift.values = outputsKept(node, shift.values, decisions);
  const model = await applySurgery(analysis.model, decisions);
  return encodeModel(withBiases(model, shifts));
}

/** A consumer that also produces a pruned space keeps only the bias entries of its kept outputs. */
function outputsKept(node: number, values: Float64Array, decisions: readonly SpaceDecision[]): Float64Array {
  const slices = decisions.flatMap(({ space, keep }) =>
    space.slices.filter((s) => s.node === node && s.input === 1).map((s) => ({ s, channels: space.channels, keep })),
  );
  let vector: FloatArray = { dims: [values.length], data: values };
  for (const { s, channels, keep } of slices.sort((a, b) => (b.s.offset ?? 0) - (a.s.offset ?? 0))) {
    vector = sliceChannels(vector, { axis: 0, block: s.block, offset: s.offset, channels }, keep);
  }
  return vector.data;
}

/**
 * The consumer's output axis in its weight and the shape of a bias added to its output; undefined where no bias folds
 * in.
 */
function foldAxes(analysis: Analysis, c: Consumer): { output: number; biasDims: (n: number) => number[] } | undefined {
  const node = analysis.index.nodes[c.node];
  const rank = analysis.index.constants.get(node.input[c.weight.input])!.dims.length;
  if (node.opType === 'Conv' && c.weight.input === 1 && c.weight.axis === 1 && intAttr(node, 'group', 1) === 1) {
    return { output: 0, biasDims: (n) => [n, ...Array(rank - 2).fill(1)] };
  }
  if ((node.opType === 'Gemm' || node.opType === 'MatMul') && c.weight.input === 1 && rank === 2)
    return { output: 1 - c.weight.axis, biasDims: (n) => [n] };
  return undefined;
}

/** Per entry of `axis`: the sum of squares of the weight's values there. */
function squaredNorms(weight: FloatArray, axis: number): Float64Array {
  const size = weight.dims[axis];
  const inner = weight.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const norms = new Float64Array(size);
  weight.data.forEach((v, i) => {
    norms[Math.floor(i / inner) % size] += v * v;
  });
  return norms;
}

/** S[e, o]: the weight summed over every axis but the read axis (entry e) and the output axis (o). */
function sumsOverOthers(weight: FloatArray, axis: number, output: number): Float64Array {
  const dims = weight.dims;
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const sums = new Float64Array(dims[axis] * dims[output]);
  weight.data.forEach((v, i) => {
    const e = Math.floor(i / strides[axis]) % dims[axis];
    const o = Math.floor(i / strides[output]) % dims[output];
    sums[e * dims[output] + o] += v;
  });
  return sums;
}

/** Mean and variance of every entry of each tensor's channel axis over the calibration data. */
async function entryMoments(
  model: ModelProto,
  layouts: Map<string, Layout>,
  data: BiasPeerData,
): Promise<Map<string, Moments>> {
  const probe = copySharingInitializers(model);
  const names = [...layouts.keys()];
  const declared = new Set(probe.graph!.output.map((o) => o.name));
  for (const name of names) if (!declared.has(name)) probe.graph!.output.push(create(ValueInfoProtoSchema, { name }));
  const session = await data.runtime.load(encodeModel(probe));
  const sums = new Map<string, { sum: Float64Array; squares: Float64Array; count: number }>();
  try {
    for (const feeds of batches(data.dataset, data.inputs, data.batchSize)) {
      const outputs = await session.run(feeds, names);
      for (const name of names) {
        const tensor = outputs[name];
        const values = floatValues(tensor)!;
        const axis = layouts.get(name)!.axis;
        const size = tensor.dims[axis];
        const inner = tensor.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        const acc = sums.get(name) ?? { sum: new Float64Array(size), squares: new Float64Array(size), count: 0 };
        sums.set(name, acc);
        for (let i = 0; i < values.length; i++) {
          const e = Math.floor(i / inner) % size;
          acc.sum[e] += values[i];
          acc.squares[e] += values[i] * values[i];
        }
        acc.count += values.length / size;
      }
    }
  } finally {
    await session.release();
  }
  return new Map(
    [...sums].map(([name, { sum, squares, count }]) => {
      const mean = sum.map((s) => s / count);
      return [name, { mean, variance: squares.map((q, e) => Math.max(0, q / count - mean[e] ** 2)) }];
    }),
  );
}

/** Each shifted node's output gets an Add of its shift, placed right after the node. */
function withBiases(model: ModelProto, shifts: Map<number, Shift>): ModelProto {
  const graph = model.graph!;
  for (const [node, shift] of [...shifts].sort((a, b) => b[0] - a[0])) {
    const producer = graph.node[node];
    const output = producer.output[0];
    const before = `${output}__before_bias_peer`;
    const constant = `${output}__bias_peer`;
    producer.output[0] = before;
    graph.initializer.push(floatTensor(constant, shift.dims(shift.values.length), shift.values, shift.type));
    graph.node.splice(node + 1, 0, makeNode('Add', [before, constant], [output], {}, `${output}__bias_peer_add`));
  }
  return model;
}
