import type { Matrix } from '../linalg/matrix.ts';
import { transpose } from '../linalg/matrix.ts';
import { solveSymmetric } from '../linalg/solve.ts';

/**
 * A Conv weight [O, k, kernel…] refitted to read only the kept channels: over their
 * receptive-field features P in the pruned network, W'ᵀ = (PᵀP)⁻¹ PᵀY, the least-squares fit of
 * the target Y (the original layer's output, plus at a residual block's end the other operand's
 * deviation from the original network).
 */
export function refitConvWeight(outputs: number, kernel: readonly number[], kept: number, pp: Matrix, pt: Matrix, ridge: number): { dims: number[]; data: Float64Array } {
  const solved = solveSymmetric(pp, pt, ridge);
  return { dims: [outputs, kept, ...kernel], data: transpose(solved).data };
}
