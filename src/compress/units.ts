import type { ChannelSpace, Layout } from '../graph/types.ts';

/*
 * A space whose channels are units of several neurons (attention heads) keeps or removes whole
 * units, but is measured and interpolated neuron by neuron: each neuron of a kept head helps
 * reconstruct every neuron of the removed ones.
 */

/** The neurons of the given units, in order. */
export function neuronsOf(units: readonly number[], unit: number): number[] {
  return units.flatMap((u) => Array.from({ length: unit }, (_, j) => u * unit + j));
}

/** The same place seen neuron by neuron: each neuron a block of block / unit entries. */
export function neuronLayout<T extends Pick<Layout, 'block'>>(layout: T, unit: number): T {
  return { ...layout, block: layout.block / unit };
}

export function neuronCount(space: ChannelSpace): number {
  return space.channels * space.unit;
}
