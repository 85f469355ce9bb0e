import { clone, create } from '@bufbuild/protobuf';
import { type GraphProto, GraphProtoSchema, type ModelProto, type NodeProto, NodeProtoSchema, TensorProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import { copySharingInitializers } from './model.ts';

/**
 * One model computing `original` and `variant` (an edited copy with the same inputs) on the same
 * feeds, so that statistics comparing them run in one session: ONNX Runtime frees each
 * activation when its readers are done, where running the two and exchanging activations would
 * hold them all. The variant's tensors are renamed (see `variantName`), except the graph inputs
 * and the initializers it shares with the original (the same tensor object), which are held once.
 * Graph outputs are left for the caller to set.
 */
export function sideBySide(original: ModelProto, variant: ModelProto, prefix = '__variant/'): { model: ModelProto; variantName: (name: string) => string } {
  const originalInitializers = new Map(original.graph!.initializer.map((t) => [t.name, t]));
  const shared = new Set(variant.graph!.initializer.filter((t) => originalInitializers.get(t.name) === t).map((t) => t.name));
  const initializerNames = new Set(variant.graph!.initializer.map((t) => t.name));
  for (const input of variant.graph!.input) if (!initializerNames.has(input.name)) shared.add(input.name);
  const variantName = (name: string) => (name === '' || shared.has(name) ? name : prefix + name);

  const model = copySharingInitializers(original);
  const graph = model.graph!;
  const renamed = renameGraph(variant.graph!, variantName, prefix);
  graph.node.push(...renamed.node);
  graph.initializer.push(...renamed.initializer.filter((t) => !shared.has(t.name)));
  graph.valueInfo.push(...renamed.valueInfo);
  return { model, variantName };
}

/**
 * A copy of the graph (subgraphs included) with every tensor name passed through `rename` and
 * node names prefixed. Initializers keep their data: the copies share it with the source.
 */
function renameGraph(graph: GraphProto, rename: (name: string) => string, prefix: string): GraphProto {
  return create(GraphProtoSchema, {
    ...graph,
    node: graph.node.map((node) => renameNode(node, rename, prefix)),
    initializer: graph.initializer.map((t) => create(TensorProtoSchema, { ...t, name: rename(t.name) })),
    input: graph.input.map((v) => create(ValueInfoProtoSchema, { ...clone(ValueInfoProtoSchema, v), name: rename(v.name) })),
    output: graph.output.map((v) => create(ValueInfoProtoSchema, { ...clone(ValueInfoProtoSchema, v), name: rename(v.name) })),
    valueInfo: graph.valueInfo.map((v) => create(ValueInfoProtoSchema, { ...clone(ValueInfoProtoSchema, v), name: rename(v.name) })),
  });
}

function renameNode(node: NodeProto, rename: (name: string) => string, prefix: string): NodeProto {
  const copy = clone(NodeProtoSchema, node);
  copy.input = node.input.map(rename);
  copy.output = node.output.map(rename);
  if (copy.name) copy.name = prefix + copy.name;
  copy.attribute = copy.attribute.map((a) => ({
    ...a,
    g: a.g && renameGraph(a.g, rename, prefix),
    graphs: a.graphs.map((g) => renameGraph(g, rename, prefix)),
  }));
  return copy;
}
