import type { Augment } from '../../calibrate/mirror.ts';
import type { OutputMetric } from '../../compress/output-error.ts';
import type { CorrectionMode } from '../../compress/options.ts';
import type { ReadOptions } from '../../data/read-options.ts';

/** The flags compress and sweep share (addCompressionOptions in main.ts): how to compress, and held-out data. */
export interface CompressionFlags extends ReadOptions {
  calib: string;
  mode: CorrectionMode;
  skip: string[];
  keepCoupled?: boolean;
  allocation?: 'measured' | 'estimated';
  metric?: OutputMetric;
  augment?: Augment;
  estimate?: boolean;
  maskInput?: string;
  batchSize: number;
  eval?: string;
  labels?: string;
  stats?: string;
  saveStats?: string;
  json?: string;
  html?: string;
  force?: boolean;
  quiet?: boolean;
}
