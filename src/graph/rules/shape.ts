import { type GraphIndex, intAttr } from '../../onnx/graph-index.ts';
import { readIntTensor } from '../../onnx/tensor.ts';
import { registerRule } from '../registry.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/**
 * Ops that carry a size read by Shape → Gather into a shape operand, as exporters write it
 * (PyTorch's expand flattens the shape by Reshape and replaces -1 entries: Equal → Where).
 */
const SIZE_ARITHMETIC = new Set(['Unsqueeze', 'Squeeze', 'Cast', 'Mul', 'Concat', 'Identity', 'Equal', 'Where']);
/** How far back a Reshape's or Expand's data may be from the tensor whose size it was given. */
const DERIVED_DEPTH = 6;

/**
 * Shape of a tensor holding the space: harmless when its only readers are Gathers of single sizes
 * other than the channel count (batch and token counts in PyTorch exports). The channel count
 * itself may be read where it only goes, by size arithmetic, into the shape of a Reshape or Expand
 * of a tensor computed from the same one (grouped-query attention's repeat_kv, which multiplies it
 * by the group size): there the rules of those ops check the shape, and the size read at run time
 * is the pruned one. Any other computation would no longer match the pruned tensor.
 */
registerRule('Shape', {
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    const rank = rankOf(ctx, arrival.tensor) ?? 0;
    const start = intAttr(node, 'start', 0);
    const channelEntry = arrival.layout.axis - (start < 0 ? start + rank : start);
    for (const reader of ctx.index.consumers.get(node.output[0]) ?? []) {
      const gather = ctx.index.nodes[reader];
      const indices =
        gather.opType === 'Gather' && gather.input[0] === node.output[0]
          ? ctx.index.constants.get(gather.input[1])
          : undefined;
      const picked = indices ? readIntTensor(indices) : undefined;
      if (!picked) return block('Shape: the channel count is used in a computation at run time');
      const readsChannels = picked.some((i) => i === channelEntry || i === channelEntry - rank);
      if (readsChannels && !onlyShapesOfDerived(ctx.index, gather.output[0], arrival.tensor))
        return block('Shape: the channel count is used in a computation at run time');
    }
    if (ctx.index.graphOutputs.has(node.output[0])) return block('Shape: the channel count is a model output');
    return { kind: 'pass', outputs: [] };
  },
});

/** Whether `size` reaches only shape operands of Reshapes and Expands whose data comes from `source`. */
function onlyShapesOfDerived(index: GraphIndex, size: string, source: string): boolean {
  const seen = new Set<string>();
  const follow = (tensor: string): boolean => {
    if (seen.has(tensor)) return true;
    seen.add(tensor);
    if (index.graphOutputs.has(tensor)) return false;
    return (index.consumers.get(tensor) ?? []).every((i) => {
      const node = index.nodes[i];
      if (node.domain !== '') return false;
      if (node.opType === 'Shape') return true;
      if ((node.opType === 'Reshape' || node.opType === 'Expand') && node.input[1] === tensor)
        return node.input[0] !== tensor && derivedFrom(index, node.input[0], source);
      if (!SIZE_ARITHMETIC.has(node.opType) && node.opType !== 'Reshape') return false;
      const others = node.input.filter((name) => name && name !== tensor);
      if (node.opType === 'Mul' && !others.every((name) => index.constants.has(name))) return false;
      return follow(node.output[0]);
    });
  };
  return follow(size);
}

function derivedFrom(index: GraphIndex, tensor: string, source: string): boolean {
  let frontier = [tensor];
  for (let depth = 0; depth <= DERIVED_DEPTH && frontier.length > 0; depth++) {
    if (frontier.includes(source)) return true;
    frontier = frontier.flatMap((name) => {
      const producer = index.producer.get(name);
      return producer === undefined ? [] : index.nodes[producer].input.filter(Boolean);
    });
  }
  return false;
}
