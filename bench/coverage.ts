// npm run coverage [-- folder]: how idprune handles real architectures (torchvision models with
// random weights, exported by scripts/export_coverage_models.py). Per model: channel spaces found
// and prunable, the share of FLOPs prunable spaces scale, an exactness check of keep-everything
// surgery, and compression to half the FLOPs in corrected and plain mode. Each step runs in a
// child process with a time budget, so one slow or crashing model never stops the run.
// Writes bench/coverage.md and bench/coverage.json.
//
// Usage: tsx bench/coverage.ts [folder] [--models a,b] [--budget-s N (per step, default 180)] [--plain-only a,b] |
// --render
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { makeDataset, sampleDims } from '../src/calibrate/dataset.ts';
import { type NdArray, parseNpy } from '../src/data/npy.ts';
import type { CorrectionMode } from '../src/compress/options.ts';
import { compressModel } from '../src/compress/pipeline.ts';
import { readTensors } from '../src/compress/space-tensors.ts';
import { applySurgery, type SpaceDecision } from '../src/compress/surgery.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { type Matrix, zeros } from '../src/linalg/matrix.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';
import type { HostTensor } from '../src/onnx/runtime.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';

const TARGET = 0.5;
const FALLBACK_TARGET = 0.8;
const CHECK_SAMPLES = 8;

// ---------------------------------------------------------------------------------------------
// Worker: one job in a process of its own; prints one JSON line prefixed with RESULT.

interface Job {
  kind: 'analyze' | 'compress';
  folder: string;
  model: string;
  mode?: CorrectionMode;
}

function identity(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

/** The calibration data: <model>.calib.npy where a model has its own layout (channels-last), else calib.npy. */
function loadCalib(folder: string, model?: string): NdArray {
  const own = model && existsSync(join(folder, `${model}.calib.npy`)) ? `${model}.calib.npy` : 'calib.npy';
  return parseNpy(new Uint8Array(readFileSync(join(folder, own))), own);
}

/** The first CHECK_SAMPLES calibration samples, as the model's `input`. */
function checkFeeds(calib: NdArray, inputName: string): Record<string, HostTensor> {
  const per = calib.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = (calib.data as Float32Array).slice(0, CHECK_SAMPLES * per);
  return { [inputName]: { type: 'float32', dims: [CHECK_SAMPLES, ...calib.shape.slice(1)], data } };
}

async function runOnce(bytes: Uint8Array, feeds: Record<string, HostTensor>): Promise<Float32Array> {
  const session = await nodeRuntime.load(bytes);
  try {
    const out = await session.run(feeds);
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function message(err: unknown): string {
  const e = err as Error;
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err)}`;
}

async function analyzeJob(job: Job) {
  const bytes = new Uint8Array(readFileSync(join(job.folder, `${job.model}.onnx`)));
  const calib = loadCalib(job.folder, job.model);
  const model = decodeModel(bytes, job.model);
  const dims = sampleDims(makeDataset(new Map([['input', calib]]), inputSpecs(model), 'calib'));
  const start = performance.now();
  const analysis = await analyzeModel(model, nodeRuntime, { sampleDims: dims });
  const analysisSeconds = (performance.now() - start) / 1000;
  const prunable = analysis.spaces.filter((s) => s.prunable);
  const scaled = analysis.cost.flops.filter((t) => t.spaces.length > 0).reduce((a, t) => a + t.value, 0);
  const reasons: Record<string, number> = {};
  for (const s of analysis.spaces) if (!s.prunable) reasons[s.reason ?? '?'] = (reasons[s.reason ?? '?'] ?? 0) + 1;
  const result: Record<string, unknown> = {
    spaces: analysis.spaces.length,
    prunable: prunable.length,
    flops: analysis.flops,
    params: analysis.params,
    prunableFlopsShare: scaled / analysis.flops,
    analysisSeconds,
    notPrunableReasons: reasons,
  };
  try {
    if (prunable.length === 0) throw new Error('no prunable space');
    const decisions: SpaceDecision[] = prunable.map((space) => ({
      space,
      keep: Array.from({ length: space.channels }, (_, c) => c),
      interpolation: new Map(readTensors(space).map((t) => [t, identity(space.channels)])),
    }));
    const kept = encodeModel(await applySurgery(model, decisions));
    const feeds = checkFeeds(calib, analysis.inputs[0].name);
    const before = await runOnce(bytes, feeds);
    const after = await runOnce(kept, feeds);
    result.keepAllRelL2 = relL2(before, after);
  } catch (err) {
    result.keepAllError = message(err);
  }
  return result;
}

async function compressOnce(
  bytes: Uint8Array,
  calib: NdArray,
  mode: CorrectionMode,
  fraction: number,
  flops0: number,
  dims: Record<string, number[]>,
) {
  const start = performance.now();
  const result = await compressModel(
    decodeModel(bytes),
    (a) => makeDataset(new Map([['input', calib]]), a.inputs, 'calib'),
    nodeRuntime,
    {
      budget: { kind: 'flops', fraction },
      mode,
    },
  );
  const seconds = (performance.now() - start) / 1000;
  const out: Record<string, unknown> = { target: fraction, seconds, passes: result.passes, timings: result.timings };
  out.spacesPruned = result.outcomes.filter((o) => o.kept < o.space.channels).length;
  out.channelsKept = result.outcomes.reduce((a, o) => a + o.kept, 0);
  out.channelsPrunable = result.outcomes.reduce((a, o) => a + o.space.channels, 0);
  out.bytes = result.bytes.length;
  try {
    const after = await analyzeModel(decodeModel(result.bytes, 'output'), nodeRuntime, { sampleDims: dims });
    out.flopsFraction = after.flops / flops0;
  } catch (err) {
    out.outputAnalysisError = message(err);
  }
  try {
    const feeds = checkFeeds(calib, 'input');
    const before = await runOnce(bytes, feeds);
    const after = await runOnce(result.bytes, feeds);
    out.runs = true;
    out.finite = after.every(Number.isFinite);
    out.relL2VsOriginal = relL2(before, after);
  } catch (err) {
    out.runs = false;
    out.runError = message(err);
  }
  return out;
}

async function compressJob(job: Job) {
  const bytes = new Uint8Array(readFileSync(join(job.folder, `${job.model}.onnx`)));
  const calib = loadCalib(job.folder, job.model);
  const original = decodeModel(bytes, job.model);
  const dims = sampleDims(makeDataset(new Map([['input', calib]]), inputSpecs(original), 'calib'));
  const flops0 = (await analyzeModel(original, nodeRuntime, { sampleDims: dims })).flops;
  try {
    return await compressOnce(bytes, calib, job.mode!, TARGET, flops0, dims);
  } catch (err) {
    const text = message(err);
    const match = /not reachable.*leaves ([\d.]+) of the original/.exec(text);
    if (!match) return { target: TARGET, error: text };
    const unreachable = { target: TARGET, error: text, minReachable: Number(match[1]) };
    try {
      return { ...unreachable, fallback: await compressOnce(bytes, calib, job.mode!, FALLBACK_TARGET, flops0, dims) };
    } catch (err2) {
      return { ...unreachable, fallback: { target: FALLBACK_TARGET, error: message(err2) } };
    }
  }
}

async function worker(job: Job) {
  let result: unknown;
  try {
    result = job.kind === 'analyze' ? await analyzeJob(job) : await compressJob(job);
  } catch (err) {
    result = { error: message(err) };
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Orchestrator.

/** analyzeJob's result, read back from the worker's JSON. */
interface AnalyzeResult {
  error?: string;
  spaces: number;
  prunable: number;
  prunableFlopsShare: number;
  keepAllRelL2?: number;
  keepAllError?: string;
  notPrunableReasons: Record<string, number>;
}

/** compressOnce's result, or the error that stopped it. */
interface CompressAttempt {
  error?: string;
  seconds: number;
  flopsFraction?: number;
  runs?: boolean;
  finite?: boolean;
  runError?: string;
  outputAnalysisError?: string;
}

/** compressJob's result: where TARGET is not reachable, the minimum and an attempt at FALLBACK_TARGET. */
interface CompressJobResult extends CompressAttempt {
  minReachable?: number;
  fallback?: CompressAttempt;
}

interface Outcome<R> {
  result?: R;
  error?: string;
  timedOut?: boolean;
  wallSeconds: number;
}

/** One model's line of coverage.json. */
interface Row {
  model: string;
  analyze?: Outcome<AnalyzeResult>;
  corrected?: Outcome<CompressJobResult>;
  plain?: Outcome<CompressJobResult>;
  correctedSkipped?: string;
}

function runJob<R>(job: Job, budgetSeconds: number): Promise<Outcome<R>> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], '--worker', JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, budgetSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - start) / 1000;
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      if (timedOut) resolve({ timedOut: true, wallSeconds, error: `skipped: exceeded the ${budgetSeconds} s budget` });
      else if (line) resolve({ result: JSON.parse(line.slice(7)), wallSeconds });
      else
        resolve({
          wallSeconds,
          error: `worker exited (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
        });
    });
  });
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const sci = (x: number) => x.toExponential(1);

function compressCell(o: Outcome<CompressJobResult> | undefined, note: string[], label: string): string {
  if (!o) return 'not run';
  if (o.error) {
    note.push(`${label}: ${o.error}`);
    return o.timedOut ? `skipped (> budget)` : 'error';
  }
  const r = o.result!;
  const describe = (c: CompressAttempt) => {
    if (c.error) return `error`;
    const flops = c.flopsFraction !== undefined ? c.flopsFraction.toFixed(3) : '?';
    const runs = c.runs ? (c.finite ? 'yes' : 'NOT finite') : 'does not run';
    return `${flops} / ${c.seconds.toFixed(1)} s / ${runs}`;
  };
  if (r.error && r.minReachable === undefined) {
    note.push(`${label}: ${r.error}`);
    return 'error';
  }
  if (r.minReachable !== undefined) {
    const fallback = r.fallback!;
    note.push(`${label}: 0.5 not reachable (minimum ${r.minReachable})`);
    if (fallback.error) note.push(`${label} at 0.8: ${fallback.error}`);
    return `unreachable (min ${r.minReachable}); at 0.8: ${describe(fallback)}`;
  }
  if (r.runError) note.push(`${label}: ${r.runError}`);
  if (r.outputAnalysisError) note.push(`${label}: ${r.outputAnalysisError}`);
  return describe(r);
}

/** Why a space is left intact, with node and tensor names removed, so that like reasons group. */
function reasonKind(reason: string): string {
  return reason
    .replace(/^(\w+) "[^"]*":/, '$1:')
    .replace(/"[^"]*"/g, '…')
    .replace(/\s+/g, ' ')
    .trim();
}

interface Meta {
  date: string;
  node: string;
  cpu: string;
  folder: string;
  calibration: { shape: number[]; dtype: string };
  inputResolution: string;
  target: number;
  fallbackTarget: number;
  budgetSeconds: number;
  plainOnly: string[];
  totalSeconds: number;
}

function writeOutputs(meta: Meta, rows: Row[]) {
  writeFileSync(new URL('./coverage.json', import.meta.url), `${JSON.stringify({ meta, rows }, null, 2)}\n`);
  const plainOnlyText =
    meta.plainOnly.length > 0
      ? `${meta.plainOnly.join(', ')} ran in plain mode only (time)`
      : 'every model ran in both modes';
  const lines = [
    '# idprune coverage on torchvision architectures',
    '',
    `Generated by \`npm run coverage\` on ${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cpu}; ` +
      `ONNX Runtime (onnxruntime-node) on CPU; whole run ${meta.totalSeconds.toFixed(0)} s.`,
    '',
    'Commands:',
    '',
    '```sh',
    '/usr/bin/python3 scripts/export_coverage_models.py /tmp/idprune-coverage   # torch 1.13, torchvision 0.14',
    'npx tsx bench/coverage.ts /tmp/idprune-coverage   # or: npm run coverage -- /tmp/idprune-coverage',
    '```',
    '',
    'Models: torchvision, **random weights** (`torch.manual_seed(0)`, eval mode), ONNX opset 13, ' +
      `input **1×3×${meta.inputResolution}** (dynamic batch). ` +
      `Calibration: ${meta.calibration.shape.join('×')} ${meta.calibration.dtype} standard normal (seed 0).` +
      ' The numbers describe how idprune handles each structure, not accuracy.',
    '',
    '- **spaces**: prunable / total channel spaces found by `analyzeModel`.',
    "- **prunable FLOPs**: share of the model's MACs (at this input size) in layers that some prunable space scales.",
    '- **keep-all rel. L2**: surgery keeping every channel of every prunable space with identity interpolation; ' +
      `‖y − y₀‖/‖y₀‖ of the logits on ${CHECK_SAMPLES} calibration samples (should be < 1e-4).`,
    `- **compress ${meta.target}**: \`compressModel\` with \`{ kind: 'flops', fraction: ${meta.target} }\` — ` +
      'FLOPs fraction achieved (`analyzeModel` of the output) / wall time of `compressModel` / ' +
      `whether the output loads in ONNX Runtime and gives finite logits on ${CHECK_SAMPLES} samples. ` +
      `When ${meta.target} is not reachable: the minimum reachable fraction, and a retry at ${meta.fallbackTarget}.`,
    `- Each step ran in a process of its own with a ${meta.budgetSeconds} s budget, one at a time; ${plainOnlyText}.`,
    '- **notes**: why the remaining spaces are left intact (count × reason, names removed), and any error.',
    '',
    '| model | spaces (prunable/total) | prunable FLOPs | keep-all rel. L2 | ' +
      `compress ${meta.target} corrected: FLOPs / time / finite | ` +
      `compress ${meta.target} plain: FLOPs / time / finite | notes |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    const notes: string[] = [];
    let spaces = '?';
    let share = '?';
    let keepAll = '?';
    const a = row.analyze;
    if (a?.error) notes.push(`analysis: ${a.error}`);
    else if (a?.result?.error) notes.push(`analysis: ${a.result.error}`);
    else if (a?.result) {
      const r = a.result;
      spaces = `${r.prunable}/${r.spaces}`;
      share = pct(r.prunableFlopsShare);
      keepAll = r.keepAllRelL2 === undefined ? 'error' : r.keepAllRelL2 === 0 ? '0' : sci(r.keepAllRelL2);
      if (r.keepAllError) notes.push(`keep-all: ${r.keepAllError}`);
      const why = new Map<string, number>();
      for (const [reason, n] of Object.entries(r.notPrunableReasons)) {
        const kind = reasonKind(reason);
        why.set(kind, (why.get(kind) ?? 0) + n);
      }
      if (why.size > 0) notes.push(`intact: ${[...why].map(([k, n]) => `${n}× ${k}`).join('; ')}`);
    }
    const corrected = row.correctedSkipped
      ? 'skipped (plain only, time)'
      : compressCell(row.corrected, notes, 'corrected');
    const plain = compressCell(row.plain, notes, 'plain');
    const cells = [
      row.model,
      spaces,
      share,
      keepAll,
      corrected,
      plain,
      notes.join('. ').replaceAll('|', '\\|').replaceAll('\n', ' '),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('');
  writeFileSync(new URL('./coverage.md', import.meta.url), lines.join('\n'));
}

/** The export script's order first, then anything else in the folder. */
const ORDER = [
  'resnet18',
  'resnet50',
  'mobilenet_v2',
  'mobilenet_v3_small',
  'efficientnet_b0',
  'squeezenet1_1',
  'densenet121',
  'shufflenet_v2_x1_0',
  'regnet_y_400mf',
  'convnext_tiny',
];

async function main() {
  if (process.argv.includes('--render')) {
    // Rewrite coverage.md from coverage.json without running anything.
    const saved = JSON.parse(readFileSync(new URL('./coverage.json', import.meta.url), 'utf8'));
    writeOutputs(saved.meta, saved.rows);
    return;
  }
  const positional = process.argv
    .slice(2)
    .filter((a, i, all) => !a.startsWith('--') && !(i > 0 && all[i - 1].startsWith('--')));
  const folder = positional[0] ?? '/tmp/idprune-coverage';
  const budget = Number(flag('--budget-s') ?? 180);
  // --plain-only a,b: plain mode alone for these models, where time is short.
  const plainOnly = (flag('--plain-only') ?? '').split(',').filter(Boolean);
  if (!existsSync(join(folder, 'calib.npy')))
    throw new Error(`${folder}/calib.npy not found: run scripts/export_coverage_models.py first`);
  const rank = (m: string) => (ORDER.includes(m) ? ORDER.indexOf(m) : ORDER.length);
  const available = readdirSync(folder)
    .filter((f) => f.endsWith('.onnx'))
    .map((f) => basename(f, '.onnx'))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const models = flag('--models')?.split(',') ?? available;
  const calib = loadCalib(folder);
  const started = new Date();
  const t0 = performance.now();
  const meta = (): Meta => ({
    date: started.toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? '?'} (${cpus().length} logical CPUs visible)`,
    folder,
    calibration: { shape: calib.shape, dtype: calib.dtype },
    inputResolution: calib.shape.slice(2).join('×'),
    target: TARGET,
    fallbackTarget: FALLBACK_TARGET,
    budgetSeconds: budget,
    plainOnly,
    totalSeconds: (performance.now() - t0) / 1000,
  });

  const rows: Row[] = [];
  for (const model of models) {
    const row: Row = { model };
    rows.push(row);
    console.log(`${model}: analysis + keep-everything check`);
    row.analyze = await runJob<AnalyzeResult>({ kind: 'analyze', folder, model }, budget);
    const modes: CorrectionMode[] = plainOnly.includes(model) ? ['plain'] : ['corrected', 'plain'];
    if (plainOnly.includes(model)) row.correctedSkipped = 'not run in corrected mode (large model, time)';
    for (const mode of modes) {
      console.log(`${model}: compress ${mode}`);
      row[mode] = await runJob<CompressJobResult>({ kind: 'compress', folder, model, mode }, budget);
    }
    console.log(`  ${JSON.stringify(row)}`);
    writeOutputs(meta(), rows);
  }
}

if (process.argv[2] === '--worker') await worker(JSON.parse(process.argv[3]) as Job);
else await main();
