import type { ChannelSpace } from '../graph/types.ts';
import type { GraphIndex } from '../onnx/graph-index.ts';

/**
 * Groups spaces into levels such that every space lies downstream of some space in the level
 * before it and of none in its own level: the order in which error-correcting fits can be done,
 * one pass over the data per level.
 */
export function spaceLevels(index: GraphIndex, spaces: readonly ChannelSpace[]): ChannelSpace[][] {
  const downstream = new Map<number, Set<number>>();
  for (const space of spaces) {
    const reached = new Set<number>();
    const queue = space.producers.flatMap((p) => index.nodes[p].output);
    const seenTensors = new Set<string>(queue);
    while (queue.length > 0) {
      const tensor = queue.pop()!;
      for (const node of index.consumers.get(tensor) ?? []) {
        if (reached.has(node)) continue;
        reached.add(node);
        for (const out of index.nodes[node].output) if (!seenTensors.has(out)) (seenTensors.add(out), queue.push(out));
      }
    }
    downstream.set(space.id, reached);
  }
  const level = new Map<number, number>();
  // Producers appear in topological order, so upstream spaces are levelled first.
  const ordered = [...spaces].sort((a, b) => Math.min(...a.producers) - Math.min(...b.producers));
  for (const space of ordered) {
    let l = 0;
    for (const other of ordered) {
      if (other === space || !level.has(other.id)) continue;
      if (space.producers.some((p) => downstream.get(other.id)!.has(p))) l = Math.max(l, level.get(other.id)! + 1);
    }
    level.set(space.id, l);
  }
  const levels: ChannelSpace[][] = [];
  for (const space of ordered) (levels[level.get(space.id)!] ??= []).push(space);
  return levels.filter(Boolean);
}
