import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import type { Prepared, Statistics } from '../compress/prepare.ts';
import { decodeStatistics, encodeStatistics, type StatisticsOrigin } from '../compress/statistics-format.ts';
import { mergeStatistics } from '../compress/statistics-merge.ts';
import { IdpruneError } from '../errors.ts';
import { readBytes, writeAtomic } from './files.ts';

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sha256Bytes = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());

/** Statistics saved by `--save-stats`, refused for a model other than the one they were made for. */
export function loadStatistics(path: string, model: Uint8Array, samples: number): Statistics {
  const { statistics, origin } = decodeStatistics(readBytes(path, 'statistics file'), path, sha256Bytes);
  if (origin.modelSha256 !== sha256(model)) {
    throw new IdpruneError(
      `statistics file ${path} was made for another model ` +
        `(SHA-256 ${origin.modelSha256.slice(0, 12)}…, this one ${sha256(model).slice(0, 12)}…)`,
    );
  }
  if (origin.data.samples !== samples) {
    throw new IdpruneError(
      `statistics file ${path} was made from ${origin.data.samples} samples of ${origin.data.source}; ` +
        `the calibration data has ${samples}`,
    );
  }
  // A latency model describes the machine it was measured on: elsewhere it is measured again.
  return { ...statistics, latencyModels: statistics.latencyModels?.filter((m) => m.machine === thisMachine()) };
}

/** The processor and core count: the machine a latency model was measured on. */
function thisMachine(): string {
  const cores = cpus();
  return `${cores[0]?.model ?? 'unknown processor'} × ${cores.length}`;
}

/**
 * What was prepared, saved with where it came from: the model's hash, the data, the options that
 * shape it; with the latency models measured so far, tagged with this machine.
 */
export async function saveStatistics(
  path: string,
  prepared: Prepared,
  model: Uint8Array,
  run: { calib: string; mode: string; skip: string[]; keepCoupled?: boolean; maskInput?: string },
  version: string,
): Promise<void> {
  const latencyModels = (await Promise.all(prepared.latencyModels.values())).map((model) => ({
    machine: thisMachine(),
    model,
  }));
  const origin: StatisticsOrigin = {
    modelSha256: sha256(model),
    data: { source: run.calib, samples: prepared.calibration.count },
    options: { mode: run.mode, skip: run.skip, keepCoupled: run.keepCoupled, maskInput: run.maskInput },
    tool: `idprune ${version}`,
  };
  writeAtomic(
    path,
    encodeStatistics(
      {
        ...prepared.statistics,
        curves: prepared.sensitivity.known,
        latencyModels: latencyModels.length > 0 ? latencyModels : undefined,
      },
      origin,
      sha256Bytes,
    ),
  );
}

/** Statistics files of disjoint shards of the calibration data merged into one file (see mergeStatistics). */
export function mergeStatisticsFiles(paths: readonly string[], output: string): { samples: number } {
  const parts = paths.map((path) => ({
    source: path,
    ...decodeStatistics(readBytes(path, 'statistics file'), path, sha256Bytes),
  }));
  const { statistics, origin } = mergeStatistics(parts);
  writeAtomic(output, encodeStatistics(statistics, origin, sha256Bytes));
  return { samples: origin.data.samples };
}
