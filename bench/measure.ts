// Shared by the benchmarks: compress in a process of its own, measure against the original on
// held-out data, compare with baselines at the same per-layer sizes, write the table.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { batches, makeDataset } from '../src/calibrate/dataset.ts';
import { withEmptyCaches } from '../src/calibrate/decoder-inputs.ts';
import type { Feeds } from '../src/onnx/runtime.ts';
import type { Budget } from '../src/compress/allocate.ts';
import { applySurgery, type SpaceDecision } from '../src/compress/surgery.ts';
import { compareModels } from '../src/evaluate/compare.ts';
import { measureLatency } from '../src/onnx/latency.ts';
import { type Analysis, analyzeModel } from '../src/graph/analysis.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
import { magnitudeKeep, randomKeep, uncorrected } from './baselines.ts';
import { type Fixture, loadHeldout, loadLabels } from './fixtures.ts';

export interface Row {
  fixture: Fixture;
  target: string;
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
  /** Candidate's inference time ÷ the original's, one batch of 64 held-out samples, median of interleaved runs. */
  latencyRatio?: number;
  /** The interquartile range of the pairs' ratios. */
  latencySpread?: [number, number];
  /** With labels at every position (a language model's next tokens). */
  perplexity?: { original: number; candidate: number };
}

const outDir = new URL('./out/', import.meta.url).pathname;
mkdirSync(outDir, { recursive: true });

type Measured = Omit<Row, 'fixture' | 'target' | 'method'>;

export async function measure(
  fixture: Fixture,
  original: Uint8Array,
  candidate: Uint8Array,
  base: { flops: number; params: number },
): Promise<Measured> {
  const analysis = await analyzeModel(decodeModel(candidate), nodeRuntime, { sampleDims: sampleDimsOf(fixture) });
  const inputs = inputSpecs(decodeModel(original));
  const dataset = makeDataset(loadHeldout(fixture), inputs, 'heldout');
  const c = await compareModels(original, candidate, {
    runtime: nodeRuntime,
    dataset,
    inputs,
    batchSize: 250,
    labels: loadLabels(fixture),
    candidateInputs: analysis.inputs,
  });
  return {
    flops: analysis.flops / base.flops,
    params: analysis.params / base.params,
    agreement: c.agreement,
    accuracy: c.accuracy?.candidate ?? NaN,
    originalAccuracy: c.accuracy?.original ?? NaN,
    perplexity: c.perplexity,
  };
}

/** Free input dimensions (sequence length) as in the held-out data, so FLOPs are counted at that length. */
export function sampleDimsOf(fixture: Fixture): Record<string, number[]> {
  return Object.fromEntries([...loadHeldout(fixture)].map(([name, a]) => [name, [1, ...a.shape.slice(1)]]));
}

/**
 * Compresses in a child process (bench/compress-once.ts) and measures the result; with the `peers`
 * flag, also magnitude and random selections at the same sizes with the same correction, and the
 * FLAP-style peer (bench/bias-compensation.ts).
 */
export async function compressAndMeasure(
  fixture: Fixture,
  original: Uint8Array,
  base: { flops: number; params: number },
  budget: Budget,
  mode: string,
  label: string,
  extra: string[] = [],
) {
  const output = `${outDir}${fixture}-${label.replace(/\W+/g, '-')}.onnx`;
  const args = [
    '--import',
    'tsx',
    new URL('./compress-once.ts', import.meta.url).pathname,
    fixture,
    JSON.stringify(budget),
    mode,
    output,
    ...extra,
  ];
  const run = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }));
  const candidate = new Uint8Array(readFileSync(output));
  const m = await measure(fixture, original, candidate, base);
  const latency = await latencyOf(fixture, original, candidate);
  const peers: { method: string; file: string; measured: Measured }[] = [];
  if (extra.includes('peers')) {
    for (const [name, method] of [
      ['magnitude', 'magnitude (L1) + same correction'],
      ['random', 'random + same correction'],
      ['wanda', 'Wanda-sp (weight × input norm) + same correction'],
      ['flap', 'fluctuation + bias compensation (FLAP-style)'],
    ]) {
      peers.push({
        method,
        file: output.replace(/\.onnx$/, `.${name}.onnx`),
        measured: await measure(
          fixture,
          original,
          new Uint8Array(readFileSync(output.replace(/\.onnx$/, `.${name}.onnx`))),
          base,
        ),
      });
    }
  }
  return {
    file: output,
    measured: {
      ...m,
      compressSeconds: run.compressSeconds,
      inferenceSeconds: run.inferenceSeconds,
      passes: run.passes,
      peakRssMB: run.peakRssMB,
      latencyRatio: latency.ratio,
      latencySpread: latency.ratioSpread,
    },
    kept: run.kept as Record<string, { kept: number; keep: number[] }>,
    peers,
  };
}

async function latencyOf(fixture: Fixture, original: Uint8Array, candidate: Uint8Array) {
  const inputs = inputSpecs(decodeModel(original));
  const [feeds] = batches(makeDataset(loadHeldout(fixture), inputs, 'heldout'), inputs, 64, 64);
  const fed: [Feeds, Feeds] = [feeds, withEmptyCaches(feeds, inputSpecs(decodeModel(candidate)))];
  return measureLatency(original, candidate, fed, nodeRuntime, { batch: 64, runs: 30 });
}

/** Uncorrected baselines at the per-layer sizes `sizes` (space id → kept channels and the ones ID kept). */
export async function baselines(
  fixture: Fixture,
  analysis: Analysis,
  original: Uint8Array,
  base: { flops: number; params: number },
  sizes: Record<string, { kept: number; keep: number[] }>,
  withRandom = true,
) {
  const choices: [string, (id: number, k: number, keep: number[]) => number[]][] = [
    ['same selection, no correction', (_, __, keep) => keep],
    ['magnitude (L1), no correction', (id, k) => magnitudeKeep(analysis, analysis.spaces[id], k)],
  ];
  if (withRandom)
    choices.push(['random, no correction', (id, k) => randomKeep(analysis.spaces[id].channels, k, 1000 + id)]);
  const rows: { method: string; measured: Measured }[] = [];
  for (const [method, choose] of choices) {
    const decisions: SpaceDecision[] = Object.entries(sizes)
      .filter(([id, s]) => s.kept < analysis.spaces[Number(id)].channels)
      .map(([id, s]) => uncorrected(analysis.spaces[Number(id)], choose(Number(id), s.kept, s.keep)));
    rows.push({
      method,
      measured: await measure(fixture, original, encodeModel(await applySurgery(analysis.model, decisions)), base),
    });
  }
  return rows;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const spreadText = (spread?: [number, number]) => (spread ? ` (${spread.map((x) => x.toFixed(2)).join('–')})` : '');

export function writeTable(name: string, title: string, intro: string[], rows: Row[], targetHeader: string): string {
  const header =
    `| model | ${targetHeader} | method | FLOPs | params | agreement | accuracy (orig.) | latency ratio | ` +
    'compress time | ÷ one inference pass | passes | peak RSS |';
  const lines = rows.map((r) =>
    [
      r.fixture,
      r.target,
      r.method,
      r.flops.toFixed(3),
      r.params.toFixed(3),
      pct(r.agreement),
      Number.isNaN(r.accuracy) ? '—' : `${pct(r.accuracy)} (${pct(r.originalAccuracy)})`,
      r.latencyRatio ? `${r.latencyRatio.toFixed(2)}${spreadText(r.latencySpread)}` : '',
      r.compressSeconds ? `${r.compressSeconds.toFixed(2)} s` : '',
      r.compressSeconds ? `${(r.compressSeconds / r.inferenceSeconds!).toFixed(1)}×` : '',
      r.passes ?? '',
      r.peakRssMB ? `${r.peakRssMB.toFixed(0)} MB` : '',
    ].join(' | '),
  );
  const markdown = [
    `# ${title}`,
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} ` +
      `(${process.platform}, ${process.arch}, Node ${process.version}).`,
    ...intro,
    '"latency ratio": the compressed model\'s inference time ÷ the original\'s ' +
      'on one batch of 64 held-out samples in ONNX Runtime',
    '(CPU), median over at least 30 interleaved pairs of runs in one process, with the interquartile range of',
    'the pairs.',
    '"÷ one inference pass" divides the whole compression time by the time of one plain inference pass of the',
    'calibration set through the original model, measured in the same process.',
    '',
    header,
    header.replace(/[^|]/g, '-').replace(/-\|/g, '-|'),
    ...lines.map((l) => `| ${l} |`),
    '',
  ].join('\n');
  writeFileSync(new URL(`./${name}.md`, import.meta.url), markdown);
  writeFileSync(new URL(`./${name}.json`, import.meta.url), `${JSON.stringify(rows, null, 2)}\n`);
  return markdown;
}

export async function analyzeFixture(fixture: Fixture, bytes: Uint8Array) {
  return analyzeModel(decodeModel(bytes), nodeRuntime, { sampleDims: sampleDimsOf(fixture) });
}
