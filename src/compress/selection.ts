import { addInPlace, type Matrix, trace, zeros } from '../linalg/matrix.ts';
import { pivotedBlockCholesky } from '../linalg/block-pivoting.ts';
import { pivotedCholesky } from '../linalg/pivoted-cholesky.ts';

/** A space's channels ranked by pivoted Cholesky, with the error of keeping each prefix. */
export interface ChannelRanking {
  order: number[];
  /** relativeError[k]: ‖Z − Z_S T‖²_F / ‖Z‖²_F when keeping the first k of `order`; length C + 1. */
  relativeError: Float64Array;
  rank: number;
}

/**
 * Ranks channels on all read points of a space together: their Gram matrices are summed after
 * scaling each to unit trace, so that no read point dominates by its magnitude alone. Channels that
 * are units of several neurons (Gram matrices over neurons) are ranked as blocks.
 */
export function rankChannels(grams: readonly Matrix[], unit = 1): ChannelRanking {
  const n = grams[0].rows;
  const combined = zeros(n, n);
  for (const g of grams) {
    const t = trace(g);
    if (t > 0) addInPlace(combined, g, 1 / t);
  }
  const { order, residual, rank } = unit === 1 ? pivotedCholesky(combined) : pivotedBlockCholesky(combined, unit);
  const total = residual[0];
  const relativeError = residual.map((r) => (total > 0 ? r / total : 0));
  return { order, relativeError, rank };
}
