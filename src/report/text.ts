import { describeRounding } from '../compress/pipeline.ts';
import type { Comparison } from '../evaluate/compare.ts';
import type { GenerationComparison } from '../evaluate/generate.ts';
import type { Latency } from '../onnx/latency.ts';
import type { CompressionReport, HeldOutEstimate, LatencySearchReport, ModelSize, TargetSearch } from './report.ts';
import type { SweepPoint } from './html/types.ts';
import type { SpaceSummary } from './spaces.ts';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export const percent = (x: number, digits = 1) => `${(100 * x).toFixed(digits)}%`;

export function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

const list = (names: string[]) =>
  names.length > 2 ? `${names.slice(0, 2).join(', ')} +${names.length - 2}` : names.join(', ');

export function formatSpaces(spaces: readonly SpaceSummary[]): string {
  return table(
    ['space', 'producers', 'consumers', 'channels', 'FLOPs', 'status'],
    spaces.map((s) => [
      String(s.id),
      list(s.producers),
      list(s.consumers),
      String(s.channels),
      percent(s.flopsShare),
      s.prunable ? 'prunable' : `intact: ${s.reason}`,
    ]),
  );
}

export function formatSize(label: string, size: ModelSize): string {
  return `${label}: ${count(size.params)} parameters, ${count(size.flops)} MACs per sample`;
}

export function formatCompression(report: CompressionReport): string {
  const rows = report.spaces.map((s) => [
    String(s.id),
    list(s.producers),
    `${s.channels} → ${s.kept}`,
    s.error === null ? '-' : s.error.toFixed(4),
    s.prunable ? '' : `intact: ${s.reason}`,
  ]);
  const ratio = (a: number, b: number) => `${count(b)} → ${count(a)} (${percent(a / b)})`;
  const channels = report.spaces.reduce((a, s) => a + s.channels, 0);
  const kept = report.spaces.reduce((a, s) => a + s.kept, 0);
  const mirrored = report.mirrored ? ' and their mirror images' : '';
  const lines = [
    table(['space', 'producers', 'channels', 'error', 'note'], rows),
    '',
    `parameters  ${ratio(report.after.params, report.before.params)}`,
    `FLOPs (MAC) ${ratio(report.after.flops, report.before.flops)}`,
    `channels    ${channels} → ${kept}`,
    `calibration ${report.calibrationSamples} samples${mirrored}, ${report.passesOverData} pass(es), ` +
      `mode ${report.mode}, allocation ${report.allocation}, counts rounded to ${describeKeptCounts(report)}, ` +
      `target ${report.target}`,
    ...(report.outputs ? [`outputs     ${describeOutputs(report.outputs)}`] : []),
    `time        ${Object.entries(report.timingsSeconds)
      .map(([k, v]) => `${k} ${v.toFixed(2)}s`)
      .join(', ')}`,
  ];
  if (report.search) lines.push('', `search      ${describeSearch(report.search)}`);
  if (report.latencySearch) lines.push('', `latency     ${describeLatencySearch(report.latencySearch)}`);
  if (report.estimate)
    lines.push(...(report.search ? [] : ['']), formatEstimate(report.estimate, report.search?.metric));
  if (report.signature)
    lines.push(
      '',
      ...report.signature.map(
        (c, i) =>
          `${i === 0 ? 'signature' : '         '}   ${c.name} [${c.before.join(', ')}] → [${c.after.join(', ')}]`,
      ),
    );
  if (report.unevenState)
    lines.push(
      '            the cache now differs from layer to layer: a runtime that builds the empty cache from one',
      '            key/value head count (transformers.js: num_key_value_heads in config.json) cannot run it',
    );
  if (report.evaluation) lines.push('', formatComparison(report.evaluation));
  if (report.latency) lines.push(...report.latency.map(formatLatency));
  if (report.mode === 'plain')
    lines.push('', PLAIN_MODE_NOTE + (report.evaluation ? '' : ' Pass --eval to measure the agreement.'));
  return lines.join('\n');
}

/** The plain mode's cost (measured in docs/benchmarks.md), so that no one takes its model for the corrected one's. */
const PLAIN_MODE_NOTE =
  'note        mode plain: no layer was refitted. ' +
  'At strong targets it keeps far fewer of the original decisions than the default mode (docs/benchmarks.md).';

/** "8, 16 in convolutions of 32 channels or more, finer on narrow spaces without convolutions". */
export function describeKeptCounts(
  report: Pick<CompressionReport, 'roundTo' | 'convolutionRoundTo' | 'finerOnNarrow'>,
): string {
  const finer = report.finerOnNarrow ? ', finer on narrow spaces without convolutions' : '';
  return `${describeRounding(report)}${finer}`;
}

export function describeOutputs(outputs: NonNullable<CompressionReport['outputs']>): string {
  return outputs.map((o) => `${o.name}: ${o.readAs}`).join(', ');
}

export function describeSearch(s: TargetSearch): string {
  const show = (v: number) => (s.metric === 'agreement' ? percent(v, 2) : v.toFixed(5));
  const tried = s.tried
    .map((t) => `${percent(t.flops, 1)} FLOPs ${t.value === null ? 'unreachable' : show(t.value)}`)
    .join(', ');
  const met = s.tried.some((t) => t.value !== null && t.value >= s.value);
  const outcome = met ? '' : '; no smaller model met it, nothing was pruned';
  return `${s.metric} ≥ ${show(s.value)} on held-out calibration samples: ${tried}${outcome}`;
}

/** The estimate, led by the cosine where that was the target (an embedding's top-1 means little). */
export function describeEstimate(e: HeldOutEstimate, metric: TargetSearch['metric'] = 'agreement'): string {
  const lead =
    metric === 'cosine'
      ? `cosine ${e.cosine.toFixed(5)} of the outputs`
      : `${percent(e.agreement, 2)} same top-1 ` +
        `(95% interval ${percent(e.interval[0], 1)}–${percent(e.interval[1], 1)})`;
  return `${lead} on ${e.samples} calibration samples unseen by a compression fitted on the other ${e.fitSamples}`;
}

export function formatEstimate(e: HeldOutEstimate, metric: TargetSearch['metric'] = 'agreement'): string {
  const rest =
    metric === 'cosine'
      ? `relative L2 ${e.relativeL2.toPrecision(3)}, ${percent(e.agreement, 2)} same top-1`
      : `relative L2 ${e.relativeL2.toPrecision(3)}, cosine ${e.cosine.toFixed(5)}`;
  return [`estimate    ${describeEstimate(e, metric)}`, `            ${rest}`].join('\n');
}

export function formatComparison(c: Comparison): string {
  const on = c.rows === c.samples ? `${c.samples} samples` : `${c.rows} positions of ${c.samples} samples`;
  const lines = [`agreement   ${percent(c.agreement, 2)} same top-1 on ${on}`];
  if (c.accuracy)
    lines.push(
      `accuracy    original ${percent(c.accuracy.original, 2)}, compressed ${percent(c.accuracy.candidate, 2)}`,
    );
  if (c.perplexity)
    lines.push(
      `perplexity  original ${c.perplexity.original.toFixed(3)}, compressed ${c.perplexity.candidate.toFixed(3)} ` +
        `(${c.perplexity.candidate >= c.perplexity.original ? '+' : ''}` +
        `${(100 * (c.perplexity.candidate / c.perplexity.original - 1)).toFixed(1)}%)`,
    );
  lines.push(
    `deviation   max |Δ| ${c.maxAbsDifference.toPrecision(3)}, ` +
      `relative L2 ${c.relativeL2.toPrecision(3)}, cosine ${c.cosine.toFixed(5)}`,
  );
  return lines.join('\n');
}

export function formatLatency(l: Latency): string {
  return (
    `latency     ${l.candidateMs.toFixed(2)} ms vs ${l.originalMs.toFixed(2)} ms at batch ${l.batch}, ` +
    `${plural(l.threads, 'thread')}${l.runtime ? `, ${l.runtime}` : ''} (ratio ${l.ratio.toFixed(3)}, ` +
    `interquartile ${spread(l.ratioSpread)} over ${l.runs} interleaved runs)`
  );
}

export function formatGeneration(g: GenerationComparison): string {
  return [
    `generation  ${percent(g.identical, 1)} of ${g.prompts} continuations identical ` +
      `(${g.steps} tokens after ${g.promptTokens}, greedy), ${percent(g.matchingPrefix, 1)} of tokens before ` +
      'the first difference',
    `            decode speed at batch 1: ${g.tokensPerSecondRatio.toFixed(2)}× the original's tokens/s`,
  ].join('\n');
}

/** An interquartile range of ratios: "0.612–0.655". */
export const spread = ([low, high]: readonly [number, number]) => `${low.toFixed(3)}–${high.toFixed(3)}`;
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : word.endsWith('s') ? 'es' : 's'}`;

export function describeLatencySearch(s: LatencySearchReport): string {
  const tried = s.attempts
    .map((a, i) => {
      const aim = a.by === 'FLOPs' ? `${a.aimed.toFixed(3)} of the FLOPs` : `model at ${a.aimed.toFixed(3)}`;
      const again = a.again === undefined ? '' : `, again ${a.again.toFixed(3)}`;
      const mark = i === s.chosen ? ' (kept)' : '';
      return `${aim}: measured ${a.ratio.toFixed(3)} (interquartile ${spread(a.ratioSpread)})${again}${mark}`;
    })
    .join('; ');
  return (
    `${s.target} of ${s.originalMs.toFixed(2)} ms at batch ${s.batch}, ${plural(s.threads, 'thread')} ` +
    `(${(100 * s.fixedShare).toFixed(0)}% of it in no channel space)` +
    `${s.timedIn ? `, sizes timed in ${s.timedIn}` : ''}: ${tried}`
  );
}

/** One sweep point's measurements as text, `missing` for those not measured (the sweep's text and HTML tables). */
export function sweepCells(p: SweepPoint, missing: string) {
  const optional = (x: number | undefined, show: (x: number) => string) => (x === undefined ? missing : show(x));
  return {
    target: String(p.target),
    flops: percent(p.flops),
    params: percent(p.params),
    agreement: optional(p.agreement, (x) => percent(x, 2)),
    estimated: optional(p.estimated, (x) => percent(x, 2)),
    accuracy: optional(p.accuracy, (x) => percent(x, 2)),
    cosine: optional(p.cosine, (x) => x.toFixed(4)),
    deviation: optional(p.deviation, (x) => x.toPrecision(3)),
    latency: optional(p.latencyRatio, (x) => `${x.toFixed(3)}×`),
    seconds: `${p.seconds.toFixed(1)} s`,
  };
}
