import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from 'onnx-buf';
import { AttributeProto_AttributeType } from 'onnx-buf';

/**
 * Where a constant's value lives, so surgery can write it back in the same place. 'copy' is the
 * output of an Identity on a constant (PyTorch writes shared initializers that way): an edited
 * value becomes a new initializer.
 */
export type ConstantHome = { kind: 'initializer'; index: number } | { kind: 'constant-node'; node: number } | { kind: 'copy' };

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
    node.output.forEach((name) => name && producer.set(name, i));
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
function subgraphReads(node: NodeProto): string[] {
  const graphs = node.attribute.flatMap((a) => [...(a.g ? [a.g] : []), ...a.graphs]);
  return graphs.flatMap((g) => g.node.flatMap((inner) => [...inner.input, ...subgraphReads(inner)]));
}

/** True if any node carries a subgraph (If / Loop / Scan bodies). */
export function hasSubgraphs(node: NodeProto): boolean {
  return node.attribute.some((a) => a.g !== undefined || a.graphs.length > 0);
}
