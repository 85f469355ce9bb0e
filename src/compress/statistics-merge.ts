import { IdpruneError } from '../errors.ts';
import type { Matrix } from '../linalg/matrix.ts';
import type { Statistics } from './prepare.ts';
import type { StatisticsOrigin } from './statistics-format.ts';

/** One statistics file as decoded: where it came from and what it holds. */
export interface StatisticsPart {
  source: string;
  statistics: Statistics;
  origin: StatisticsOrigin;
}

/**
 * The statistics of the calibration data of every part together: the Gram matrices are sums over
 * samples, so those of disjoint shards add up to the whole set's. Rankings and measured curves are
 * left out: they do not add up, and `prepareCompression` ranks from the merged Gram matrices. The
 * parts must come from the same model, options and tool.
 */
export function mergeStatistics(parts: readonly StatisticsPart[]): {
  statistics: Statistics;
  origin: StatisticsOrigin;
} {
  if (parts.length < 2) throw new IdpruneError('merging statistics needs two files or more');
  const [first, ...rest] = parts;
  const same = (part: StatisticsPart, what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b))
      throw new IdpruneError(`${part.source} was made ${what} than ${first.source}; statistics cannot be merged`);
  };
  for (const part of rest) {
    same(part, 'for another model', part.origin.modelSha256, first.origin.modelSha256);
    same(part, 'with other options', part.origin.options, first.origin.options);
    same(part, 'by another idprune', part.origin.tool, first.origin.tool);
  }
  const grams = new Map<string, Matrix>();
  for (const [key, gram] of first.statistics.grams) grams.set(key, { ...gram, data: Float64Array.from(gram.data) });
  for (const part of rest) {
    if (part.statistics.grams.size !== grams.size)
      throw new IdpruneError(`${part.source} holds other statistics than ${first.source}`);
    for (const [key, gram] of part.statistics.grams) {
      const sum = grams.get(key);
      if (!sum || sum.rows !== gram.rows || sum.cols !== gram.cols)
        throw new IdpruneError(`${part.source} holds other statistics than ${first.source} ("${key}")`);
      for (let i = 0; i < sum.data.length; i++) sum.data[i] += gram.data[i];
    }
  }
  const samples = parts.reduce((total, part) => total + part.origin.data.samples, 0);
  const sources = parts.map((part) => part.origin.data.source).join(', ');
  return {
    statistics: { grams, rankings: new Map() },
    origin: { ...first.origin, data: { source: `${parts.length} shards: ${sources}`, samples } },
  };
}
