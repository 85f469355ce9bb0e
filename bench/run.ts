// npm run bench: compresses each trained fixture at FLOPs targets 0.7 / 0.5 / 0.3 in both correction
// modes and compares, at the same per-layer sizes, with magnitude pruning, ID selection without
// correction and random selection. Writes bench/results.md and bench/results.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { makeDataset } from '../src/calibrate/dataset.ts';
import { applySurgery, type SpaceDecision } from '../src/compress/surgery.ts';
import { compareModels } from '../src/evaluate/compare.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { magnitudeKeep, randomKeep, uncorrected } from './baselines.ts';
import { FIXTURES, type Fixture, loadArray, loadModel } from './fixtures.ts';

const TARGETS = [0.7, 0.5, 0.3];
const MODES = ['corrected', 'plain'] as const;
const outDir = new URL('./out/', import.meta.url).pathname;
mkdirSync(outDir, { recursive: true });

const heldout = new Map([['input', loadArray('heldout.npy')]]);
const labels = loadArray('heldout_labels.npy').data as BigInt64Array;

interface Row {
  fixture: Fixture;
  target: number;
  method: string;
  flops: number;
  params: number;
  agreement: number;
  accuracy: number;
  originalAccuracy: number;
  compressSeconds?: number;
  inferenceSeconds?: number;
  passes?: number;
  peakRssMB?: number;
}

async function measure(original: Uint8Array, candidate: Uint8Array, base: { flops: number; params: number }) {
  const analysis = await analyzeModel(decodeModel(candidate), nodeRuntime);
  const dataset = makeDataset(heldout, analysis.inputs, 'heldout');
  const c = await compareModels(original, candidate, { runtime: nodeRuntime, dataset, inputs: analysis.inputs, batchSize: 250, labels });
  return {
    flops: analysis.flops / base.flops,
    params: analysis.params / base.params,
    agreement: c.agreement,
    accuracy: c.accuracy!.candidate,
    originalAccuracy: c.accuracy!.original,
  };
}

const rows: Row[] = [];
for (const fixture of FIXTURES) {
  const original = loadModel(fixture);
  const analysis = await analyzeModel(decodeModel(original), nodeRuntime);
  const base = { flops: analysis.flops, params: analysis.params };
  for (const target of TARGETS) {
    let sizes: Record<string, { kept: number; keep: number[] }> | undefined;
    // Residual streams pruned (the default) and, where the model has them, left intact.
    const coupled = analysis.spaces.some((s) => s.producers.length > 1);
    const variants: [string, string, string[]][] = MODES.map((mode) => [`idprune ${mode}`, mode, []]);
    if (coupled) variants.push(['idprune corrected, streams intact', 'corrected', ['keep-coupled']]);
    for (const [method, mode, extra] of variants) {
      const output = `${outDir}${fixture}-${target}-${method.replace(/\W+/g, '-')}.onnx`;
      const args = ['--import', 'tsx', new URL('./compress-once.ts', import.meta.url).pathname, fixture, String(target), mode, output, ...extra];
      const run = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }));
      sizes ??= run.kept;
      const m = await measure(original, new Uint8Array(readFileSync(output)), base);
      rows.push({ fixture, target, method, ...m, compressSeconds: run.compressSeconds, inferenceSeconds: run.inferenceSeconds, passes: run.passes, peakRssMB: run.peakRssMB });
      console.error(`${fixture} ${target} ${method}: agreement ${(100 * m.agreement).toFixed(2)}% in ${run.compressSeconds.toFixed(1)}s`);
    }
    const baselines: [string, (id: number, k: number, keep: number[]) => number[]][] = [
      ['same selection, no correction', (_, __, keep) => keep],
      ['magnitude (L1), no correction', (id, k) => magnitudeKeep(analysis, analysis.spaces[id], k)],
      ['random, no correction', (id, k) => randomKeep(analysis.spaces[id].channels, k, 1000 + id)],
    ];
    for (const [method, choose] of baselines) {
      const decisions: SpaceDecision[] = Object.entries(sizes!)
        .filter(([id, s]) => s.kept < analysis.spaces[Number(id)].channels)
        .map(([id, s]) => uncorrected(analysis.spaces[Number(id)], choose(Number(id), s.kept, s.keep)));
      const m = await measure(original, encodeModel(applySurgery(analysis.model, decisions)), base);
      rows.push({ fixture, target, method, ...m });
      console.error(`${fixture} ${target} ${method}: agreement ${(100 * m.agreement).toFixed(2)}%`);
    }
  }
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const header = '| model | target FLOPs | method | FLOPs | params | agreement | accuracy (orig.) | compress time | ÷ one inference pass | passes | peak RSS |';
const lines = rows.map((r) =>
  [
    r.fixture,
    r.target,
    r.method,
    r.flops.toFixed(3),
    r.params.toFixed(3),
    pct(r.agreement),
    `${pct(r.accuracy)} (${pct(r.originalAccuracy)})`,
    r.compressSeconds ? `${r.compressSeconds.toFixed(2)} s` : '',
    r.compressSeconds ? `${(r.compressSeconds / r.inferenceSeconds!).toFixed(1)}×` : '',
    r.passes ?? '',
    r.peakRssMB ? `${r.peakRssMB.toFixed(0)} MB` : '',
  ].join(' | '),
);
const markdown = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (${process.platform}, ${process.arch}, Node ${process.version}).`,
  'Fashion-MNIST fixtures from `scripts/make_fixtures.py`; 1000 calibration images from the training set; agreement',
  '(same top-1 as the original) and accuracy on 5000 held-out test images never used for calibration.',
  'FLOPs and params are fractions of the original model. Baselines use the per-layer sizes chosen by `idprune corrected`.',
  '"÷ one inference pass" divides the whole compression time by the time of one plain inference pass of the',
  'calibration set through the original model, measured in the same process.',
  '',
  header,
  header.replace(/[^|]/g, '-').replace(/-\|/g, '-|'),
  ...lines.map((l) => `| ${l} |`),
  '',
].join('\n');
writeFileSync(new URL('./results.md', import.meta.url), markdown);
writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify(rows, null, 2) + '\n');
console.log(markdown);
