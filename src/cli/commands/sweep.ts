import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compressPreparedWithReport, prepareRun } from '../../api/compress.ts';
import { heldOutEstimator } from '../../api/held-out.ts';
import { IdpruneError } from '../../errors.ts';
import { inputSpecs } from '../../onnx/shapes.ts';
import { renderHtmlReport, type SweepPoint } from '../../report/html/render.ts';
import type { CompressionReport } from '../../report/report.ts';
import { percent, sweepCells, table } from '../../report/text.ts';
import { checkOutputPath, readModel, writeAtomic, writeModel } from '../../io/files.ts';
import { readRunData } from '../run-data.ts';
import { terminalProgress } from '../progress-bar.ts';
import { loadStatistics, saveStatistics } from '../../io/statistics-file.ts';
import type { CompressionFlags } from './compression-flags.ts';

export interface SweepFlags extends CompressionFlags {
  targets: number[];
  keepModels?: string;
}

/** The trade-off in one run: the statistics once, then one compression per FLOPs target, each measured. */
export async function sweepCommand(path: string, flags: SweepFlags, version: string): Promise<void> {
  if (flags.labels && !flags.eval) throw new IdpruneError('--labels needs --eval data');
  for (const output of [flags.json, flags.html, flags.saveStats])
    if (output && output !== '-') checkOutputPath(output, [path], Boolean(flags.force));
  const { model, bytes, external } = readModel(path);
  const inputs = inputSpecs(model);
  const { calibration, evaluation, labels } = await readRunData(path, inputs, flags);
  const saved = flags.stats ? loadStatistics(flags.stats, bytes, calibration.count) : undefined;
  if (flags.keepModels) mkdirSync(flags.keepModels, { recursive: true });

  const progress = terminalProgress(flags.quiet);
  const date = new Date();
  const run = { ...flags, evaluation: evaluation && { dataset: evaluation, labels }, progress, version, date };
  const prepared = await prepareRun({ model, bytes, external }, calibration, run, saved);
  // One held-out split, prepared once, estimates every target.
  const estimator = flags.estimate ? heldOutEstimator({ model, bytes }, calibration, run) : undefined;
  const points: SweepPoint[] = [];
  const reports: CompressionReport[] = [];
  for (const target of [...flags.targets].sort((a, b) => b - a)) {
    const start = performance.now();
    const { result, report } = await compressPreparedWithReport(
      { model, bytes, external },
      prepared,
      { ...run, budget: { kind: 'flops', fraction: target } },
      { estimator },
    );
    const seconds = (performance.now() - start) / 1000;
    points.push({
      target,
      flops: report.after.flops / report.before.flops,
      params: report.after.params / report.before.params,
      agreement: report.evaluation?.agreement,
      estimated: report.estimate?.agreement,
      accuracy: report.evaluation?.accuracy?.candidate,
      cosine: report.evaluation?.cosine,
      deviation: report.evaluation?.relativeL2,
      latencyRatio: report.latency?.at(-1)?.ratio,
      seconds,
    });
    reports.push(report);
    if (flags.keepModels)
      writeModel(join(flags.keepModels, `${basename(path, '.onnx')}-flops${target}.onnx`), result.model, external);
    if (!flags.quiet) console.error(`target ${target}: ${describePoint(points.at(-1)!)}`);
  }
  if (flags.saveStats) await saveStatistics(flags.saveStats, prepared, bytes, flags, version);

  const summary = {
    model: path,
    calibration: { source: flags.calib, samples: calibration.count },
    prepareSeconds: prepared.timings,
    points,
    reports,
  };
  if (flags.json === '-') console.log(JSON.stringify(summary, null, 2));
  else if (!flags.quiet) console.log(formatSweep(points));
  if (flags.json && flags.json !== '-') writeAtomic(flags.json, `${JSON.stringify(summary, null, 2)}\n`);
  if (flags.html) {
    const last = reports.length - 1;
    writeAtomic(
      flags.html,
      renderHtmlReport({
        title: `idprune sweep: ${basename(path)}`,
        report: reports[last],
        sweep: points,
        chosen: last,
        model: { path, inputs },
        data: { calibration: flags.calib, evaluation: flags.eval, labels: flags.labels },
      }),
    );
    if (flags.json !== '-' && !flags.quiet) console.log(`wrote ${flags.html}`);
  }
}

function describePoint(p: SweepPoint): string {
  const parts = [`FLOPs ${percent(p.flops)}`, `parameters ${percent(p.params)}`];
  if (p.agreement !== undefined) parts.push(`agreement ${percent(p.agreement, 2)}`);
  if (p.estimated !== undefined) parts.push(`estimated ${percent(p.estimated, 2)}`);
  parts.push(`${p.seconds.toFixed(1)} s`);
  return parts.join(', ');
}

function formatSweep(points: readonly SweepPoint[]): string {
  return table(
    ['target', 'FLOPs', 'params', 'agreement', 'estimated', 'accuracy', 'cosine', 'latency', 'seconds'],
    points.map((p) => {
      const c = sweepCells(p, '-');
      return [c.target, c.flops, c.params, c.agreement, c.estimated, c.accuracy, c.cosine, c.latency, c.seconds];
    }),
  );
}
