import { clone } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  type ModelProto,
  type TensorProto,
  TensorProto_DataType,
  TensorProtoSchema,
} from 'onnx-buf';
import type { ChannelSpace, NormOfSquares } from '../graph/types.ts';
import type { Matrix } from '../linalg/matrix.ts';
import { javascriptProducts, type MatrixProducts } from '../linalg/products.ts';
import { floatTensor, int64Tensor, makeNode, valueInfo } from '../onnx/build.ts';
import { attribute, type GraphIndex, indexGraph } from '../onnx/graph-index.ts';
import { copySharingInitializers } from '../onnx/model.ts';
import { type FloatArray, readFloatTensor, readIntTensor, withFloatData, withIntData } from '../onnx/tensor.ts';
import { mixChannels, sliceChannels } from './tensor-ops.ts';
import { neuronCount, neuronLayout } from './units.ts';

/** What to do to one space: the channels it keeps and the correction each consumer absorbs. */
export interface SpaceDecision {
  space: ChannelSpace;
  keep: number[];
  /**
   * Per read tensor, T (k × C) with Z ≈ Z[:, keep] · T, folded into every consumer reading it; over
   * neurons (k · unit × C · unit) where the space's channels are units of several.
   */
  interpolation: Map<string, Matrix>;
}

/** A node's constant input replaced by a new value (a refitted weight). */
export interface WeightReplacement {
  node: number;
  input: number;
  value: FloatArray;
}

/**
 * Constants being rewritten. A constant shared by several nodes is first copied, so that each
 * edit reaches exactly the node it was meant for.
 */
class ConstantWriter {
  private readonly values = new Map<string, FloatArray>();
  private readonly ints = new Map<string, number[]>();
  private readonly users = new Map<string, number>();
  private copies = 0;

  constructor(private readonly index: GraphIndex) {
    for (const [name, list] of index.consumers) this.users.set(name, list.length);
  }

  /** The name of node `node`'s input `input`, made private to that node. */
  private own(node: number, input: number): string {
    const nodeProto = this.index.nodes[node];
    const name = nodeProto.input[input];
    const occurrences = nodeProto.input.filter((n) => n === name).length;
    const inPlace = this.index.constantHome.get(name)?.kind !== 'copy';
    if (inPlace && (this.users.get(name) ?? 0) <= 1 && occurrences === 1 && !this.index.graphOutputs.has(name))
      return name;
    const copy = clone(TensorProtoSchema, this.index.constants.get(name)!);
    const fresh = this.addInitializer(name, copy);
    if (this.values.has(name)) this.values.set(fresh, this.values.get(name)!);
    if (this.ints.has(name)) this.ints.set(fresh, this.ints.get(name)!);
    nodeProto.input[input] = fresh;
    this.users.set(name, (this.users.get(name) ?? 1) - 1);
    this.users.set(fresh, 1);
    return fresh;
  }

  /** Adds `tensor` as a new initializer named after `base`; returns its name. */
  private addInitializer(base: string, tensor: TensorProto): string {
    // Earlier passes over the same model may have made copies already: never reuse a name.
    let fresh: string;
    do fresh = `${base}__idprune${++this.copies}`;
    while (this.index.constants.has(fresh) || this.index.producer.has(fresh));
    tensor.name = fresh;
    this.index.graph.initializer.push(tensor);
    this.index.constants.set(fresh, tensor);
    this.index.constantHome.set(fresh, { kind: 'initializer', index: this.index.graph.initializer.length - 1 });
    return fresh;
  }

  /** Input `input` of a node, computed at run time, becomes a new one-element int64 constant. */
  replaceByConstant(node: number, input: number, value: number): void {
    const nodeProto = this.index.nodes[node];
    const name = this.addInitializer(nodeProto.input[input], int64Tensor('', [1], [value]));
    nodeProto.input[input] = name;
    this.ints.set(name, [value]);
  }

  async updateFloat(
    node: number,
    input: number,
    edit: (value: FloatArray) => FloatArray | Promise<FloatArray>,
  ): Promise<void> {
    const name = this.own(node, input);
    const current = this.values.get(name) ?? readFloatTensor(this.index.constants.get(name)!);
    this.values.set(name, await edit(current));
  }

  setFloat(node: number, input: number, value: FloatArray): void {
    this.values.set(this.own(node, input), value);
  }

  updateInt(node: number, input: number, edit: (values: number[]) => number[]): void {
    const name = this.own(node, input);
    const current = this.ints.get(name) ?? readIntTensor(this.index.constants.get(name)!);
    this.ints.set(name, edit([...current]));
  }

  /** Writes every edited constant back where it lives (initializer or Constant node). */
  commit(): void {
    const store = (name: string, tensor: TensorProto) => {
      const home = this.index.constantHome.get(name)!;
      if (home.kind === 'initializer') this.index.graph.initializer[home.index] = tensor;
      else if (home.kind === 'constant-node') attribute(this.index.nodes[home.node], 'value')!.t = tensor;
      else throw new Error(`constant ${name} was edited in place of an Identity copy`);
    };
    for (const [name, value] of this.values)
      store(name, withFloatData(this.index.constants.get(name)!, value.dims, value.data));
    for (const [name, values] of this.ints) store(name, withIntData(this.index.constants.get(name)!, values));
    this.declareInputs([...this.values.keys(), ...this.ints.keys()]);
  }

  /**
   * Older exports (IR < 4, or PyTorch's keep_initializers_as_inputs) also list initializers as
   * graph inputs, with their shapes: those follow the new values, and copies are listed too.
   */
  private declareInputs(names: string[]): void {
    const graph = this.index.graph;
    const declared = new Map(graph.input.map((v) => [v.name, v]));
    if (!graph.initializer.some((t) => declared.has(t.name))) return;
    for (const name of names) {
      const tensor = graph.initializer.find((t) => t.name === name);
      if (!tensor) continue;
      const info = valueInfo(name, tensor.dataType, tensor.dims.map(Number));
      const existing = graph.input.findIndex((v) => v.name === name);
      if (existing >= 0) graph.input[existing] = info;
      else graph.input.push(info);
    }
  }
}

/**
 * A new model with every decision applied: producers and per-channel constants sliced, consumers
 * corrected (the interpolations folded in by `products`).
 */
export async function applySurgery(
  model: ModelProto,
  decisions: readonly SpaceDecision[],
  products: MatrixProducts = javascriptProducts,
): Promise<ModelProto> {
  const copy = copySharingInitializers(model);
  const index = indexGraph(copy);
  const writer = new ConstantWriter(index);
  // Spaces may share a constant at different offsets of one axis (after a Concat). Editing from the
  // highest offset down leaves the lower segments where the analysis found them.
  const edits: { offset: number; apply: () => Promise<void> }[] = [];
  for (const { space, keep, interpolation } of decisions) {
    const channels = space.channels;
    const removed = channels - keep.length;
    for (const s of space.slices) {
      edits.push({
        offset: s.offset ?? 0,
        apply: () => writer.updateFloat(s.node, s.input, (v) => sliceChannels(v, { ...s, channels }, keep)),
      });
    }
    for (const c of space.consumers) {
      const mix = interpolation.get(c.reads);
      if (!mix) throw new Error(`no interpolation for tensor ${c.reads}`);
      const segment = { ...neuronLayout(c.weight, space.unit), channels: neuronCount(space) };
      edits.push({
        offset: segment.offset ?? 0,
        apply: () => writer.updateFloat(c.node, c.weight.input, (v) => mixChannels(v, segment, mix, products)),
      });
    }
    for (const e of space.shapeEntries) {
      if (e.computed) {
        writer.replaceByConstant(e.node, e.input, e.computed.infer ? -1 : e.computed.value - removed * e.block);
        continue;
      }
      const shrink = (values: number[]) => values.map((v, i) => (i === e.position ? v - removed * e.block : v));
      if (e.attribute) {
        const attr = attribute(index.nodes[e.node], e.attribute)!;
        if (attr.type === AttributeProto_AttributeType.INT) attr.i -= BigInt(removed * e.block);
        else attr.ints = shrink(attr.ints.map(Number)).map(BigInt);
      } else {
        writer.updateInt(e.node, e.input, shrink);
      }
    }
    for (const node of space.groups) {
      const group = attribute(index.nodes[node], 'group')!;
      group.i -= BigInt(removed);
    }
    updateValueInfo(copy, space, removed);
  }
  for (const edit of edits.sort((a, b) => b.offset - a.offset)) await edit.apply();
  writer.commit();
  const original = indexGraph(model);
  for (const decision of decisions)
    if (decision.keep.length < decision.space.channels)
      for (const norm of decision.space.norms) reconstructForNorm(copy, original, norm, decision);
  return copy;
}

/**
 * Makes a mean of squares over the kept channels that of the whole stream again: the removed
 * channels, as the interpolation reconstructs them from the kept ones, are appended to the squared
 * tensor (MatMul by the interpolation's removed columns, then Concat), so RMSNorm still divides by
 * the stream's own scale. The interpolation was fitted to the normalized stream y = w ⊙ x / rms(x)
 * that layers read; rescaled by the norm's weight w it reconstructs x: x_r ≈ Σᵢ x_sᵢ · w_sᵢ T_{i,r} / w_r.
 */
function reconstructForNorm(
  copy: ModelProto,
  original: GraphIndex,
  norm: NormOfSquares,
  decision: SpaceDecision,
): void {
  const { space, keep, interpolation } = decision;
  const mix = interpolation.get(norm.reads);
  if (!mix) throw new Error(`no interpolation for tensor ${norm.reads}`);
  const removed = Array.from({ length: space.channels }, (_, c) => c).filter((c) => !keep.includes(c));
  const weight = norm.weight
    ? readFloatTensor(original.constants.get(original.nodes[norm.weight.node].input[norm.weight.input])!).data
    : undefined;
  const scale = (c: number) => weight?.[c] ?? 1;
  const values = new Float64Array(keep.length * removed.length);
  keep.forEach((s, i) => {
    removed.forEach((r, j) => {
      values[i * removed.length + j] = scale(r) === 0 ? 0 : (scale(s) * mix.data[i * mix.cols + r]) / scale(r);
    });
  });
  const graph = copy.graph!;
  const squares = graph.node[norm.squares];
  const name = `${squares.output[0]}_whole_stream`;
  const layout = space.tensors.find((t) => t.name === norm.source)!.layout;
  const dataType = weightType(original, space);
  graph.initializer.push(floatTensor(`${name}_interpolation`, [keep.length, removed.length], values, dataType));
  const nodes = [
    makeNode('MatMul', [norm.source, `${name}_interpolation`], [`${name}_removed`], {}, `${name}_reconstruct`),
    makeNode('Concat', [norm.source, `${name}_removed`], [name], { axis: layout.axis }, `${name}_concat`),
  ];
  squares.input = squares.input.map((input) => (input === norm.source ? name : input));
  // Appended, so that every node keeps its index for the passes that follow; the compressed model
  // is put in topological order at the end (compressPrepared).
  graph.node.push(...nodes);
}

/** The float type of the space's layer weights (float16 stays float16). */
function weightType(index: GraphIndex, space: ChannelSpace): TensorProto_DataType {
  const consumer = space.consumers[0];
  const weight = index.constants.get(index.nodes[consumer.node].input[consumer.weight.input]);
  return weight?.dataType ?? TensorProto_DataType.FLOAT;
}

/** A new model with the given constant inputs replaced (each made private to its node first). */
export function replaceWeights(model: ModelProto, replacements: readonly WeightReplacement[]): ModelProto {
  const copy = copySharingInitializers(model);
  const writer = new ConstantWriter(indexGraph(copy));
  for (const r of replacements) writer.setFloat(r.node, r.input, r.value);
  writer.commit();
  return copy;
}

/**
 * Declared shapes of the space's tensors lose the removed channels, the model's inputs and outputs
 * among them (a KV cache narrowed with its attention heads).
 */
function updateValueInfo(model: ModelProto, space: ChannelSpace, removed: number): void {
  const layouts = new Map(space.tensors.map((t) => [t.name, t.layout]));
  const { valueInfo, input, output } = model.graph!;
  for (const info of [...valueInfo, ...input, ...output]) {
    const layout = layouts.get(info.name);
    if (!layout || info.type?.value.case !== 'tensorType') continue;
    const dim = info.type.value.value.shape?.dim[layout.axis];
    if (dim?.value.case === 'dimValue') dim.value.value -= BigInt(removed * layout.block);
  }
}
