import type { COMPRESSION_OPTIONS, ResolvedValues } from '../../api/option-table.ts';
import type { ReadOptions } from '../../data/read-options.ts';

/**
 * The flags compress and sweep share (addCompressionOptions in main.ts): how to compress (the
 * library's options, api/option-table.ts), the data, and where the results go.
 */
export type CompressionFlags = ReadOptions & ResolvedValues<typeof COMPRESSION_OPTIONS> & OutputFlags;

interface OutputFlags {
  calib: string;
  eval?: string;
  labels?: string;
  stats?: string;
  saveStats?: string;
  json?: string;
  html?: string;
  force?: boolean;
  quiet?: boolean;
}
