import { clone, create } from '@bufbuild/protobuf';
import {
  type AttributeProto,
  type GraphProto,
  AttributeProtoSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  TensorProto_DataType,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import type { Layout } from '../graph/types.ts';
import { floatTensor, int64Tensor, makeNode, valueInfo } from '../onnx/build.ts';
import { nodesNeededFor } from '../onnx/graph-index.ts';
import { defaultOpset } from '../onnx/opset.ts';
import { copySharingInitializers } from '../onnx/model.ts';
import { sideBySide } from '../onnx/side-by-side.ts';
import { readFloatTensor } from '../onnx/tensor.ts';

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

/** Nodes turning `x` into a float32 matrix with one row per position and one column per channel. */
function asRows(fragment: Fragment, tensor: string, probe: Probe, prefix: string): string {
  const { layout, channels, shape } = probe;
  const x = masked(
    fragment,
    segmentOf(fragment, tensor, probe, prefix),
    probe.rowMask,
    TensorProto_DataType.FLOAT,
    prefix,
  );
  const inner = layout.block * shape.slice(layout.axis + 1).reduce((a, b) => a * b, 1);
  let rows: string;
  if (inner === 1) {
    rows = reshape(fragment, x, [-1, channels], `${prefix}/rows`);
  } else {
    const split = reshape(fragment, x, [-1, channels, inner], `${prefix}/split`);
    fragment.nodes.push(makeNode('Transpose', [split], [`${prefix}/moved`], { perm: [0, 2, 1] }));
    rows = reshape(fragment, `${prefix}/moved`, [-1, channels], `${prefix}/rows`);
  }
  fragment.nodes.push(makeNode('Cast', [rows], [`${prefix}/f32`], { to: TensorProto_DataType.FLOAT }));
  return `${prefix}/f32`;
}

/**
 * Every stride-th position of `x` along the axes from `first` on (of the given sizes): a Gather
 * per axis, valid at every opset where a strided Slice needs 10.
 */
function sampleGrid(
  fragment: Fragment,
  x: string,
  first: number,
  sizes: readonly number[],
  stride: readonly number[],
  prefix: string,
): string {
  let sampled = x;
  stride.forEach((step, i) => {
    if (step <= 1) return;
    const picked = Array.from({ length: Math.ceil(sizes[i] / step) }, (_, k) => k * step);
    fragment.initializers.push(int64Tensor(`${prefix}/at${i}`, [picked.length], picked));
    fragment.nodes.push(
      makeNode('Gather', [sampled, `${prefix}/at${i}`], [`${prefix}/sampled${i}`], { axis: first + i }),
    );
    sampled = `${prefix}/sampled${i}`;
  });
  return sampled;
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
function masked(
  fragment: Fragment,
  x: string,
  mask: string | undefined,
  type: TensorProto_DataType,
  prefix: string,
): string {
  if (!mask) return x;
  fragment.nodes.push(
    makeNode('Cast', [x], [`${prefix}/typed`], { to: type }),
    makeNode('Cast', [mask], [`${prefix}/mask`], { to: type }),
  );
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
function slice(
  fragment: Fragment,
  x: string,
  bounds: { starts: number[]; ends: number[]; axes: number[]; steps?: number[] },
  name: string,
): string {
  if (fragment.opset < 10) {
    if (bounds.steps?.some((s) => s !== 1))
      throw new Error(`Slice with steps needs opset 10, the model has ${fragment.opset}`);
    fragment.nodes.push(
      makeNode('Slice', [x], [name], { starts: bounds.starts, ends: bounds.ends, axes: bounds.axes }),
    );
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

export function gramOutputName(i: number): string {
  return `__idprune/gram${i}`;
}

/**
 * A copy of the model whose only outputs are the Gram matrices ZᵀZ of the probed tensors, summed
 * over one batch inside ONNX Runtime. Nodes not needed for them are left for ORT to skip.
 */
export function gramModel(model: ModelProto, probes: readonly Probe[]): ModelProto {
  const copy = copySharingInitializers(model);
  const graph = copy.graph!;
  const fragments = probes.map((probe, i) => {
    const fragment: Fragment = { nodes: [], initializers: [], opset: defaultOpset(model) };
    const rows = asRows(fragment, probe.tensor, probe, `__idprune/g${i}`);
    return { fragment, outputs: gram(fragment, rows, probe.channels, gramOutputName(i)) };
  });
  graph.output = fragments.flatMap((f) => f.outputs);
  appendLatestFirst(
    graph,
    fragments.map((f) => f.fragment),
  );
  // Before IR 4 every initializer must also be a graph input: from 4 on, older models stay valid.
  if (copy.irVersion < 4n) copy.irVersion = 4n;
  dropUnusedNodes(copy);
  return copy;
}

/**
 * Appends fragments of nodes that read the graph's tensors, those reading later tensors first.
 * ONNX Runtime's default execution order is a depth-first walk up from the graph's leaves, the
 * leaf of highest node index first: appended in the network's order, products of the last layers
 * would run first, after the whole network, every probed activation held until then (2 GB more
 * for the BERT-base-sized encoder's statistics). Appended latest first, each fragment runs as soon
 * as what it reads exists, and its activations are freed.
 */
function appendLatestFirst(graph: GraphProto, fragments: readonly Fragment[]): void {
  const producer = new Map(graph.node.flatMap((node, i) => node.output.map((t) => [t, i] as const)));
  const position = (fragment: Fragment) =>
    Math.max(-1, ...fragment.nodes.flatMap((n) => n.input.map((t) => producer.get(t) ?? -1)));
  const ordered = fragments.map((fragment) => ({ fragment, at: position(fragment) })).sort((a, b) => b.at - a.at);
  for (const { fragment } of ordered) {
    graph.node.push(...fragment.nodes);
    graph.initializer.push(...fragment.initializers);
  }
}

/** A copy of the model that outputs just the named tensors, computing nothing else. */
export function exposeTensors(model: ModelProto, tensors: readonly string[]): ModelProto {
  const copy = copySharingInitializers(model);
  copy.graph!.output = tensors.map((name) => create(ValueInfoProtoSchema, { name }));
  dropUnusedNodes(copy);
  return copy;
}

/**
 * Removes nodes and initializers that no graph output depends on. ONNX Runtime would still run
 * them, and the statistics passes ask for tensors early in the network.
 */
export function dropUnusedNodes(model: ModelProto): void {
  const graph = model.graph!;
  const { nodes: keep, tensors: needed } = nodesNeededFor(
    graph.node,
    graph.output.map((o) => o.name),
  );
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
   * A Conv consumer: its original weight, geometry attributes, its output's spatial size, the step
   * between the output positions sampled as rows (neighbouring receptive fields overlap and add little), and the
   * output channels it keeps when its own output space is pruned. Absent for Gemm / MatMul.
   */
  conv?: {
    weight: TensorProto;
    attributes: AttributeProto[];
    spatial: number[];
    stride: number[];
    outputKeep?: number[];
  };
  /**
   * When the layer's output is added (past a bias, if any) to another activation — a residual
   * block's end — that operand: the fit then also makes up for its deviation from the original
   * network. For a Gemm or MatMul it is read as rows [tokens, outputs].
   */
  residual?: string;
  /** Gemm / MatMul: the residual operand's last dimension (the layer's outputs). */
  residualWidth?: number;
  /** Padding tokens are left out (see Probe.rowMask). */
  rowMask?: string;
  /**
   * Also collect the products of the samples with even index alone (a fit with few rows chooses its prior strength on
   * them).
   */
  split?: boolean;
  /**
   * Rows of the fit per sample: sampled output positions of a Conv, tokens or flattened positions for a Gemm / MatMul.
   */
  rowsPerSample: number;
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

/** Rows of consumer input features (float32) of `x` (float32), which has `channels` channels. */
function featureRows(fragment: Fragment, x: string, probe: ConsumerProbe, channels: number, prefix: string): string {
  if (probe.conv) {
    // A depthwise Conv with one-hot kernels lays out each receptive field as channels·taps.
    const kernel = kernelOf(probe.conv);
    const taps = kernel.reduce((a, b) => a * b, 1);
    const onehot = new Float64Array(channels * taps * taps);
    for (let c = 0; c < channels; c++) for (let t = 0; t < taps; t++) onehot[(c * taps + t) * taps + t] = 1;
    fragment.initializers.push(floatTensor(`${prefix}/taps`, [channels * taps, 1, ...kernel], onehot));
    const patches = makeNode('Conv', [x, `${prefix}/taps`], [`${prefix}/patches`], { group: channels });
    patches.attribute.push(...probe.conv.attributes.map((a) => clone(AttributeProtoSchema, a)));
    fragment.nodes.push(patches);
    return positionRows(fragment, `${prefix}/patches`, probe.conv, channels * taps, prefix);
  }
  // Gemm and MatMul read the channels on the last axis. A flattened channel's block entries
  // become rows: one interpolation for all of them keeps the fit well determined.
  const rowsOf = masked(fragment, x, probe.rowMask, TensorProto_DataType.FLOAT, prefix);
  const split = reshape(fragment, rowsOf, [-1, channels, probe.layout.block], `${prefix}/split`);
  fragment.nodes.push(makeNode('Transpose', [split], [`${prefix}/moved`], { perm: [0, 2, 1] }));
  return reshape(fragment, `${prefix}/moved`, [-1, channels], `${prefix}/rows`);
}

/** [N, F, spatial…] → rows [N · sampled positions, F], taking every stride-th position per axis. */
function positionRows(
  fragment: Fragment,
  x: string,
  conv: NonNullable<ConsumerProbe['conv']>,
  features: number,
  prefix: string,
): string {
  const sampled = sampleGrid(fragment, x, 2, conv.spatial, conv.stride, prefix);
  const perm = [0, ...conv.stride.map((_, i) => i + 2), 1];
  fragment.nodes.push(makeNode('Transpose', [sampled], [`${prefix}/moved`], { perm }));
  return reshape(fragment, `${prefix}/moved`, [-1, features], `${prefix}/rows`);
}

/** Output names of consumer i's products in the cross-Gram model (see crossGramGraph). */
export const crossOutput = (product: 'pp' | 'pt' | 'pd' | 'ppE' | 'ptE' | 'ppO' | 'ptO', i: number) =>
  `__idprune/${product}${i}`;

/**
 * The original and the pruned network side by side on the same batch (one session), outputting
 * for each consumer i: pp = PᵀP over the pruned network's features and pt = PᵀY against the
 * fit's target Y — for a Conv, the original layer's output (without bias, kept output channels,
 * sampled positions) plus, at a residual block's end, the other operand's deviation; for a Gemm or
 * MatMul, the original's channels, and pd = PᵀD for the residual operand's deviation D. With
 * `split`, ppE, ptE and ppO, ptO in place of pp and pt: the same over the batch's samples of even
 * and of odd index. The products run in float32 within a batch and are summed over batches in
 * float64 by the caller. Every node of both networks is still in place (the segment cutter chooses
 * what runs): the first `networkNodes` nodes are the networks', the rest compute the products.
 */
export function crossGramGraph(
  original: ModelProto,
  pruned: ModelProto,
  probes: readonly ConsumerProbe[],
): { model: ModelProto; networkNodes: number; variantName: (name: string) => string } {
  const { model, variantName } = sideBySide(original, pruned, '__idprune/pruned/');
  const fragments = probes.map((probe, i) => {
    const fragment: Fragment = { nodes: [], initializers: [], opset: defaultOpset(original) };
    const asFloat = (tensor: string, name: string) => {
      fragment.nodes.push(makeNode('Cast', [tensor], [name], { to: TensorProto_DataType.FLOAT }));
      return name;
    };
    const id = `__idprune/${i}`;
    const names = {
      p: asFloat(variantName(probe.tensor), `${id}/p`),
      o: asFloat(probe.tensor, `${id}/o`),
      rp: probe.residual ? asFloat(variantName(probe.residual), `${id}/rp`) : '',
      ro: probe.residual ? asFloat(probe.residual, `${id}/ro`) : '',
    };
    return { fragment, outputs: appendProducts(fragment, probe, names, i, id) };
  });
  const graph = model.graph!;
  const networkNodes = graph.node.length;
  graph.output = fragments.flatMap((f) => f.outputs);
  appendLatestFirst(
    graph,
    fragments.map((f) => f.fragment),
  );
  if (model.irVersion < 4n) model.irVersion = 4n;
  return { model, networkNodes, variantName };
}

/** Nodes for consumer i's products from float32 activations named in `names` (see crossGramGraph). */
function appendProducts(
  fragment: Fragment,
  probe: ConsumerProbe,
  names: { p: string; o: string; rp: string; ro: string },
  i: number,
  prefix: string,
): ValueInfoProto[] {
  const p = featureRows(fragment, names.p, probe, probe.kept, `${prefix}/pf`);
  let target: string;
  let deviation: string | undefined;
  if (probe.conv) {
    const weight = readFloatTensor(probe.conv.weight);
    fragment.initializers.push(floatTensor(`${prefix}/y/weight`, weight.dims, weight.data));
    const conv = makeNode('Conv', [names.o, `${prefix}/y/weight`], [`${prefix}/y`]);
    conv.attribute.push(...probe.conv.attributes.map((a) => clone(AttributeProtoSchema, a)));
    fragment.nodes.push(conv);
    const outputKeep = probe.conv.outputKeep;
    if (outputKeep) fragment.initializers.push(int64Tensor(`${prefix}/y/keep`, [outputKeep.length], outputKeep));
    const kept = (x: string) => {
      if (!outputKeep) return x;
      fragment.nodes.push(makeNode('Gather', [x, `${prefix}/y/keep`], [`${x}/kept`], { axis: 1 }));
      return `${x}/kept`;
    };
    let y = kept(`${prefix}/y`);
    if (probe.residual) {
      // The pruned network's operand already has the kept channels only.
      fragment.nodes.push(makeNode('Sub', [kept(names.ro), names.rp], [`${prefix}/d`]));
      fragment.nodes.push(makeNode('Add', [y, `${prefix}/d`], [`${prefix}/y/total`]));
      y = `${prefix}/y/total`;
    }
    // The Conv's output positions are the rows of its receptive-field features.
    target = positionRows(fragment, y, probe.conv, targetCount(probe), `${prefix}/y`);
  } else {
    target = featureRows(fragment, names.o, probe, probe.channels, `${prefix}/of`);
    if (probe.residual) {
      // The residual operand's deviation D = ro − rp, one row per token like P.
      fragment.nodes.push(makeNode('Sub', [names.ro, names.rp], [`${prefix}/d`]));
      deviation = reshape(fragment, `${prefix}/d`, [-1, probe.residualWidth!], `${prefix}/d/rows`);
    }
  }
  const outputs: ValueInfoProto[] = [];
  if (probe.split) {
    // Two folds to validate on: the rows of the batch's samples of even and of odd index. Their
    // products add up to the whole batch's, which is then not computed apart.
    const fold = (rows: string, width: number, first: number, name: string) => {
      const perSample = reshape(fragment, rows, [-1, probe.rowsPerSample, width], `${rows}/samples${first}`);
      return reshape(
        fragment,
        slice(fragment, perSample, { starts: [first], ends: [2 ** 31 - 1], axes: [0], steps: [2] }, `${rows}/${name}`),
        [-1, width],
        `${rows}/${name}/rows`,
      );
    };
    for (const [first, name, pp, pt] of [
      [0, 'even', 'ppE', 'ptE'],
      [1, 'odd', 'ppO', 'ptO'],
    ] as const) {
      const pf = fold(p, featureCount(probe, probe.kept), first, name);
      outputs.push(
        ...gram(fragment, pf, featureCount(probe, probe.kept), crossOutput(pp, i)),
        product(fragment, pf, fold(target, targetCount(probe), first, name), crossOutput(pt, i)),
      );
    }
  } else {
    outputs.push(
      ...gram(fragment, p, featureCount(probe, probe.kept), crossOutput('pp', i)),
      product(fragment, p, target, crossOutput('pt', i)),
    );
  }
  if (deviation) outputs.push(product(fragment, p, deviation, crossOutput('pd', i)));
  return outputs;
}

/**
 * Column blocks a Gram matrix of `features` columns is computed by (see gram): about 256 wide or more, at most four.
 */
export function gramBlocks(features: number): { from: number; width: number }[] {
  const count = Math.max(1, Math.min(4, Math.floor(features / 256)));
  return Array.from({ length: count }, (_, i) => {
    const from = Math.round((i * features) / count);
    return { from, width: Math.round(((i + 1) * features) / count) - from };
  });
}

/** Output name of block (i, j), i ≤ j, of the Gram product `name` (see gram). */
export const gramBlockOutput = (name: string, i: number, j: number) => `${name}/${i}.${j}`;

/**
 * XᵀX of a float32 row matrix with `features` columns, by blocks of columns: only the blocks on
 * and above the diagonal are computed, the others being their transposes (5/8 of the arithmetic
 * with four blocks). Copying out the blocks' columns costs little next to the products.
 */
function gram(fragment: Fragment, x: string, features: number, name: string): ValueInfoProto[] {
  const blocks = gramBlocks(features);
  const columns = blocks.map(({ from, width }, i) =>
    blocks.length === 1
      ? x
      : slice(fragment, x, { starts: [from], ends: [from + width], axes: [1] }, `${name}/columns${i}`),
  );
  return columns.flatMap((a, i) =>
    columns.slice(i).map((b, d) => product(fragment, a, b, gramBlockOutput(name, i, i + d))),
  );
}

/**
 * XᵀY of float32 row matrices, computed and output in float32 within a batch (summed over batches
 * in float64 by the caller): several times faster than float64 throughout, at no measured loss.
 * Not cast to float64 inside the model, which held a float64 copy of each product beside its
 * float32 one (0.36 GB more at the peak of the BERT-base-sized encoder's statistics pass). Gemm with
 * transA, and a zero C that Gemm requires before opset 11.
 */
function product(fragment: Fragment, x: string, y: string, name: string): ValueInfoProto {
  const zero = `${name}/zero`;
  fragment.initializers.push(floatTensor(zero, [], [0]));
  fragment.nodes.push(makeNode('Gemm', [x, y, zero], [name], { transA: 1 }));
  return valueInfo(name, TensorProto_DataType.FLOAT);
}
