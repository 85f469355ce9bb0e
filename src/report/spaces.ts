import type { Analysis } from '../graph/analysis.ts';
import type { ChannelSpace } from '../graph/types.ts';
import { nodeLabel } from '../onnx/graph-index.ts';

export interface SpaceSummary {
  id: number;
  producers: string[];
  consumers: string[];
  channels: number;
  /** Share of the model's FLOPs in the layers writing, reading or filtering this space. */
  flopsShare: number;
  prunable: boolean;
  reason?: string;
}

export function summarizeSpace(analysis: Analysis, space: ChannelSpace): SpaceSummary {
  const layers = new Set([...space.producers, ...space.channelwise, ...space.consumers.map((c) => c.node)]);
  const flops = analysis.cost.flops
    .filter((t) => t.node !== undefined && layers.has(t.node))
    .reduce((sum, t) => sum + t.value, 0);
  return {
    id: space.id,
    producers: space.producers.map((n) => nodeLabel(analysis.index, n)),
    consumers: space.consumers.map((c) => nodeLabel(analysis.index, c.node)),
    channels: space.channels,
    flopsShare: analysis.flops > 0 ? flops / analysis.flops : 0,
    prunable: space.prunable,
    reason: space.reason,
  };
}
