import { prepareRun } from '../../api/compress.ts';
import type { COMPRESSION_OPTIONS, ResolvedValues } from '../../api/option-table.ts';
import type { ReadOptions } from '../../data/read-options.ts';
import { checkOutputPath, readModel } from '../../io/files.ts';
import { mergeStatisticsFiles, saveStatistics } from '../../io/statistics-file.ts';
import { inputSpecs } from '../../onnx/shapes.ts';
import { terminalProgress } from '../progress-bar.ts';
import { readRunData } from '../run-data.ts';

type AnalysisOptions = Pick<
  ResolvedValues<typeof COMPRESSION_OPTIONS>,
  'mode' | 'skip' | 'keepCoupled' | 'maskInput' | 'batchSize'
>;

export interface StatsFlags extends ReadOptions, AnalysisOptions {
  calib: string;
  output: string;
  force?: boolean;
  quiet?: boolean;
}

/** The statistics pass alone, saved: one shard of a calibration set, say, to merge with the others. */
export async function statsCommand(path: string, flags: StatsFlags, version: string): Promise<void> {
  checkOutputPath(flags.output, [path], Boolean(flags.force));
  const loaded = readModel(path);
  const { calibration } = await readRunData(path, inputSpecs(loaded.model), flags);
  const progress = terminalProgress(flags.quiet);
  // A shard's sample count says nothing of the whole set's, which decides mirror images and which
  // spaces have rows enough: no mirror images, every space measured.
  const prepared = await prepareRun(loaded, calibration, {
    ...flags,
    augment: 'none',
    shard: true,
    progress,
    version,
    date: new Date(),
  });
  await saveStatistics(flags.output, prepared, loaded.bytes, flags, version);
  const seconds = prepared.timings.statistics?.toFixed(2);
  if (!flags.quiet) console.log(`wrote ${flags.output}: statistics of ${calibration.count} samples in ${seconds} s`);
}

/** Statistics files of disjoint shards of the calibration data, merged into the file of the whole set. */
export async function mergeStatsCommand(paths: string[], flags: { output: string; force?: boolean }): Promise<void> {
  checkOutputPath(flags.output, paths, Boolean(flags.force));
  const { samples } = mergeStatisticsFiles(paths, flags.output);
  console.log(`wrote ${flags.output}: statistics of ${samples} samples from ${paths.length} files`);
}
