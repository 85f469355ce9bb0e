import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, type ModelProto, ModelProtoSchema, type NodeProto, ValueInfoProtoSchema } from 'onnx-buf';
import { valueInfo } from '../onnx/build.ts';
import { nodesNeededFor, subgraphReads } from '../onnx/graph-index.ts';
import type { ElementType } from '../onnx/runtime.ts';
import { dataTypeOf } from '../onnx/shapes.ts';

/*
 * Passes that each need a little more of a network than the last (the correction's depth levels)
 * need not run it from the inputs every time. Each pass runs a segment: the nodes its outputs need
 * that no earlier pass ran, reading what earlier passes computed from a cache of the tensors that
 * nodes not yet run will read (the frontier). All passes together run each node about once.
 */

export interface Segment {
  /** The nodes to run, reading the cached tensors (`cached`) and data inputs (`data`) as graph inputs. */
  model: ModelProto;
  cached: string[];
  data: string[];
  /** The tensors to cache after this pass: outputs of `model`, or kept from the cache. */
  frontier: string[];
}

export class SegmentCutter {
  /** Network nodes some pass has run, by their first output. */
  private readonly run = new Set<string>();
  /** Tensors in the cache, with their element types. */
  private cachedTypes = new Map<string, ElementType>();

  /**
   * The part of `model` still to be run for its outputs. Nodes from `networkNodes` on are the
   * pass's own (its statistics): they run every time and are never cached. Where `last`, nothing
   * is kept for later passes.
   */
  cut(model: ModelProto, networkNodes: number, dataInputs: ReadonlySet<string>, last: boolean): Segment {
    const graph = model.graph!;
    const nodes = graph.node;
    const available = new Set(this.cachedTypes.keys());
    const { nodes: needed } = nodesNeededFor(
      nodes,
      graph.output.map((o) => o.name),
      available,
    );
    const segment = nodes.flatMap((_, i) => (needed[i] ? [i] : []));
    for (const i of segment) if (i < networkNodes) this.run.add(key(nodes, i));

    const reads = new Set(segment.flatMap((i) => [...nodes[i].input, ...subgraphReads(nodes[i])]));
    const produced = new Set(segment.flatMap((i) => nodes[i].output).filter(Boolean));
    const cached = [...reads].filter((t) => available.has(t) && !produced.has(t));
    const data = [...reads].filter((t) => dataInputs.has(t) && !produced.has(t));

    const pending = new Set<string>();
    if (!last) {
      for (let i = 0; i < networkNodes; i++) {
        if (this.run.has(key(nodes, i))) continue;
        for (const t of [...nodes[i].input, ...subgraphReads(nodes[i])]) pending.add(t);
      }
    }
    const frontier = [...new Set([...available, ...produced])].filter((t) => pending.has(t));
    const segmentModel = create(ModelProtoSchema, {
      ...model,
      graph: create(GraphProtoSchema, {
        ...graph,
        node: segment.map((i) => nodes[i]),
        initializer: graph.initializer.filter((t) => reads.has(t.name)),
        input: [
          ...data.map((name) => graph.input.find((v) => v.name === name)!),
          ...cached.map((name) => valueInfo(name, dataTypeOf(this.cachedTypes.get(name)!))),
        ],
        output: [
          ...graph.output,
          ...frontier.filter((t) => produced.has(t)).map((name) => create(ValueInfoProtoSchema, { name })),
        ],
        valueInfo: [],
      }),
    });
    return { model: segmentModel, cached, data, frontier };
  }

  /** Records the cache after a pass: the frontier's tensors and their types. */
  cache(types: Map<string, ElementType>): void {
    for (const type of types.values())
      if (dataTypeOf(type) === undefined) throw new Error(`cannot cache a tensor of type ${type}`);
    this.cachedTypes = types;
  }

  /**
   * Nodes whose weights changed after they ran (a refit consumer whose output an earlier pass
   * needed): they and everything computed from them run again, as does what reads them.
   */
  forget(model: ModelProto, changedOutputs: readonly string[]): void {
    const nodes = model.graph!.node;
    const stale = new Set(changedOutputs);
    nodes.forEach((node, i) => {
      const changed =
        node.output.some((t) => stale.has(t)) || [...node.input, ...subgraphReads(node)].some((t) => stale.has(t));
      if (!changed) return;
      for (const t of node.output) stale.add(t);
      this.run.delete(key(nodes, i));
    });
    for (const t of stale) this.cachedTypes.delete(t);
  }
}

function key(nodes: readonly NodeProto[], i: number): string {
  return nodes[i].output.find(Boolean) ?? `#${i}`;
}
