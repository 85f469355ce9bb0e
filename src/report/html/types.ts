import type { InputSpec } from '../../onnx/shapes.ts';
import type { CompressionReport } from '../report.ts';

/** One compression of a sweep; `flops` and `params` are fractions of the original model's. */
export interface SweepPoint {
  target: number;
  flops: number;
  params: number;
  agreement?: number;
  /** With --estimate: the agreement on held-out calibration samples (see HeldOutEstimate). */
  estimated?: number;
  accuracy?: number;
  cosine?: number;
  deviation?: number;
  latencyRatio?: number;
  seconds: number;
}

export interface HtmlReportInput {
  title: string;
  /** For a sweep, the report of the chosen (or last) point. */
  report: CompressionReport;
  sweep?: SweepPoint[];
  /** Index into `sweep` of the point chosen. */
  chosen?: number;
  /** The model, where the caller knows it: the report itself does not name it. */
  model?: { path?: string; inputs?: readonly InputSpec[] };
  /** Where the calibration and evaluation data came from. */
  data?: { calibration?: string; evaluation?: string; labels?: string };
}
