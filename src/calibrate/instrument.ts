import { clone, create } from '@bufbuild/protobuf';
import { type ModelProto, ModelProtoSchema, type NodeProto, type TensorProto, TensorProto_DataType, ValueInfoProtoSchema } from 'onnx-buf';
import type { Layout } from '../graph/types.ts';
import { int64Tensor, makeNode, makeModel, valueInfo } from '../onnx/build.ts';
import { hasSubgraphs } from '../onnx/graph-index.ts';

/** A tensor whose channel statistics are collected. */
export interface Probe {
  tensor: string;
  layout: Layout;
  channels: number;
  /** The tensor's shape for one sample (from the shape probe). */
  shape: number[];
}

interface Fragment {
  nodes: NodeProto[];
  initializers: TensorProto[];
}

/** Nodes turning `x` into a float64 matrix with one row per position and one column per channel. */
function asRows(fragment: Fragment, x: string, probe: Probe, prefix: string): string {
  const { layout, channels, shape } = probe;
  const inner = layout.block * shape.slice(layout.axis + 1).reduce((a, b) => a * b, 1);
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

function reshape(fragment: Fragment, x: string, dims: number[], name: string): string {
  fragment.initializers.push(int64Tensor(`${name}/shape`, [dims.length], dims));
  fragment.nodes.push(makeNode('Reshape', [x, `${name}/shape`], [name]));
  return name;
}

/** Appends XᵀY (float64, channels × channels) for row matrices x and y; returns the output name. */
function crossProduct(fragment: Fragment, x: string, y: string, name: string): string {
  // Gemm with transA: ORT would fuse Transpose + MatMul into a kernel that has no float64 variant.
  fragment.nodes.push(makeNode('Gemm', [x, y], [name], { transA: 1 }));
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
  const fragment: Fragment = { nodes: [], initializers: [] };
  graph.output = probes.map((probe, i) => {
    const rows = asRows(fragment, probe.tensor, probe, `__idprune/g${i}`);
    crossProduct(fragment, rows, rows, gramOutputName(i));
    return valueInfo(gramOutputName(i), TensorProto_DataType.DOUBLE);
  });
  graph.node.push(...fragment.nodes);
  graph.initializer.push(...fragment.initializers);
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
  if (graph.node.some(hasSubgraphs)) return; // subgraphs may read outer tensors implicitly
  const needed = new Set(graph.output.map((o) => o.name));
  const keep = new Array<boolean>(graph.node.length).fill(false);
  for (let i = graph.node.length - 1; i >= 0; i--) {
    const node = graph.node[i];
    if (!node.output.some((o) => needed.has(o))) continue;
    keep[i] = true;
    for (const input of node.input) if (input) needed.add(input);
  }
  graph.node = graph.node.filter((_, i) => keep[i]);
  const dropped = new Set(graph.initializer.filter((t) => !needed.has(t.name)).map((t) => t.name));
  graph.initializer = graph.initializer.filter((t) => !dropped.has(t.name));
  // Older exports list initializers among the inputs: a dropped one must not become a required input.
  graph.input = graph.input.filter((v) => !dropped.has(v.name));
}

/**
 * A standalone model with inputs p{i}, o{i} (a pruned and the original network's activation at
 * the same probe) and outputs pᵀp and pᵀo per probe.
 */
export function crossGramModel(probes: readonly Probe[], elemTypes: readonly TensorProto_DataType[], opset: number): ModelProto {
  const fragment: Fragment = { nodes: [], initializers: [] };
  const inputs = [];
  const outputs = [];
  for (let i = 0; i < probes.length; i++) {
    const probe = probes[i];
    inputs.push(valueInfo(`p${i}`, elemTypes[i]), valueInfo(`o${i}`, elemTypes[i]));
    const p = asRows(fragment, `p${i}`, probe, `p${i}`);
    const o = asRows(fragment, `o${i}`, probe, `o${i}`);
    crossProduct(fragment, p, p, `pp${i}`);
    crossProduct(fragment, p, o, `po${i}`);
    outputs.push(valueInfo(`pp${i}`, TensorProto_DataType.DOUBLE), valueInfo(`po${i}`, TensorProto_DataType.DOUBLE));
  }
  return makeModel({ nodes: fragment.nodes, inputs, outputs, initializers: fragment.initializers, opset: Math.max(opset, 13) });
}
