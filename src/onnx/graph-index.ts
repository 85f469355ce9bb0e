import { clone } from '@bufbuild/protobuf';
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from 'onnx-buf';
import { AttributeProto_AttributeType, ModelProtoSchema } from 'onnx-buf';

/**
 * Where a constant's value lives, so surgery can write it back in the same place. 'copy' is the
 * output of an Identity on a constant (PyTorch writes shared initializers that way): an edited
 * value becomes a new initializer.
 */
export type ConstantHome =
  | { kind: 'initializer'; index: number }
  | { kind: 'constant-node'; node: number }
  | { kind: 'copy' };

/** Read-only lookups over a graph: who produces and who reads each tensor, and its constants. */
export interface GraphIndex {
  model: ModelProto;
  graph: GraphProto;
  nodes: NodeProto[];
  producer: Map<string, number>;
  consumers: Map<string, number[]>;
  constants: Map<string, TensorProto>;
  constantHome: Map<string, ConstantHome>;
  graphInputs: string[];
  graphOutputs: Set<string>;
}

export function indexGraph(model: ModelProto): GraphIndex {
  const graph = model.graph!;
  const nodes = graph.node;
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  const constants = new Map<string, TensorProto>();
  const constantHome = new Map<string, ConstantHome>();
  graph.initializer.forEach((t, index) => {
    constants.set(t.name, t);
    constantHome.set(t.name, { kind: 'initializer', index });
  });
  nodes.forEach((node, i) => {
    for (const name of node.output) if (name) producer.set(name, i);
    // A subgraph (If / Loop / Scan body) may read outer tensors by name: its node reads them too.
    [...node.input, ...subgraphReads(node)].forEach((name) => {
      if (!name) return;
      const list = consumers.get(name) ?? [];
      if (!list.includes(i)) list.push(i);
      consumers.set(name, list);
    });
    if (node.opType === 'Constant' && node.domain === '') {
      const value = attribute(node, 'value');
      if (value?.t) {
        constants.set(node.output[0], value.t);
        constantHome.set(node.output[0], { kind: 'constant-node', node: i });
      }
    } else if (node.opType === 'Identity' && node.domain === '' && constants.has(node.input[0])) {
      constants.set(node.output[0], constants.get(node.input[0])!);
      constantHome.set(node.output[0], { kind: 'copy' });
    }
  });
  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  return {
    model,
    graph,
    nodes,
    producer,
    consumers,
    constants,
    constantHome,
    graphInputs: graph.input.map((v) => v.name).filter((n) => !initializerNames.has(n)),
    graphOutputs: new Set(graph.output.map((v) => v.name)),
  };
}

export function nodeLabel(index: GraphIndex, i: number): string {
  const node = index.nodes[i];
  return node.name || `${node.opType}#${i}`;
}

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a && a.type === AttributeProto_AttributeType.INT ? Number(a.i) : fallback;
}

export function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a && a.type === AttributeProto_AttributeType.INTS ? a.ints.map(Number) : undefined;
}

/** Every tensor name read by the nodes of a node's subgraphs, recursively. */
export function subgraphReads(node: NodeProto): string[] {
  const graphs = node.attribute.flatMap((a) => [...(a.g ? [a.g] : []), ...a.graphs]);
  return graphs.flatMap((g) => g.node.flatMap((inner) => [...inner.input, ...subgraphReads(inner)]));
}

/** True if any node carries a subgraph (If / Loop / Scan bodies). */
export function hasSubgraphs(node: NodeProto): boolean {
  return node.attribute.some((a) => a.g !== undefined || a.graphs.length > 0);
}

/**
 * Which nodes the named tensors depend on, and every tensor those nodes read, following producers
 * back from them (a worklist, so a graph whose nodes are not listed in topological order is handled
 * too). Tensors read inside subgraphs count as inputs of the node that holds them. The search
 * stops at tensors in `available` (computed elsewhere).
 */
export function nodesNeededFor(
  nodes: readonly NodeProto[],
  tensors: Iterable<string>,
  available: ReadonlySet<string> = new Set(),
): { nodes: boolean[]; tensors: Set<string> } {
  const producer = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const name of node.output) if (name) producer.set(name, i);
  });
  const needed = nodes.map(() => false);
  const pending = [...tensors];
  const seen = new Set(pending);
  while (pending.length > 0) {
    const tensor = pending.pop()!;
    if (available.has(tensor)) continue;
    const i = producer.get(tensor);
    if (i === undefined || needed[i]) continue;
    needed[i] = true;
    for (const name of [...nodes[i].input, ...subgraphReads(nodes[i])]) {
      if (name && !seen.has(name)) {
        seen.add(name);
        pending.push(name);
      }
    }
  }
  return { nodes: needed, tensors: seen };
}

/**
 * The model with its nodes in topological order (ONNX asks for it, but some converters append
 * nodes at the end: float16 Casts). The same model where already sorted, else a sorted copy.
 */
export function topologicallySorted(model: ModelProto): ModelProto {
  const graph = model.graph!;
  const producers = new Set(graph.node.flatMap((node) => node.output.filter(Boolean)));
  const available = new Set<string>();
  // Only tensors some node produces impose an order; the rest are inputs, initializers or outer names.
  const ready = (node: NodeProto) =>
    [...node.input, ...subgraphReads(node)].every((name) => !producers.has(name) || available.has(name));
  const placed = graph.node.map(() => false);
  const order: number[] = [];
  for (let progress = true; progress; ) {
    progress = false;
    graph.node.forEach((node, i) => {
      if (placed[i] || !ready(node)) return;
      placed[i] = progress = true;
      order.push(i);
      for (const o of node.output) available.add(o);
    });
  }
  // Already sorted, or a cycle (left for the runtime to report).
  if (order.length < graph.node.length || order.every((n, i) => n === i)) return model;
  const sorted = clone(ModelProtoSchema, model);
  sorted.graph!.node = order.map((i) => sorted.graph!.node[i]);
  return sorted;
}

/**
 * State a model hands from one call to the next, such as a decoder's KV cache: each graph output
 * that a Concat writes from a graph input (present.N.key = Concat(past_key_values.N.key, k)),
 * mapped to that input. Such outputs are not the model's answer; they change with its layers.
 */
export function carriedState(graph: GraphProto): Map<string, string> {
  const inputs = new Set(graph.input.map((v) => v.name));
  const outputs = new Set(graph.output.map((v) => v.name));
  const state = new Map<string, string>();
  for (const node of graph.node) {
    if (node.opType !== 'Concat' || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    const carried = node.input.find((name) => inputs.has(name));
    if (carried && outputs.has(node.output[0])) state.set(node.output[0], carried);
  }
  return state;
}
