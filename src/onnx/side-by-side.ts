import { clone, create, toBinary } from '@bufbuild/protobuf';
import {
  type GraphProto,
  GraphProtoSchema,
  type ModelProto,
  type NodeProto,
  NodeProtoSchema,
  TensorProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { hasSubgraphs } from './graph-index.ts';
import { copySharingInitializers } from './model.ts';

/**
 * One model computing `original` and `variant` (an edited copy with the same inputs) on the same
 * feeds, so that statistics comparing them run in one session: ONNX Runtime frees each
 * activation when its readers are done, where running the two and exchanging activations would
 * hold them all. What the two compute alike is computed once: the graph inputs, the initializers
 * the variant shares with the original (the same tensor object), and every node of the variant
 * that matches the original's node of the same outputs and reads only such shared tensors (the
 * network before its first edit). The variant's other tensors are renamed (see `variantName`).
 * Graph outputs are left for the caller to set.
 */
export function sideBySide(
  original: ModelProto,
  variant: ModelProto,
  prefix = '__variant/',
): { model: ModelProto; variantName: (name: string) => string } {
  const originalInitializers = new Map(original.graph!.initializer.map((t) => [t.name, t]));
  const shared = new Set(
    variant.graph!.initializer.filter((t) => originalInitializers.get(t.name) === t).map((t) => t.name),
  );
  const initializerNames = new Set(variant.graph!.initializer.map((t) => t.name));
  for (const input of variant.graph!.input) if (!initializerNames.has(input.name)) shared.add(input.name);
  const twins = new Map(original.graph!.node.map((node) => [node.output.join('\n'), node]));
  const computedOnce = variant.graph!.node.map((node) => {
    const twin = twins.get(node.output.join('\n'));
    const same =
      twin !== undefined &&
      !hasSubgraphs(node) &&
      node.input.every((t) => t === '' || shared.has(t)) &&
      equalBytes(encodeNode(node), encodeNode(twin));
    if (same) for (const t of node.output) shared.add(t);
    return same;
  });
  const variantName = (name: string) => (name === '' || shared.has(name) ? name : prefix + name);

  const model = copySharingInitializers(original);
  const graph = model.graph!;
  const renamed = renameGraph(
    { ...variant.graph!, node: variant.graph!.node.filter((_, i) => !computedOnce[i]) },
    variantName,
    prefix,
  );
  graph.node.push(...renamed.node);
  graph.initializer.push(...renamed.initializer.filter((t) => !shared.has(t.name)));
  graph.valueInfo.push(...renamed.valueInfo.filter((v) => !shared.has(v.name)));
  return { model, variantName };
}

const encodeNode = (node: NodeProto) => toBinary(NodeProtoSchema, node);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
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
    input: graph.input.map((v) =>
      create(ValueInfoProtoSchema, { ...clone(ValueInfoProtoSchema, v), name: rename(v.name) }),
    ),
    output: graph.output.map((v) =>
      create(ValueInfoProtoSchema, { ...clone(ValueInfoProtoSchema, v), name: rename(v.name) }),
    ),
    valueInfo: graph.valueInfo.map((v) =>
      create(ValueInfoProtoSchema, { ...clone(ValueInfoProtoSchema, v), name: rename(v.name) }),
    ),
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
