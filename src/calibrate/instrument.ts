import { clone, create } from '@bufbuild/protobuf';
import {
  type AttributeProto,
  AttributeProtoSchema,
  type ModelProto,
  ModelProtoSchema,
  type NodeProto,
  type TensorProto,
  TensorProto_DataType,
  TensorProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import type { Layout } from '../graph/types.ts';
import { floatTensor, int64Tensor, makeNode, makeModel, valueInfo } from '../onnx/build.ts';
import { nodesNeededFor } from '../onnx/graph-index.ts';
import { defaultOpset } from '../onnx/opset.ts';

/** A tensor whose channel statistics are collected. */
export interface Probe {
  tensor: string;
  layout: Layout;
  channels: number;
  /** The tensor's shape for one sample (from the shape probe). */
  shape: number[];
  /**
   * A model input [batch, tokens] that is 0 on padding tokens: the tensor is [batch, tokens, …]
   * and padded rows are left out of the statistics.
   */
  rowMask?: string;
}

/**
 * Nodes added to a model. What is added to a user's model must be valid at that model's own opset
 * (ops whose inputs became attributes, or the reverse, are written in the form the opset knows).
 */
interface Fragment {
  nodes: NodeProto[];
  initializers: TensorProto[];
  opset: number;
}

/** Nodes turning `x` into a float64 matrix with one row per position and one column per channel. */
function asRows(fragment: Fragment, tensor: string, probe: Probe, prefix: string): string {
  const { layout, channels, shape } = probe;
  const inner = layout.block * shape.slice(layout.axis + 1).reduce((a, b) => a * b, 1);
  const x = masked(fragment, segmentOf(fragment, tensor, probe, prefix), probe.rowMask, TensorProto_DataType.DOUBLE, prefix);
  let rows: string;
  if (inner === 1) {
    rows = reshape(fragment, x, [-1, channels], `${prefix}/rows`);
  } else {
    const split = reshape(fragment, x, [-1, channels, inner], `${prefix}/split`);
    fragment.nodes.push(makeNode('Transpose', [split], [`${prefix}/moved`], { perm: [0, 2, 1] }));
    rows = reshape(fragment, `${prefix}/moved`, [-1, channels], `${prefix}/rows`);
  }
  fragment.nodes.push(makeNode('Cast', [rows], [`${prefix}/f64`], { to: TensorProto_DataType.DOUBLE }));
  return `${prefix}/f64`;
}

/** The probe's own channels of the tensor, cut out along the axis when it holds others too (a Concat output). */
function segmentOf(fragment: Fragment, x: string, probe: Probe, prefix: string): string {
  const { layout, channels, shape } = probe;
  const offset = layout.offset ?? 0;
  const width = channels * layout.block;
  if (offset === 0 && shape[layout.axis] === width) return x;
  return slice(fragment, x, { starts: [offset], ends: [offset + width], axes: [layout.axis] }, `${prefix}/seg`);
}

/** x [batch, tokens, …] as `type`, with the rows of padding tokens zeroed (mask 0); x itself without a mask. */
function masked(fragment: Fragment, x: string, mask: string | undefined, type: TensorProto_DataType, prefix: string): string {
  if (!mask) return x;
  fragment.nodes.push(makeNode('Cast', [x], [`${prefix}/typed`], { to: type }), makeNode('Cast', [mask], [`${prefix}/mask`], { to: type }));
  if (fragment.opset >= 13) {
    fragment.initializers.push(int64Tensor(`${prefix}/mask/axes`, [1], [2]));
    fragment.nodes.push(makeNode('Unsqueeze', [`${prefix}/mask`, `${prefix}/mask/axes`], [`${prefix}/mask3`]));
  } else {
    fragment.nodes.push(makeNode('Unsqueeze', [`${prefix}/mask`], [`${prefix}/mask3`], { axes: [2] }));
  }
  fragment.nodes.push(makeNode('Mul', [`${prefix}/typed`, `${prefix}/mask3`], [`${prefix}/masked`]));
  return `${prefix}/masked`;
}

/** Slice with constant bounds: attributes before opset 10, inputs from it on (steps need 10). */
function slice(fragment: Fragment, x: string, bounds: { starts: number[]; ends: number[]; axes: number[]; steps?: number[] }, name: string): string {
  if (fragment.opset < 10) {
    if (bounds.steps?.some((s) => s !== 1)) throw new Error(`Slice with steps needs opset 10, the model has ${fragment.opset}`);
    fragment.nodes.push(makeNode('Slice', [x], [name], { starts: bounds.starts, ends: bounds.ends, axes: bounds.axes }));
    return name;
  }
  const inputs = [x];
  for (const key of ['starts', 'ends', 'axes', 'steps'] as const) {
    const values = bounds[key];
    if (!values) continue;
    fragment.initializers.push(int64Tensor(`${name}/${key}`, [values.length], values));
    inputs.push(`${name}/${key}`);
  }
  fragment.nodes.push(makeNode('Slice', inputs, [name]));
  return name;
}

function reshape(fragment: Fragment, x: string, dims: number[], name: string): string {
  fragment.initializers.push(int64Tensor(`${name}/shape`, [dims.length], dims));
  fragment.nodes.push(makeNode('Reshape', [x, `${name}/shape`], [name]));
  return name;
}

/** Appends XᵀY (float64, channels × channels) for row matrices x and y; returns the output name. */
function crossProduct(fragment: Fragment, x: string, y: string, name: string): string {
  // Gemm with transA: ORT would fuse Transpose + MatMul into a kernel that has no float64 variant.
  // Before opset 11 Gemm requires its C input: a zero scalar, broadcast.
  const zero = `${name}/zero`;
  fragment.initializers.push(floatTensor(zero, [], [0], TensorProto_DataType.DOUBLE));
  fragment.nodes.push(makeNode('Gemm', [x, y, zero], [name], { transA: 1 }));
  return name;
}

export function gramOutputName(i: number): string {
  return `__idprune/gram${i}`;
}

/**
 * A copy of the model whose only outputs are the Gram matrices ZᵀZ of the probed tensors, summed
 * over one batch inside ONNX Runtime. Nodes not needed for them are left for ORT to skip.
 */
export function gramModel(model: ModelProto, probes: readonly Probe[]): ModelProto {
  const copy = clone(ModelProtoSchema, model);
  const graph = copy.graph!;
  const fragment: Fragment = { nodes: [], initializers: [], opset: defaultOpset(model) };
  graph.output = probes.map((probe, i) => {
    const rows = asRows(fragment, probe.tensor, probe, `__idprune/g${i}`);
    crossProduct(fragment, rows, rows, gramOutputName(i));
    return valueInfo(gramOutputName(i), TensorProto_DataType.DOUBLE);
  });
  graph.node.push(...fragment.nodes);
  graph.initializer.push(...fragment.initializers);
  // Before IR 4 every initializer must also be a graph input: from 4 on, older models stay valid.
  if (copy.irVersion < 4n) copy.irVersion = 4n;
  dropUnusedNodes(copy);
  return copy;
}

/** A copy of the model that outputs just the named tensors, computing nothing else. */
export function exposeTensors(model: ModelProto, tensors: readonly string[]): ModelProto {
  const copy = clone(ModelProtoSchema, model);
  copy.graph!.output = tensors.map((name) => create(ValueInfoProtoSchema, { name }));
  dropUnusedNodes(copy);
  return copy;
}

/**
 * Removes nodes and initializers that no graph output depends on. ONNX Runtime would still run
 * them, and the statistics passes ask for tensors early in the network.
 */
function dropUnusedNodes(model: ModelProto): void {
  const graph = model.graph!;
  const { nodes: keep, tensors: needed } = nodesNeededFor(graph.node, graph.output.map((o) => o.name));
  graph.node = graph.node.filter((_, i) => keep[i]);
  const dropped = new Set(graph.initializer.filter((t) => !needed.has(t.name)).map((t) => t.name));
  graph.initializer = graph.initializer.filter((t) => !dropped.has(t.name));
  // Older exports list initializers among the inputs: a dropped one must not become a required input.
  graph.input = graph.input.filter((v) => !dropped.has(v.name));
}

/**
 * What a consumer layer sees of a space: its input features. For a Conv these are the channels
 * at every tap of its receptive field (im2col); for a Gemm or MatMul, the channels, each block
 * entry (a flattened spatial position) counting as a row of its own.
 */
export interface ConsumerProbe {
  tensor: string;
  layout: Layout;
  /** Channels of the tensor in the original network. */
  channels: number;
  /** Channels of the tensor in the pruned network. */
  kept: number;
  /**
   * A Conv consumer: its original weight, geometry attributes, the step between the output
   * positions sampled as rows (neighbouring receptive fields overlap and add little), and the
   * output channels it keeps when its own output space is pruned. Absent for Gemm / MatMul.
   */
  conv?: { weight: TensorProto; attributes: AttributeProto[]; stride: number[]; outputKeep?: number[] };
  /**
   * When the layer's output is added (past a bias, if any) to another activation — a residual
   * block's end — that operand: the fit then also makes up for its deviation from the original
   * network. For a Gemm or MatMul it is read as rows [tokens, outputs].
   */
  residual?: string;
  /** Gemm / MatMul: the residual operand's last dimension (the layer's outputs). */
  residualWidth?: number;
  /** Padding tokens are left out (see Probe.rowMask); the cross-Gram model reads the mask as input `mask`. */
  rowMask?: string;
  /** Also collect the products of the samples with even index alone (a Conv fit with few rows chooses its ridge on them). */
  split?: boolean;
}

const kernelOf = (conv: NonNullable<ConsumerProbe['conv']>) => conv.weight.dims.slice(2).map(Number);

export function featureCount(probe: ConsumerProbe, channels: number): number {
  return channels * (probe.conv ? kernelOf(probe.conv).reduce((a, b) => a * b, 1) : 1);
}

/** Columns of the fit's right-hand side: the Conv's kept outputs, or the original's channels. */
export function targetCount(probe: ConsumerProbe): number {
  if (!probe.conv) return probe.channels;
  return probe.conv.outputKeep?.length ?? Number(probe.conv.weight.dims[0]);
}

/** Rows of consumer input features (float32) of `x`, which has `channels` channels. */
function featureRows(fragment: Fragment, x: string, probe: ConsumerProbe, channels: number, elemType: TensorProto_DataType, prefix: string): string {
  let rows: string;
  if (probe.conv) {
    // A depthwise Conv with one-hot kernels lays out each receptive field as channels·taps.
    const kernel = kernelOf(probe.conv);
    const taps = kernel.reduce((a, b) => a * b, 1);
    const onehot = new Float64Array(channels * taps * taps);
    for (let c = 0; c < channels; c++) for (let t = 0; t < taps; t++) onehot[(c * taps + t) * taps + t] = 1;
    fragment.initializers.push(floatTensor(`${prefix}/taps`, [channels * taps, 1, ...kernel], onehot, elemType));
    const patches = makeNode('Conv', [x, `${prefix}/taps`], [`${prefix}/patches`], { group: channels });
    patches.attribute.push(...probe.conv.attributes.map((a) => clone(AttributeProtoSchema, a)));
    fragment.nodes.push(patches);
    rows = positionRows(fragment, `${prefix}/patches`, probe.conv.stride, channels * taps, prefix);
  } else {
    // Gemm and MatMul read the channels on the last axis. A flattened channel's block entries
    // become rows: one interpolation for all of them keeps the fit well determined.
    const rowsOf = masked(fragment, x, probe.rowMask && 'mask', elemType, prefix);
    const split = reshape(fragment, rowsOf, [-1, channels, probe.layout.block], `${prefix}/split`);
    fragment.nodes.push(makeNode('Transpose', [split], [`${prefix}/moved`], { perm: [0, 2, 1] }));
    rows = reshape(fragment, `${prefix}/moved`, [-1, channels], `${prefix}/rows`);
  }
  fragment.nodes.push(makeNode('Cast', [rows], [`${prefix}/f32`], { to: TensorProto_DataType.FLOAT }));
  return `${prefix}/f32`;
}

/** [N, F, spatial…] → rows [N · sampled positions, F], sampling every stride-th position per axis. */
function positionRows(fragment: Fragment, x: string, stride: number[], features: number, prefix: string): string {
  let input = x;
  if (stride.some((s) => s > 1)) {
    const axes = stride.map((_, i) => i + 2);
    input = slice(fragment, x, { starts: axes.map(() => 0), ends: axes.map(() => 2 ** 31 - 1), axes, steps: stride }, `${prefix}/sampled`);
  }
  const perm = [0, ...stride.map((_, i) => i + 2), 1];
  fragment.nodes.push(makeNode('Transpose', [input], [`${prefix}/moved`], { perm }));
  return reshape(fragment, `${prefix}/moved`, [-1, features], `${prefix}/rows`);
}

/**
 * A standalone model with inputs p{i}, o{i}: the pruned and the original network's activation read
 * by consumer i, on the same samples. Outputs pp{i} = PᵀP over the pruned network's features and
 * pt{i} = PᵀY against the fit's target Y: for a Conv, the original layer's output (without bias,
 * kept output channels, sampled positions) plus, with a residual operand (inputs rp{i}, ro{i}), that
 * operand's deviation ro − rp; for a Gemm or MatMul, the original's channels.
 */
export function consumerCrossGramModel(probes: readonly ConsumerProbe[], elemTypes: readonly TensorProto_DataType[], maskType?: TensorProto_DataType): ModelProto {
  const fragment: Fragment = { nodes: [], initializers: [], opset: 13 };
  const inputs = maskType === undefined ? [] : [valueInfo('mask', maskType)];
  const outputs: ValueInfoProto[] = [];
  for (let i = 0; i < probes.length; i++) {
    const probe = probes[i];
    const names = { p: `p${i}`, o: `o${i}`, rp: `rp${i}`, ro: `ro${i}` };
    inputs.push(valueInfo(names.p, elemTypes[i]), valueInfo(names.o, elemTypes[i]));
    if (probe.residual) inputs.push(valueInfo(names.rp, elemTypes[i]), valueInfo(names.ro, elemTypes[i]));
    outputs.push(...appendProducts(fragment, probe, names, elemTypes[i], `${i}`));
    if (probe.split) {
      // The same products over the batch's even samples (ppE, ptE): a second fold to validate on.
      const even = (x: string) => slice(fragment, x, { starts: [0], ends: [2 ** 31 - 1], axes: [0], steps: [2] }, `${x}/even`);
      const evenNames = { p: even(names.p), o: even(names.o), rp: probe.residual ? even(names.rp) : '', ro: probe.residual ? even(names.ro) : '' };
      outputs.push(...appendProducts(fragment, probe, evenNames, elemTypes[i], `E${i}`));
    }
  }
  return makeModel({ nodes: fragment.nodes, inputs, outputs, initializers: fragment.initializers, opset: 13 });
}

/**
 * Nodes for one consumer's products from activations named in `names`, with outputs pp{id}, pt{id}
 * (and pd{id}): see consumerCrossGramModel.
 */
function appendProducts(fragment: Fragment, probe: ConsumerProbe, names: { p: string; o: string; rp: string; ro: string }, elemType: TensorProto_DataType, id: string): ValueInfoProto[] {
  const outputs: ValueInfoProto[] = [];
  const p = featureRows(fragment, names.p, probe, probe.kept, elemType, `p${id}`);
  let target: string;
  if (probe.conv) {
    const weight = clone(TensorProtoSchema, probe.conv.weight);
    weight.name = `y${id}/weight`;
    fragment.initializers.push(weight);
    const conv = makeNode('Conv', [names.o, weight.name], [`y${id}`]);
    conv.attribute.push(...probe.conv.attributes.map((a) => clone(AttributeProtoSchema, a)));
    fragment.nodes.push(conv);
    const outputKeep = probe.conv.outputKeep;
    if (outputKeep) fragment.initializers.push(int64Tensor(`y${id}/keep`, [outputKeep.length], outputKeep));
    const kept = (x: string) => {
      if (!outputKeep) return x;
      fragment.nodes.push(makeNode('Gather', [x, `y${id}/keep`], [`${x}/kept`], { axis: 1 }));
      return `${x}/kept`;
    };
    let y = kept(`y${id}`);
    if (probe.residual) {
      // The pruned network's operand already has the kept channels only.
      fragment.nodes.push(makeNode('Sub', [kept(names.ro), names.rp], [`d${id}`]));
      fragment.nodes.push(makeNode('Add', [y, `d${id}`], [`y${id}/total`]));
      y = `y${id}/total`;
    }
    // The Conv's output positions are the rows of its receptive-field features.
    const rows = positionRows(fragment, y, probe.conv.stride, targetCount(probe), `y${id}`);
    fragment.nodes.push(makeNode('Cast', [rows], [`y${id}/f32`], { to: TensorProto_DataType.FLOAT }));
    target = `y${id}/f32`;
  } else {
    target = featureRows(fragment, names.o, probe, probe.channels, elemType, `o${id}`);
    if (probe.residual) {
      // PᵀD for the residual operand's deviation D = ro − rp, one row per token like P.
      fragment.nodes.push(makeNode('Sub', [names.ro, names.rp], [`d${id}`]));
      const rows = reshape(fragment, `d${id}`, [-1, probe.residualWidth!], `d${id}/rows`);
      fragment.nodes.push(makeNode('Cast', [rows], [`d${id}/f32`], { to: TensorProto_DataType.FLOAT }));
      fragment.nodes.push(makeNode('Gemm', [p, `d${id}/f32`], [`pd${id}/f32`], { transA: 1 }), makeNode('Cast', [`pd${id}/f32`], [`pd${id}`], { to: TensorProto_DataType.DOUBLE }));
      outputs.push(valueInfo(`pd${id}`, TensorProto_DataType.DOUBLE));
    }
  }
  // Receptive fields make these products large: they run in float32 (one batch at a time, summed
  // over batches in float64), several times faster than in float64 at no measured loss.
  fragment.nodes.push(makeNode('Gemm', [p, p], [`pp${id}/f32`], { transA: 1 }), makeNode('Cast', [`pp${id}/f32`], [`pp${id}`], { to: TensorProto_DataType.DOUBLE }));
  fragment.nodes.push(makeNode('Gemm', [p, target], [`pt${id}/f32`], { transA: 1 }), makeNode('Cast', [`pt${id}/f32`], [`pt${id}`], { to: TensorProto_DataType.DOUBLE }));
  outputs.push(valueInfo(`pp${id}`, TensorProto_DataType.DOUBLE), valueInfo(`pt${id}`, TensorProto_DataType.DOUBLE));
  return outputs;
}
