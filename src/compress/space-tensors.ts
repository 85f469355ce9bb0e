import type { ChannelSpace } from '../graph/types.ts';

/** The distinct tensors a space's consumers read: one Gram matrix and one interpolation each. */
export function readTensors(space: ChannelSpace): string[] {
  return [...new Set(space.consumers.map((c) => c.reads))];
}

/** The key of a read tensor's Gram matrix among a model's statistics. */
export function probeKey(space: number, tensor: string): string {
  return `${space}|${tensor}`;
}
