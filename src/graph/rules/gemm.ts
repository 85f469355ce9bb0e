import { intAttr } from '../../onnx/graph-index.ts';
import { registerRule } from '../registry.ts';
import type { ConstantSlice } from '../types.ts';
import { block, nodeAt, perChannel } from './helpers.ts';

/** Gemm Y = op(A)·op(B) + C with constant B: produces N channels and absorbs A's feature axis. */
registerRule('Gemm', {
  produce(ctx, i) {
    const node = nodeAt(ctx, i);
    const b = ctx.constantDims(node.input[1]);
    if (b?.length !== 2) return null;
    const transB = intAttr(node, 'transB', 0) === 1;
    const channels = transB ? b[0] : b[1];
    const slices: ConstantSlice[] = [{ node: i, input: 1, axis: transB ? 0 : 1, block: 1 }];
    const c = node.input[2];
    if (c) {
      const cDims = ctx.constantDims(c);
      if (!cDims) return null;
      if (cDims.length > 0 && cDims[cDims.length - 1] === channels) {
        slices.push({ node: i, input: 2, axis: cDims.length - 1, block: 1 });
      } else if (cDims.some((d) => d !== 1)) {
        return null;
      }
    }
    return { output: node.output[0], layout: { axis: 1, block: 1 }, channels, slices };
  },
  visit(ctx, arrival) {
    const node = nodeAt(ctx, arrival);
    if (arrival.input !== 0) return block('Gemm reads the channels as its B or C operand');
    if (intAttr(node, 'transA', 0) !== 0) return block('Gemm with transA reads channels on its row axis');
    if (!ctx.constant(node.input[1])) return block('Gemm weight is computed at run time');
    if (arrival.layout.axis !== 1) return block('Gemm input channels are not on the feature axis');
    const transB = intAttr(node, 'transB', 0) === 1;
    return { kind: 'consume', weight: perChannel(arrival, 1, transB ? 1 : 0) };
  },
});
