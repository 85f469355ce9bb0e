// npm run bench:latency: FLOPs targets against latency targets, measured as latency at batch 1 and 64.
// Every fixture (in this process) and the corpus models of CORPUS_MODELS (each in a worker process,
// bench/real-worker.ts) are compressed to 0.9 / 0.7 / 0.5 / 0.3 of their FLOPs and to 0.6 of their latency
// at batch 1 and at batch 64 (--target-latency); each compressed model's latency ratio is measured
// twice at both batch sizes, with its interquartile range. Writes bench/latency.md and bench/latency.json.
//
// Usage: tsx bench/latency.ts [--models a,b] [--budget-s S (per corpus model, default 1500)] [--render]
// (--render rewrites bench/latency.md from bench/latency.json; models not run keep their earlier results)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { makeDataset } from '../src/calibrate/dataset.ts';
import type { Budget } from '../src/compress/allocate.ts';
import { compressPrepared } from '../src/compress/pipeline.ts';
import { prepareCompression } from '../src/compress/prepare.ts';
import { compareModels } from '../src/evaluate/compare.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
import { analyzeForData } from '../src/api/analyze.ts';
import {
  CNN_FIXTURES,
  type Fixture,
  loadCalibration,
  loadHeldout,
  loadModel,
  TRANSFORMER_FIXTURES,
} from './fixtures.ts';
import { type BatchLatency, latencyAtBatches, summarizeSearch } from './latency-measure.ts';
import { manifestEntry, modelPath } from './real-corpus.ts';
import type { WorkerOptions } from './real-worker.ts';
import { commit, option } from './run-info.ts';
import { runWorker } from './worker-process.ts';

const FIXTURES: Fixture[] = [...CNN_FIXTURES, ...TRANSFORMER_FIXTURES];
/** Corpus models a few minutes each can compress five times (the OCR and matting models take far longer). */
const CORPUS_MODELS = [
  'fr_detect',
  'fr_feature',
  'fr_liveness',
  'fr_expression',
  'fr_pose',
  'fr_landmark',
  'fr_eye',
  'fr_gender',
  'fr_age',
  'detypify',
  'ocr_cls',
  'oww_embedding',
];
/** Latency at batch 1 and at this batch (a model's fixed batch size wins). */
const LARGE_BATCH = 64;
const BATCHES = [1, LARGE_BATCH];
const LATENCY_TARGET = 0.6;
const TARGETS: WorkerOptions['targets'] = [
  { label: 'FLOPs 0.9', fraction: 0.9, split: 'calib' },
  { label: 'FLOPs 0.7', fraction: 0.7, split: 'calib' },
  { label: 'FLOPs 0.5', fraction: 0.5, split: 'calib' },
  { label: 'FLOPs 0.3', fraction: 0.3, split: 'calib' },
  ...BATCHES.map((batch) => ({
    label: `latency ${LATENCY_TARGET} at batch ${batch}`,
    fraction: LATENCY_TARGET,
    split: 'calib' as const,
    latencyBatch: batch,
  })),
];

interface Row {
  label: string;
  latencyBatch?: number;
  flops?: number;
  metric?: { name: string; value: number; text: string };
  latency?: BatchLatency[];
  latencySearch?: ReturnType<typeof summarizeSearch>;
  compressSeconds?: number;
  error?: string;
}

interface ModelResult {
  model: string;
  rows: Row[];
  failure?: string;
  /** The commit the model was measured at (models not run this time keep their earlier results). */
  commit?: string;
}

async function fixtureResult(fixture: Fixture): Promise<ModelResult> {
  const bytes = loadModel(fixture);
  const calibration = loadCalibration(fixture);
  const prepared = await prepareCompression(
    decodeModel(bytes),
    (a) => makeDataset(calibration, a.inputs, 'calib'),
    nodeRuntime,
    {},
  );
  const inputs = inputSpecs(prepared.model);
  const heldout = makeDataset(loadHeldout(fixture), inputs, 'heldout');
  const rows: Row[] = [];
  for (const target of TARGETS) {
    const budget: Budget = target.latencyBatch
      ? { kind: 'latency', fraction: target.fraction, batch: target.latencyBatch }
      : { kind: 'flops', fraction: target.fraction };
    const row: Row = { label: target.label, latencyBatch: target.latencyBatch };
    try {
      const start = performance.now();
      const result = await compressPrepared(prepared, { budget });
      row.compressSeconds = (performance.now() - start) / 1000;
      row.flops = (await analyzeForData(result.model, prepared.calibration)).analysis.flops / prepared.analysis.flops;
      const { agreement, samples } = await compareModels(bytes, result.bytes, {
        runtime: nodeRuntime,
        dataset: heldout,
        inputs,
        batchSize: 250,
      });
      const text = `${(100 * agreement).toFixed(2)}% agree (${samples})`;
      row.metric = { name: 'top-1 agreement', value: agreement, text };
      row.latency = await latencyAtBatches(bytes, result.bytes, heldout, LARGE_BATCH);
      if (result.latencySearch) row.latencySearch = summarizeSearch(result.latencySearch);
    } catch (err) {
      row.error = (err as Error).message;
    }
    console.error(`${fixture} ${target.label}: ${row.metric?.text ?? row.error}`);
    rows.push(row);
  }
  return { model: fixture, rows };
}

async function corpusResult(id: string, budgetSeconds: number): Promise<ModelResult> {
  if (!existsSync(modelPath(id))) return { model: id, rows: [], failure: 'model not fetched: npm run corpus:fetch' };
  const { results, failure } = await runWorker(
    id,
    { targets: TARGETS, timedBatch: LARGE_BATCH, peers: false },
    budgetSeconds,
  );
  const rows = results
    .filter((r) => r.kind === 'run')
    .map((r) => ({
      label: r.label as string,
      latencyBatch: TARGETS.find((t) => t.label === r.label)?.latencyBatch,
      flops: r.flops as number | undefined,
      metric: r.metric as Row['metric'],
      latency: r.latency as BatchLatency[] | undefined,
      latencySearch: r.latencySearch as Row['latencySearch'],
      compressSeconds: r.compressSeconds as number | undefined,
      error: (r.error ?? r.metricError ?? r.latencyError) as string | undefined,
    }));
  return { model: id, rows, failure };
}

const ratio = (l: BatchLatency | undefined, run = 0) => l?.runs[run]?.ratio;
/** A cell's text with the table's separator escaped (metrics such as "|Δp|"). */
const cell = (text: string) => text.replace(/\|/g, '\\|');
/** Metrics that are errors (mean |Δ age|): lower is better. */
const lowerIsBetter = (name: string | undefined) => /\|Δ|error/.test(name ?? '');
const latencyAt = (row: Row, batch: number) => row.latency?.find((l) => l.batch === batch);
const fixed = (x: number | undefined, digits = 3) => (x === undefined ? '–' : x.toFixed(digits));

function latencyCell(l: BatchLatency | undefined): string {
  if (!l) return '–';
  const [first, second] = l.runs;
  return (
    `${fixed(first.ratio)} (${fixed(first.spread[0])}–${fixed(first.spread[1])}); ` +
    `again ${fixed(second?.ratio)} (${fixed(second?.spread[0])}–${fixed(second?.spread[1])})`
  );
}

/** The metric the FLOPs rows reach at a measured latency ratio: linear between the two nearest, none outside. */
function flopsMetricAt(rows: Row[], batch: number, at: number): number | undefined {
  const points = rows
    .filter((r) => r.latencyBatch === undefined && r.metric && ratio(latencyAt(r, batch)) !== undefined)
    .map((r) => ({ x: ratio(latencyAt(r, batch))!, y: r.metric!.value }))
    .sort((a, b) => a.x - b.x);
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    if (at >= a.x && at <= b.x)
      return b.x === a.x ? Math.max(a.y, b.y) : a.y + ((at - a.x) / (b.x - a.x)) * (b.y - a.y);
  }
  return undefined;
}

function render(results: ModelResult[], intro: string[]): string {
  const lines = ['# Latency: FLOPs targets against latency targets', '', ...intro, ''];
  lines.push(
    `## --target-latency ${LATENCY_TARGET}: measured ratio, and the metric against FLOPs targets at the same latency`,
    '',
    '| model | batch | measured ratio (interquartile) | ≤ 0.65 | FLOPs kept | metric | FLOPs targets at that ratio | ' +
      'no worse | candidates (M: aim on the latency model, F: FLOPs fraction → measured, again before keeping; ' +
      '✓ kept) | ' +
      'latency model + checks |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const { model, rows, commit: at } of results) {
    for (const batch of BATCHES) {
      const row = rows.find((r) => r.latencyBatch === batch);
      if (!row) continue;
      const measured = ratio(latencyAt(row, batch));
      const peer = measured === undefined ? undefined : flopsMetricAt(rows, batch, measured);
      const value = row.metric?.value;
      const better = (a: number, b: number) => (lowerIsBetter(row.metric?.name) ? a <= b + 1e-9 : a >= b - 1e-9);
      const noWorse =
        peer === undefined || value === undefined ? 'outside their range' : better(value, peer) ? 'yes' : 'no';
      const chosen = row.latencySearch?.chosen;
      const attempts = row.latencySearch?.attempts
        .map((a, i) => {
          const again = a.again === undefined ? '' : ` (again ${fixed(a.again)})`;
          const kept = i === chosen ? ' ✓' : '';
          return `${a.by === 'FLOPs' ? 'F' : 'M'} ${fixed(a.aimed, 2)} → ${fixed(a.ratio)}${again}${kept}`;
        })
        .join(', ');
      lines.push(
        `| ${model}${at ? ` (${at})` : ''} | ${batch} | ${cell(row.error ?? latencyCell(latencyAt(row, batch)))} | ` +
          `${measured === undefined ? '–' : measured <= 0.65 ? 'yes' : 'no'} | ${fixed(row.flops)} | ` +
          `${cell(row.metric?.text ?? '–')} | ${peer === undefined ? '–' : fixed(peer, 4)} | ${noWorse} | ` +
          `${attempts ?? '–'} | ${fixed(row.latencySearch?.seconds, 1)} s |`,
      );
    }
  }
  lines.push(
    '',
    '## Every target: FLOPs kept, metric, and the latency ratio at batch 1 and at batch 64',
    '',
    '| model | target | FLOPs kept | metric | ratio at batch 1 (interquartile); repeated | ' +
      'ratio at batch 64 (interquartile); repeated | compression s |',
    '|---|---|---|---|---|---|---|',
  );
  for (const { model, rows, failure } of results) {
    if (failure) lines.push(`| ${model} | ${cell(failure)} |  |  |  |  |  |`);
    for (const row of rows)
      lines.push(
        `| ${model} | ${row.label} | ${fixed(row.flops)} | ${cell(row.error ?? row.metric?.text ?? '–')} | ` +
          `${latencyCell(latencyAt(row, 1))} | ${latencyCell(latencyAt(row, 64))} | ${fixed(row.compressSeconds, 1)} |`,
      );
  }
  return `${lines.join('\n')}\n`;
}

const INTRO = [
  "Written by `npm run bench:latency` (the commit of each model's run beside its name) " +
    `(${process.platform}, ${process.arch}, ${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `Node ${process.version}, onnxruntime-node CPU with ${nodeRuntime.defaultThreads} intra-op threads).`,
  'Each model is compressed in the default mode to the FLOPs targets and to --target-latency ' +
    `${LATENCY_TARGET} at batch 1 and at batch 64`,
  '(sizes chosen on the measured latency model of the runtime, then timed; bench and compression on the same ' +
    'machine).',
  'Latency ratio: compressed ÷ original, the median over interleaved pairs of runs (at least 20 pairs and 0.5 s ' +
    'per model), with the interquartile range of the pairs; each measured twice, in separate sessions.',
  'Metric: fixtures, top-1 agreement with the original on their held-out samples (count in brackets); ' +
    'corpus models, their task metric on held-out data (bench/real-metrics.ts).',
  '"FLOPs targets at that ratio": the metric of the FLOPs-target rows interpolated at the ratio the latency ' +
    'target measured, at the same batch size.',
];

const jsonPath = new URL('./latency.json', import.meta.url).pathname;
const ALL_MODELS: string[] = [...FIXTURES, ...CORPUS_MODELS];

/** The results of this run, and the earlier ones of models not run this time, in the benchmark's order. */
function merged(fresh: ModelResult[]): ModelResult[] {
  const earlier: ModelResult[] = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')).results : [];
  return ALL_MODELS.flatMap((m) => fresh.find((r) => r.model === m) ?? earlier.find((r) => r.model === m) ?? []);
}

async function main() {
  const args = process.argv.slice(2);
  const chosen = option(args, '--models')?.split(',');
  const budgetSeconds = Number(option(args, '--budget-s') ?? 1500);
  const fresh: ModelResult[] = [];
  if (args.includes('--render')) {
    writeFiles(merged([]), INTRO);
    return;
  }
  for (const model of ALL_MODELS) {
    if (chosen && !chosen.includes(model)) continue;
    const fixture = FIXTURES.find((f) => f === model);
    console.error(`== ${model}${fixture ? '' : ` (${manifestEntry(model).package})`}`);
    const result = fixture ? await fixtureResult(fixture) : await corpusResult(model, budgetSeconds);
    fresh.push({ ...result, commit: commit() });
    writeFiles(merged(fresh), INTRO);
  }
  console.log(render(merged(fresh), INTRO));
}

function writeFiles(results: ModelResult[], intro: string[]) {
  writeFileSync(jsonPath, `${JSON.stringify({ results }, null, 2)}\n`);
  writeFileSync(new URL('./latency.md', import.meta.url), render(results, intro));
}

main().catch((err) => {
  console.error(`bench:latency: ${(err as Error).message}`);
  process.exit(1);
});
