import { intAttr, intsAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import type { ConstantSlice, Visit } from '../types.ts';
import { block, nodeAt, rankOf } from './helpers.ts';

/*
 * The fused attention ops of ONNX Runtime's com.microsoft domain (written by its transformer
 * optimizer). Their heads are channels of head_size neurons, like those of an attention written
 * out; the num_heads attribute follows the kept heads.
 */

const MICROSOFT = 'com.microsoft';

/**
 * MultiHeadAttention(query, key, value, bias?, …) on projected Q, K, V [batch, tokens, hidden]:
 * the three inputs join into one space of heads, which the output [batch, tokens, hidden_v] carries
 * on to the output projection. Packed or cross-attention layouts are left intact.
 */
registerRule(
  'MultiHeadAttention',
  {
    visit(ctx, arrival) {
      const node = nodeAt(ctx, arrival);
      if (arrival.input > 2) return block('the channels arrive as an attention mask or bias');
      const [query, key, value] = node.input;
      if (!key || !value || rankOf(ctx, query) !== 3 || rankOf(ctx, key) !== 3 || rankOf(ctx, value) !== 3) {
        return block('MultiHeadAttention with packed Q/K/V or a key/value cache');
      }
      if (node.output.slice(1).some((name) => name && ctx.index.consumers.has(name)))
        return block('MultiHeadAttention returns a key/value cache');
      const heads = intAttr(node, 'num_heads', 0);
      const visit = headsOf(ctx, arrival.tensor, arrival.layout, heads);
      if (visit) return visit;
      const hidden = ctx.shapes.get(query)![2];
      const slices: ConstantSlice[] = [];
      if (node.input[3]) {
        if (!ctx.constant(node.input[3])) return block('MultiHeadAttention bias is computed at run time');
        slices.push({
          node: arrival.node,
          input: 3,
          axis: 0,
          block: arrival.layout.block,
          offset: arrival.input * hidden,
        });
      }
      return {
        kind: 'pass',
        outputs: [{ name: node.output[0], layout: arrival.layout }],
        slices,
        shapeEntries: [{ node: arrival.node, input: -1, attribute: 'num_heads', position: 0, block: 1 }],
        sameSpace: [query, key, value].filter((name) => name !== arrival.tensor),
      };
    },
  },
  MICROSOFT,
);

/**
 * Attention(input, weights [in, 3·hidden], bias [3·hidden], …): Q, K and V projections packed in
 * one weight, heads of hidden / num_heads neurons; its output [batch, tokens, hidden] goes on to
 * the output projection.
 */
registerRule(
  'Attention',
  {
    produce(ctx, i) {
      const node = nodeAt(ctx, i);
      const weights = ctx.constantDims(node.input[1]);
      const heads = intAttr(node, 'num_heads', 0);
      if (weights?.length !== 2 || heads < 1 || intsAttr(node, 'qkv_hidden_sizes')) return null;
      if (node.input[2] && !ctx.constant(node.input[2])) return null;
      if (node.output.slice(1).some((name) => name && ctx.index.consumers.has(name))) return null;
      const hidden = weights[1] / 3;
      const headSize = hidden / heads;
      if (!Number.isInteger(headSize)) return null;
      const slices: ConstantSlice[] = [0, 1, 2].flatMap((part) => [
        { node: i, input: 1, axis: 1, block: headSize, offset: part * hidden },
        ...(node.input[2] ? [{ node: i, input: 2, axis: 0, block: headSize, offset: part * hidden }] : []),
      ]);
      return {
        output: node.output[0],
        layout: { axis: 2, block: headSize },
        channels: heads,
        unit: headSize,
        slices,
        shapeEntries: [{ node: i, input: -1, attribute: 'num_heads', position: 0, block: 1 }],
      };
    },
    visit: () => block('Attention reads these channels as its input (its heads are a space of their own)'),
  },
  MICROSOFT,
);

/** The arriving channels as heads: undefined when they already are, else a regroup or a reason. */
function headsOf(
  ctx: Parameters<typeof rankOf>[0],
  tensor: string,
  layout: { axis: number; block: number; offset?: number },
  heads: number,
): Visit | undefined {
  const hidden = ctx.shapes.get(tensor)?.[2];
  if (!hidden || heads < 1 || layout.axis !== 2 || (layout.offset ?? 0) !== 0)
    return block('attention input channels are not the last axis of [batch, tokens, hidden]');
  const headSize = hidden / heads;
  if (layout.block === headSize) return undefined;
  if (Number.isInteger(headSize) && headSize % layout.block === 0)
    return { kind: 'regroup', unit: headSize / layout.block };
  return block(`attention heads of ${headSize} entries do not hold whole channels of ${layout.block}`);
}
