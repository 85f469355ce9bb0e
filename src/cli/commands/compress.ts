import { basename, resolve } from 'node:path';
import {
  budgetOf,
  compressPreparedWithReport,
  type CompressTargets,
  heldOutTargetOf,
  prepareRun,
} from '../../api/compress.ts';
import { IdpruneError } from '../../errors.ts';
import { inputSpecs } from '../../onnx/shapes.ts';
import { renderHtmlReport } from '../../report/html/render.ts';
import { formatCompression } from '../../report/text.ts';
import { checkOutputPath, externalDataPath, readModel, writeAtomic, writeModel } from '../../io/files.ts';
import { readRunData } from '../run-data.ts';
import { terminalProgress } from '../progress-bar.ts';
import { loadStatistics, saveStatistics } from '../../io/statistics-file.ts';
import type { CompressionFlags } from './compression-flags.ts';

export interface CompressFlags extends CompressionFlags, CompressTargets {
  output: string;
  minAgreement?: number;
}

export async function compressCommand(path: string, flags: CompressFlags, version: string): Promise<void> {
  const budget = budgetOf(flags);
  if (flags.minAgreement !== undefined && !flags.eval) throw new IdpruneError('--min-agreement needs --eval data');
  if (flags.labels && !flags.eval) throw new IdpruneError('--labels needs --eval data');
  checkOutputPath(flags.output, [path], Boolean(flags.force));
  if (flags.json && flags.json !== '-') checkOutputPath(flags.json, [path], true);
  if (flags.saveStats) checkOutputPath(flags.saveStats, [path], Boolean(flags.force));
  if (flags.html && resolve(flags.html) === resolve(flags.output))
    throw new IdpruneError('--html and --output name the same file');
  if (flags.html) checkOutputPath(flags.html, [path], Boolean(flags.force));
  const { model, bytes: original, external } = readModel(path);
  if (external) checkOutputPath(externalDataPath(flags.output), [path], Boolean(flags.force));
  const inputs = inputSpecs(model);
  // Every input is read and checked before the long work starts.
  const { calibration, evaluation, labels } = await readRunData(path, inputs, flags);
  const saved = flags.stats ? loadStatistics(flags.stats, original, calibration.count) : undefined;
  const progress = terminalProgress(flags.quiet);
  const date = new Date();

  const loaded = { model, bytes: original, external };
  const run = {
    ...flags,
    budget,
    heldOutTarget: heldOutTargetOf(flags),
    evaluation: evaluation && { dataset: evaluation, labels },
    progress,
    version,
    date,
  };
  const prepared = await prepareRun(loaded, calibration, run, saved);
  const { result, report } = await compressPreparedWithReport(loaded, prepared, run, { lastUse: !flags.saveStats });
  if (flags.saveStats) await saveStatistics(flags.saveStats, prepared, original, flags, version);

  // With --json -, stdout holds the JSON alone; the table and file notes go to stderr.
  const log = flags.quiet ? () => {} : flags.json === '-' ? console.error : console.log;
  log(formatCompression(report));
  if (flags.json === '-') console.log(JSON.stringify(report, null, 2));
  else if (flags.json) writeAtomic(flags.json, `${JSON.stringify(report, null, 2)}\n`);
  if (flags.minAgreement !== undefined && report.evaluation!.agreement < flags.minAgreement) {
    throw new IdpruneError(
      `agreement ${(100 * report.evaluation!.agreement).toFixed(2)}% is below ` +
        `--min-agreement ${(100 * flags.minAgreement).toFixed(2)}%; no model written`,
    );
  }
  writeModel(flags.output, result.model, external);
  log(`\nwrote ${flags.output}`);
  if (flags.html) {
    const data = { calibration: flags.calib, evaluation: flags.eval, labels: flags.labels };
    writeAtomic(
      flags.html,
      renderHtmlReport({ title: `idprune report: ${basename(path)}`, report, model: { path, inputs }, data }),
    );
    log(`wrote ${flags.html}`);
  }
}
