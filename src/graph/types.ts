import type { GraphIndex } from '../onnx/graph-index.ts';
import type { Shapes } from '../onnx/shapes.ts';

/**
 * Where the channels sit in a tensor: along `axis`, channel c occupying entries
 * [offset + c·block, offset + (c+1)·block) of that axis (block > 1 after flattening C×H×W into one
 * axis; offset > 0 behind other tensors' channels after a Concat). Entries outside that range belong
 * to other spaces or to none.
 */
export interface Layout {
  axis: number;
  block: number;
  offset?: number;
}

/** A constant input of a node that holds one slice per channel along `axis`, laid out like the space's tensor. */
export interface ConstantSlice {
  node: number;
  input: number;
  axis: number;
  block: number;
  offset?: number;
}

/**
 * An integer entry that counts entries of a channel axis (a Reshape size, a Split size, a Slice
 * bound) and decreases by block for every channel removed. It lives in constant input `input` of
 * the node, or in its integer or integer-list attribute `attribute`.
 */
export interface ShapeEntry {
  node: number;
  input: number;
  attribute?: string;
  position: number;
  block: number;
  /**
   * The entry is computed at run time (a one-element piece of a shape built by Concat, from Shape →
   * Gather): surgery replaces that piece by a constant, -1 for the Reshape to infer where `infer`,
   * else `value` (its size in the original) less the removed entries.
   */
  computed?: { value: number; infer: boolean };
}

/** A node whose constant weight reads the space on `axis`; it absorbs the interpolation matrix there. */
export interface Consumer {
  node: number;
  /** The activation tensor the node reads. */
  reads: string;
  weight: ConstantSlice;
}

/**
 * A mean of squares over the channels, as RMSNorm computes it: `squares` (Pow(x, 2) or x · x) of
 * `source`, reduced over the channel axis by `reduce`, becomes the scale of the stream that layers
 * read as `reads` (after an optional per-channel weight, input `weight.input` of node
 * `weight.node`). Pruned, the squares are taken of the kept channels and of the removed ones as
 * the interpolation of `reads` reconstructs them, so the scale stays that of the whole stream.
 */
export interface NormOfSquares {
  squares: number;
  reduce: number;
  source: string;
  reads: string;
  weight?: { node: number; input: number };
}

export interface SpaceTensor {
  name: string;
  layout: Layout;
}

/**
 * A set of tensor axes that must keep the same channel subset together. A channel may be a unit of
 * several neurons kept or removed together (an attention head): `unit` neurons, laid out as the
 * leading factor of each channel's block where they share an axis.
 */
export interface ChannelSpace {
  id: number;
  channels: number;
  unit: number;
  producers: number[];
  tensors: SpaceTensor[];
  channelwise: number[];
  /** Constants sliced to the kept channels: producer weights and biases, per-channel parameters. */
  slices: ConstantSlice[];
  shapeEntries: ShapeEntry[];
  /** Depthwise Convs whose `group` attribute counts the channels (decreases by one per channel removed). */
  groups: number[];
  consumers: Consumer[];
  /** Means of squares over the channels (RMSNorm) that follow the kept channels and their reconstruction. */
  norms: NormOfSquares[];
  prunable: boolean;
  reason?: string;
}

export interface RuleContext {
  index: GraphIndex;
  shapes: Shapes;
  constant(name: string): boolean;
  constantDims(name: string): number[] | undefined;
}

export interface Arrival {
  node: number;
  input: number;
  tensor: string;
  layout: Layout;
  channels: number;
}

export type Visit =
  | {
      kind: 'pass';
      outputs: SpaceTensor[];
      slices?: ConstantSlice[];
      shapeEntries?: ShapeEntry[];
      groups?: number[];
      sameSpace?: string[];
    }
  | { kind: 'consume'; weight: ConstantSlice }
  /** A mean of squares over the channels (RMSNorm's): the output carries no channels. */
  | { kind: 'norm'; norm: NormOfSquares }
  | { kind: 'block'; reason: string }
  /** The channels only go on in groups of `unit` (heads split off by a Reshape): trace again with coarser channels. */
  | { kind: 'regroup'; unit: number }
  /**
   * The channels are cut into parts that go separate ways (a packed Q/K/V projection split in
   * three): trace each part, entries [offset, offset + size) of the axis, as a space of its own.
   */
  | { kind: 'partition'; sizes: number[] };

export interface Production {
  output: string;
  layout: Layout;
  channels: number;
  slices: ConstantSlice[];
  /** Counts of the channels written in the producer itself (a fused attention op's num_heads). */
  shapeEntries?: ShapeEntry[];
  /** Neurons per channel where the producer writes units (heads); layout and slices count entries per unit. */
  unit?: number;
}

/** How one op type treats channel spaces. */
export interface OpRule {
  /** A space arrives on input `arrival.input`: pass it on, absorb it, or stop it with a reason. */
  visit(ctx: RuleContext, arrival: Arrival): Visit;
  /** Whether the node starts a new space on its output, and what to slice when it is pruned. */
  produce?(ctx: RuleContext, node: number): Production | null;
}
