import { loadData } from '../api/data.ts';
import type { ReadOptions } from '../data/read-options.ts';
import { IdpruneError } from '../errors.ts';
import type { InputSpec } from '../onnx/shapes.ts';
import { readLabels } from '../io/files.ts';
import { terminalProgress } from './progress-bar.ts';

/**
 * The data compress and sweep take: calibration samples, and held-out samples with their labels
 * where given, all read and checked against the model's inputs before any long work starts.
 */
export async function readRunData(
  modelPath: string,
  inputs: readonly InputSpec[],
  flags: ReadOptions & { calib: string; eval?: string; labels?: string; quiet?: boolean },
) {
  const read = { ...flags, modelPath };
  const calibration = await loadData(flags.calib, inputs, 'calibration data', read, terminalProgress(flags.quiet));
  const evaluation = flags.eval
    ? await loadData(flags.eval, inputs, 'evaluation data', read, terminalProgress(flags.quiet))
    : undefined;
  const labels = flags.labels ? readLabels(flags.labels) : undefined;
  if (evaluation && labels && labels.length < evaluation.count) {
    throw new IdpruneError(`labels ${flags.labels} hold ${labels.length} entries for ${evaluation.count} samples`);
  }
  return { calibration, evaluation, labels };
}
