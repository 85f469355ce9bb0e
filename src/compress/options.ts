import type { LatencyMeter } from '../onnx/latency.ts';
import type { Augment } from '../calibrate/mirror.ts';
import type { Progress } from '../progress.ts';
import type { Budget } from './allocate.ts';
import type { OutputMetric } from './output-error.ts';

export const CORRECTION_MODES = ['corrected', 'plain'] as const;
export type CorrectionMode = (typeof CORRECTION_MODES)[number];

export const ALLOCATIONS = ['measured', 'estimated'] as const;
export type Allocation = (typeof ALLOCATIONS)[number];

/** Samples per inference batch unless told (a model's fixed batch size wins). */
export const DEFAULT_BATCH_SIZE = 64;

export interface CompressOptions {
  budget: Budget;
  /**
   * 'corrected' (default) fits each consumer against the original network given the pruned
   * upstream, level by level (see correction.ts); 'plain' interpolates from the first pass.
   */
  mode?: CorrectionMode;
  /**
   * Kept neuron counts are multiples of this. Default: 8 (ONNX Runtime's convolutions and matrix
   * products run much faster on such counts), or 1 where multiples of 8 cannot meet the target and
   * for a fixed fraction per space (a 'keep' budget).
   */
  roundTo?: number;
  minKeep?: number;
  skip?: string[];
  /**
   * Leave coupled spaces (residual streams, gated branches) intact. Default: in the plain mode,
   * which cannot correct them (the ResNet fixture at 0.5 FLOPs fell to 68% agreement with them pruned).
   */
  keepCoupled?: boolean;
  batchSize?: number;
  /**
   * 'measured': per-layer sizes chosen by the measured error of the model's outputs with each space
   * pruned alone to a few sizes (several extra inference passes on part of the data); 'estimated':
   * by the spaces' own reconstruction errors, from the statistics pass alone. Default: measured in
   * the corrected mode, estimated in the (fast) plain mode.
   */
  allocation?: Allocation;
  /**
   * How the measured allocation reads the model's outputs (output-error.ts): 'auto' (default)
   * measures Softmax, LogSoftmax and Sigmoid outputs by their decisions and the others by relative
   * L2; 'decisions' reads every other output as class scores along its last axis too.
   */
  metric?: OutputMetric;
  /** The input marking padding tokens with 0 (default: an input named attention_mask). */
  maskInput?: string;
  /** Mirrored copies of calibration images: 'auto' (default) where images are fewer than 128 (see mirror.ts). */
  augment?: Augment;
  progress?: Progress;
  /** Recorded in the output model's metadata. */
  version?: string;
  date?: Date;
}

/** The options that shape what is learnt from the model and data, whatever the budget. */
export type PrepareOptions = Omit<CompressOptions, 'budget' | 'roundTo' | 'minKeep' | 'version' | 'date'> & {
  /**
   * The data is one shard of a calibration set whose statistics will be merged (`idprune stats`):
   * every space is measured, even one this shard alone has too few rows for; the compression that
   * reads the merged statistics judges that on the whole set.
   */
  shard?: boolean;
};

/** The options of one budget applied to a prepared model. */
export type BudgetOptions = Pick<CompressOptions, 'budget' | 'roundTo' | 'minKeep' | 'version' | 'date'> & {
  /**
   * The prepared statistics are not read again (no other budget, no saving): their Gram matrices
   * are let go once the plain decisions are made (a gigabyte for a BERT-base-sized encoder).
   */
  lastUse?: boolean;
  /**
   * The channels each space keeps (sorted), instead of the allocation and the ranking: another
   * selection at the same sizes gets the same interpolation and refits (the benchmarks' peers).
   */
  keep?: ReadonlyMap<number, readonly number[]>;
  /** What times the sizes of a latency target (default: the runtime's own measureLatency). */
  latencyMeter?: LatencyMeter;
};
