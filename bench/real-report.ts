// bench/real.md and bench/real.json from the per-model records of bench/real.ts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { MetricValue } from './real-metrics.ts';

export interface RunRecord {
  label: string;
  error?: string;
  flops?: number;
  params?: number;
  estimated?: boolean;
  metric?: MetricValue;
  metricError?: string;
  magnitude?: MetricValue;
  magnitudeError?: string;
  /** Peers at the same sizes with idprune's interpolation and refits (bench/real-worker.ts). */
  magnitudeCorrected?: MetricValue;
  magnitudeCorrectedError?: string;
  randomCorrected?: MetricValue;
  randomCorrectedError?: string;
  biasCompensated?: MetricValue;
  biasCompensatedError?: string;
  /** idprune's --estimate with the full calibration set (bench/real-worker.ts). */
  estimate?: { agreement: number; interval: [number, number]; cosine: number; samples: number };
  estimateError?: string;
  compressSeconds?: number;
  timesOnePass?: number;
  latencyRatio?: number;
  latencyError?: string;
  calibrationSamples?: number;
  passes?: number;
  allocation?: string;
  /** How the measured allocation read each output. */
  outputs?: string[];
  spacesPruned?: number;
  branches?: string[];
  /** The compressed model, kept in bench/out/real/ (not committed). */
  saved?: string;
}

export interface ModelRecord {
  id: string;
  package: string;
  description: string;
  date: string;
  /** The repository's commit when it ran (library results change as src/ does), with "+changes" for a dirty tree. */
  commit?: string;
  /** Set when the model's worker could not finish (crash, time budget): the steps it did not report. */
  failure?: string;
  model?: {
    producer: string;
    opset?: number;
    nodes: number;
    inputs: { name: string; type: string; dims: (number | null)[] }[];
  };
  analysis?: {
    error?: string;
    spaces?: number;
    prunable?: number;
    prunableFlopsShare?: number;
    flops?: number;
    params?: number;
    notPrunable?: Record<string, number>;
    branches?: string[];
    seconds?: number;
  };
  reference?: Record<string, { seconds?: number; how?: string; error?: string }>;
  heldout?: { samples?: number; seconds?: number; error?: string };
  runs: RunRecord[];
}

const jsonPath = new URL('./real.json', import.meta.url);
const mdPath = new URL('./real.md', import.meta.url);

export function readRecords(): ModelRecord[] {
  return existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as ModelRecord[]) : [];
}

/** Keeps earlier records of models not run this time, in the order of `order`. */
export function mergeRecords(earlier: ModelRecord[], fresh: ModelRecord[], order: string[]): ModelRecord[] {
  const byId = new Map([...earlier, ...fresh].map((r) => [r.id, r]));
  return order.filter((id) => byId.has(id)).map((id) => byId.get(id)!);
}

const cell = (text: string) => text.replace(/\|/g, '\\|');
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function failed(reason: string): string {
  return `failed: ${reason}`;
}

function modelCells(r: ModelRecord): string[] {
  const producer = r.model ? `${r.model.producer} / ${r.model.opset ?? '?'}` : '';
  if (!r.analysis || r.analysis.error) return [r.id, producer, r.analysis?.error ? failed(r.analysis.error) : '', ''];
  return [r.id, producer, `${r.analysis.prunable} / ${r.analysis.spaces}`, pct(r.analysis.prunableFlopsShare ?? 0)];
}

function runCells(run: RunRecord | undefined, failure: string | undefined): string[] {
  if (!run) return [failure ? failed(failure) : 'not run', '', '', '', '', '', '', '', ''];
  if (run.error) return [failed(run.error), '', '', '', '', '', '', '', ''];
  const peer = (value: MetricValue | undefined, error: string | undefined) =>
    value ? value.text : error ? failed(error) : 'not run';
  const kept = `${run.flops!.toFixed(3)} / ${run.params!.toFixed(3)}${run.estimated ? ' (est.)' : ''}`;
  return [
    kept,
    run.metric ? run.metric.text : failed(run.metricError ?? '?'),
    run.estimate
      ? `${pct(run.estimate.agreement)} agree, cos ${run.estimate.cosine.toFixed(4)} (${run.estimate.samples})`
      : run.estimateError
        ? failed(run.estimateError)
        : '',
    run.magnitude ? run.magnitude.text : failed(run.magnitudeError ?? '?'),
    peer(run.magnitudeCorrected, run.magnitudeCorrectedError),
    peer(run.randomCorrected, run.randomCorrectedError),
    peer(run.biasCompensated, run.biasCompensatedError),
    run.timesOnePass !== undefined
      ? `${run.timesOnePass.toFixed(1)}× (${run.compressSeconds!.toFixed(1)} s)`
      : `${run.compressSeconds?.toFixed(1)} s`,
    run.latencyRatio !== undefined ? run.latencyRatio.toFixed(2) : failed(run.latencyError ?? '?'),
  ];
}

/** Reasons with node names and shapes blanked, so that one cause met at many nodes counts once. */
function groupedReasons(reasons: Record<string, number>): Record<string, number> {
  const grouped: Record<string, number> = {};
  for (const [reason, n] of Object.entries(reasons)) {
    const general = reason.replace(/"[^"]*"/g, '"…"').replace(/\[[^\]]*\]/g, '[…]');
    grouped[general] = (grouped[general] ?? 0) + n;
  }
  return grouped;
}

export function writeReport(records: ModelRecord[], targets: string[], intro: string[]): string {
  const header = [
    'model',
    'producer / opset',
    'spaces prunable / total',
    'FLOPs in prunable spaces',
    'target',
    'FLOPs / params kept',
    'metric (idprune corrected)',
    'estimate from calibration data (held-out samples)',
    'magnitude (L1), same sizes, no correction',
    'magnitude + same correction',
    'random + same correction',
    'fluctuation + bias compensation (FLAP-style)',
    'compression time × one pass',
    'latency ratio',
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const r of records) {
    targets.forEach((label, i) => {
      const first = i === 0 ? modelCells(r) : ['', '', '', ''];
      const run = r.runs.find((x) => x.label === label);
      lines.push(`| ${[...first, label, ...runCells(run, r.failure)].map(cell).join(' | ')} |`);
    });
  }
  const metrics = records.map((r) => {
    const m = r.runs.find((x) => x.metric)?.metric;
    const samples =
      r.heldout?.samples !== undefined
        ? `${r.heldout.samples} held-out samples`
        : r.heldout?.error
          ? `held-out run failed: ${r.heldout.error}`
          : '';
    const branches = r.analysis?.branches?.length
      ? ` Analysed and compressed inside the branch every calibration sample takes (${r.analysis.branches.join('; ')}).`
      : '';
    const commit = r.commit ? ` at ${r.commit}` : '';
    const metric = m?.name ?? 'see bench/real-metrics.ts';
    return (
      `- **${r.id}** (${r.package}, run ${r.date}${commit}): ${r.description}. ` +
      `Metric: ${metric}; ${samples}.${branches}`
    );
  });
  const reasons = records
    .filter((r) => r.analysis?.notPrunable && Object.keys(r.analysis.notPrunable).length > 0)
    .map((r) => {
      const top = Object.entries(groupedReasons(r.analysis!.notPrunable!))
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3);
      return `- ${r.id}: ${top.map(([reason, n]) => `${n} × ${reason}`).join('; ')}`;
    });
  const markdown = [
    '# Real third-party models',
    '',
    ...intro,
    '',
    ...lines,
    '',
    '## Models, metrics and held-out data',
    '',
    ...metrics,
    '',
    ...(reasons.length > 0 ? ['## Spaces left intact (most frequent reasons)', '', ...reasons, ''] : []),
  ].join('\n');
  writeFileSync(mdPath, `${markdown}\n`);
  writeFileSync(jsonPath, `${JSON.stringify(records, null, 2)}\n`);
  return markdown;
}
