import type { CompressionReport } from '../report.ts';
import {
  count,
  describeEstimate,
  describeOutputs,
  describeKeptCounts,
  describeLatencySearch,
  describeSearch,
  percent,
  plural,
  spread,
  sweepCells,
} from '../text.ts';
import type { HtmlReportInput, SweepPoint } from './types.ts';

/**
 * What the page shows, formatted here so that the script in the page only builds elements and
 * charts from it. Every string in it is put into the page as text, never as markup.
 */
export interface PageData {
  title: string;
  subtitle: string;
  cards: Card[];
  details: [string, string][];
  channels: ChannelChart;
  spaceTable: Table;
  timings: { stages: string[]; seconds: number[]; total: string };
  sweep?: SweepView;
  /** The inputs as given, for whoever reads the page's data back. */
  source: { report: CompressionReport; sweep?: SweepPoint[]; chosen?: number };
}

export interface Card {
  label: string;
  value: string;
  note: string;
}

export interface Table {
  header: string[];
  /** Which columns hold numbers (right-aligned). */
  numeric: boolean[];
  rows: { cells: string[]; marked: boolean }[];
}

export interface ChannelChart {
  labels: string[];
  kept: number[];
  removed: number[];
  colors: string[];
  removedColor: string;
  /** Tooltip lines per space. */
  tooltips: string[][];
  /** The error at the red end of the colour scale. */
  errorMax: string;
  gradient: string;
}

export interface SweepView {
  series: { label: string; color: string; dashed: boolean; points: { x: number; y: number | null }[] }[];
  /** The chosen point on each series that has a value there. */
  chosen?: { label: string; points: { x: number; y: number }[] };
  /** Tooltip title per point, in the order of the series' points. */
  tooltips: string[];
  table: Table;
}

/** Colour stops of the error scale, from no error to the largest in the report. */
const ERROR_STOPS: [number, number, number][] = [
  [42, 157, 143],
  [233, 196, 106],
  [231, 111, 81],
];
export const INTACT_COLOR = '#9ca3af';
export const REMOVED_COLOR = '#e5e7eb';

export function errorColor(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (ERROR_STOPS.length - 1);
  const i = Math.min(ERROR_STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const [r, g, b] = ERROR_STOPS[i].map((c, k) => Math.round(c + f * (ERROR_STOPS[i + 1][k] - c)));
  return `rgb(${r}, ${g}, ${b})`;
}

export function formatError(e: number | null): string {
  if (e === null) return '–';
  if (e === 0) return '0';
  return e < 1e-3 ? e.toExponential(1) : e.toFixed(4);
}

const shortDate = (iso: string) =>
  /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : iso;
const names = (list: string[]) => (list.length ? list.join(', ') : '–');

export function pageData(input: HtmlReportInput): PageData {
  const { report } = input;
  return {
    title: input.title,
    subtitle: `${report.tool.name} ${report.tool.version} · ${shortDate(report.date)}`,
    cards: cards(report),
    details: details(input),
    channels: channelChart(report),
    spaceTable: spaceTable(report),
    timings: timings(report),
    sweep: input.sweep?.length ? sweepView(input.sweep, input.chosen) : undefined,
    source: { report, sweep: input.sweep, chosen: input.chosen },
  };
}

function cards(report: CompressionReport): Card[] {
  const { before, after, evaluation, latency } = report;
  const channels = (key: 'channels' | 'kept') => report.spaces.reduce((sum, s) => sum + s[key], 0);
  const list: Card[] = [
    {
      label: 'FLOPs',
      value: percent(after.flops / before.flops),
      note: `${count(before.flops)} → ${count(after.flops)} MACs per sample`,
    },
    {
      label: 'Parameters',
      value: percent(after.params / before.params),
      note: `${count(before.params)} → ${count(after.params)}`,
    },
    {
      label: 'Channels',
      value: `${channels('kept')} of ${channels('channels')}`,
      note: `in ${plural(report.spaces.length, 'channel space')}`,
    },
  ];
  if (evaluation) {
    list.push({
      label: 'Agreement',
      value: percent(evaluation.agreement, 2),
      note: `same top-1 on ${plural(evaluation.samples, 'held-out sample')}`,
    });
    if (evaluation.accuracy) {
      list.push({
        label: 'Accuracy',
        value: percent(evaluation.accuracy.candidate, 2),
        note: `original ${percent(evaluation.accuracy.original, 2)}`,
      });
    }
    list.push({
      label: 'Output cosine',
      value: evaluation.cosine.toFixed(4),
      note:
        `relative L2 ${evaluation.relativeL2.toPrecision(3)}, ` +
        `max |Δ| ${evaluation.maxAbsDifference.toPrecision(3)}`,
    });
  }
  for (const l of latency ?? []) {
    list.push({
      label: `Latency ratio, batch ${l.batch}`,
      value: l.ratio.toFixed(3),
      note:
        `${l.candidateMs.toFixed(2)} ms vs ${l.originalMs.toFixed(2)} ms, ${plural(l.threads, 'thread')}; ` +
        `interquartile ${spread(l.ratioSpread)} ` +
        `over ${l.runs} interleaved runs`,
    });
  }
  return list;
}

function details(input: HtmlReportInput): [string, string][] {
  const { report, model, data } = input;
  const rows: [string, string][] = [];
  if (model?.path) rows.push(['Model', model.path]);
  if (model?.inputs?.length) {
    const dims = (d: (number | null)[]) => `[${d.map((x) => x ?? '?').join(', ')}]`;
    rows.push(['Inputs', model.inputs.map((i) => `${i.name}: ${i.type} ${dims(i.dims)}`).join('; ')]);
  }
  const passes = plural(report.passesOverData, 'pass');
  const from = data?.calibration ? ` from ${data.calibration}` : '';
  const mirrored = report.mirrored ? ' and their mirror images' : '';
  rows.push([
    'Calibration',
    `${plural(report.calibrationSamples, 'sample')}${from}${mirrored}, ${passes} over the data`,
  ]);
  if (data?.evaluation)
    rows.push(['Evaluation data', data.labels ? `${data.evaluation}, labels ${data.labels}` : data.evaluation]);
  rows.push(
    ['Target', report.target],
    ['Mode', report.mode],
    ['Allocation', report.allocation],
    [
      'Kept counts',
      report.roundTo > 1 || report.convolutionRoundTo > 1 ? `multiples of ${describeKeptCounts(report)}` : 'any',
    ],
  );
  if (report.outputs) rows.push(['Outputs read as', describeOutputs(report.outputs)]);
  if (report.search) rows.push(['Search', describeSearch(report.search)]);
  if (report.latencySearch) rows.push(['Latency target', describeLatencySearch(report.latencySearch)]);
  if (report.estimate) rows.push(['Estimate', describeEstimate(report.estimate, report.search?.metric)]);
  rows.push(['Tool', `${report.tool.name} ${report.tool.version}`], ['Date', report.date]);
  return rows;
}

function channelChart(report: CompressionReport): ChannelChart {
  const errors = report.spaces.map((s) => s.error).filter((e): e is number => e !== null);
  const max = Math.max(0, ...errors);
  const scale = max > 0 ? max : 1;
  const intact = (s: CompressionReport['spaces'][number]) => !s.prunable || s.error === null;
  return {
    labels: report.spaces.map((s) => `#${s.id}`),
    kept: report.spaces.map((s) => s.kept),
    removed: report.spaces.map((s) => s.channels - s.kept),
    colors: report.spaces.map((s) => (intact(s) ? INTACT_COLOR : errorColor(s.error! / scale))),
    removedColor: REMOVED_COLOR,
    tooltips: report.spaces.map((s) => [
      `producers: ${names(s.producers)}`,
      `kept ${s.kept} of ${s.channels} channels`,
      intact(s) ? `intact: ${s.reason ?? 'not pruned'}` : `error ${formatError(s.error)}`,
    ]),
    errorMax: formatError(max),
    gradient: `linear-gradient(to right, ${[0, 0.5, 1].map(errorColor).join(', ')})`,
  };
}

function spaceTable(report: CompressionReport): Table {
  return {
    header: ['Space', 'Producers', 'Consumers', 'Channels', 'Kept', 'Kept %', 'FLOPs share', 'Error', 'Status'],
    numeric: [true, false, false, true, true, true, true, true, false],
    rows: report.spaces.map((s) => ({
      cells: [
        `#${s.id}`,
        names(s.producers),
        names(s.consumers),
        String(s.channels),
        String(s.kept),
        s.channels > 0 ? percent(s.kept / s.channels) : '–',
        percent(s.flopsShare),
        formatError(s.error),
        s.prunable ? 'prunable' : `intact: ${s.reason ?? 'not prunable'}`,
      ],
      marked: !s.prunable,
    })),
  };
}

function timings(report: CompressionReport): PageData['timings'] {
  const entries = Object.entries(report.timingsSeconds);
  const total = entries.reduce((sum, [, s]) => sum + s, 0);
  return {
    stages: entries.map(([stage]) => stage),
    seconds: entries.map(([, s]) => s),
    total: `${total.toFixed(1)} s`,
  };
}

type Metric = 'agreement' | 'estimated' | 'accuracy' | 'latencyRatio' | 'params';
const SERIES: { key: Metric; label: string; color: string; dashed: boolean }[] = [
  { key: 'agreement', label: 'agreement', color: '#2563eb', dashed: false },
  { key: 'estimated', label: 'estimated agreement', color: '#2563eb', dashed: true },
  { key: 'accuracy', label: 'accuracy', color: '#16a34a', dashed: false },
  { key: 'latencyRatio', label: 'latency ratio', color: '#ea580c', dashed: false },
  { key: 'params', label: 'parameters (fraction)', color: '#7c3aed', dashed: true },
];

function sweepView(sweep: SweepPoint[], chosen: number | undefined): SweepView {
  // Drawn left to right by FLOPs; the table keeps the order the sweep ran in.
  const order = sweep.map((_, i) => i).sort((a, b) => sweep[a].flops - sweep[b].flops);
  const series = SERIES.filter((s) => sweep.some((p) => p[s.key] !== undefined)).map((s) => ({
    label: s.label,
    color: s.color,
    dashed: s.dashed,
    points: order.map((i) => ({ x: sweep[i].flops, y: sweep[i][s.key] ?? null })),
  }));
  const pick = chosen !== undefined ? sweep[chosen] : undefined;
  return {
    series,
    chosen: pick && {
      label: `chosen: target ${pick.target}`,
      points: SERIES.filter((s) => series.some((t) => t.label === s.label) && pick[s.key] !== undefined).map((s) => ({
        x: pick.flops,
        y: pick[s.key]!,
      })),
    },
    tooltips: order.map(
      (i) => `target ${sweep[i].target}: FLOPs ${percent(sweep[i].flops)}${i === chosen ? ' (chosen)' : ''}`,
    ),
    table: {
      header: [
        'Target',
        'FLOPs',
        'Parameters',
        'Agreement',
        'Estimated',
        'Accuracy',
        'Cosine',
        'Deviation',
        'Latency ratio',
        'Time',
        '',
      ],
      numeric: [true, true, true, true, true, true, true, true, true, true, false],
      rows: sweep.map((p, i) => {
        const c = sweepCells(p, '–');
        const measured = [c.agreement, c.estimated, c.accuracy, c.cosine, c.deviation, c.latency, c.seconds];
        return {
          cells: [c.target, c.flops, c.params, ...measured, i === chosen ? 'chosen' : ''],
          marked: i === chosen,
        };
      }),
    },
  };
}
