// npm run bench:speed: how long compression takes next to one plain inference pass of the same data.
// Per model, in processes of their own: one ONNX Runtime pass over the calibration data (batches of
// 64), then `idprune compress … --target-flops 0.5` as a user runs it: the built CLI of dist/, which
// the npm package runs (wall time of the whole process, its peak resident memory, and the stage
// timings and passes of its JSON report). `npm run bench:speed` builds dist/ first.
// Writes bench/speed.md and bench/speed.json; models not run this time keep their earlier records.
//
// Usage: tsx bench/speed.ts [--models a,b] [--budget-s S (per model, default 3600)]
// The ResNet-50, MobileNetV3 and BERT models come from scripts/make_speed_models.py (.cache/speed/).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CNN_FIXTURES, fixturePath } from './fixtures.ts';
import { commit, option } from './run-info.ts';

interface Model {
  name: string;
  model: string;
  calib: string;
  /** Made by a script, not committed: skipped when absent unless asked for. */
  generated?: boolean;
}

const speedDir = new URL('../.cache/speed/', import.meta.url).pathname;
const generated = (name: string, data: string): Model => ({
  name,
  model: `${speedDir}${name}/model.onnx`,
  calib: `${speedDir}${name}/${data}`,
  generated: true,
});
const MODELS: Model[] = [
  // The image fixtures (the ViT too) all calibrate with the same Fashion-MNIST images.
  ...[...CNN_FIXTURES, 'vit'].map((name) => ({
    name,
    model: fixturePath(`${name}.onnx`),
    calib: fixturePath('calib.npy'),
  })),
  generated('resnet50', 'calib.npy'),
  generated('mobilenetv3', 'calib.npy'),
  generated('bert', 'calib.npz'),
];

interface SpeedRecord {
  model: string;
  date: string;
  commit?: string;
  machine: string;
  failure?: string;
  calibrationSamples?: number;
  pass?: { batchSize: number; loadSeconds: number; seconds: number; peakRssGB: number };
  compress?: {
    wallSeconds: number;
    passes?: number;
    peakRssGB?: number;
    flopsKept?: number;
    timingsSeconds?: Record<string, number>;
  };
  /** Compress wall time ÷ plain pass time. */
  ratio?: number;
}

const benchDir = new URL('./', import.meta.url).pathname;
const logDir = `${benchDir}out/speed/`;
const builtCli = new URL('../dist/cli/main.js', import.meta.url).pathname;
const GB = 2 ** 30;

/** The high-water mark of a running process's resident memory, in bytes. */
function vmHwm(pid: number): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface ChildResult {
  stdout: string;
  wallSeconds: number;
  failure?: string;
  /** Read just before a child over its budget is killed (it never reaches its exit handler). */
  peakRssBytes?: number;
}

/** Runs `node …nodeArgs`, output logged to `log`, killed past the budget. */
function runChild(
  nodeArgs: string[],
  log: string,
  budgetSeconds: number,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(process.execPath, nodeArgs, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const file = createWriteStream(log);
    let stdout = '';
    let lastError = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      file.write(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      file.write(chunk);
      lastError = chunk.trim().split('\n').filter(Boolean).pop() ?? lastError;
    });
    let timedOut = false;
    let peakRssBytes: number | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      peakRssBytes = vmHwm(child.pid!);
      child.kill('SIGKILL');
    }, budgetSeconds * 1000);
    child.on('close', (code, signal) => {
      const wallSeconds = (performance.now() - start) / 1000;
      clearTimeout(timer);
      file.end();
      let failure: string | undefined;
      if (timedOut) failure = `stopped after the ${budgetSeconds} s budget`;
      else if (code !== 0) failure = `exited (${signal ?? `code ${code}`}): ${lastError.slice(0, 200)}`;
      resolve({ stdout, wallSeconds, failure, peakRssBytes });
    });
  });
}

async function measure(m: Model, budgetSeconds: number, base: Omit<SpeedRecord, 'model'>): Promise<SpeedRecord> {
  const record: SpeedRecord = { model: m.name, ...base };
  if (!existsSync(m.model) || !existsSync(m.calib))
    return { ...record, failure: 'not generated: run /usr/bin/python3 scripts/make_speed_models.py' };

  console.error(`== ${m.name}: one plain pass`);
  const pass = await runChild(
    ['--import', 'tsx', `${benchDir}speed-pass.ts`, m.model, m.calib],
    `${logDir}${m.name}-pass.log`,
    budgetSeconds,
  );
  if (pass.failure) return { ...record, failure: `plain pass ${pass.failure}` };
  const p = JSON.parse(pass.stdout.trim().split('\n').pop()!);
  record.calibrationSamples = p.samples;
  record.pass = {
    batchSize: p.batchSize,
    loadSeconds: p.loadSeconds,
    seconds: p.seconds,
    peakRssGB: p.peakRssBytes / GB,
  };
  console.error(`   ${p.samples} samples: ${p.seconds.toFixed(2)} s (+ ${p.loadSeconds.toFixed(2)} s load)`);

  console.error(`== ${m.name}: compress --target-flops 0.5`);
  const tmp = mkdtempSync(join(tmpdir(), 'idprune-speed-'));
  try {
    const [output, json, rss] = ['out.onnx', 'report.json', 'rss'].map((f) => join(tmp, f));
    const cli = [
      'compress',
      m.model,
      '--calib',
      m.calib,
      '-o',
      output,
      '--target-flops',
      '0.5',
      '--json',
      json,
      '--force',
    ];
    const run = await runChild(
      ['--import', `${benchDir}peak-rss.mjs`, builtCli, ...cli],
      `${logDir}${m.name}-compress.log`,
      budgetSeconds,
      { SPEED_RSS_FILE: rss },
    );
    const rssBytes = existsSync(rss) ? Number(readFileSync(rss, 'utf8')) : run.peakRssBytes;
    record.compress = { wallSeconds: run.wallSeconds, peakRssGB: rssBytes === undefined ? undefined : rssBytes / GB };
    if (run.failure) return { ...record, failure: `compress ${run.failure}` };
    const report = JSON.parse(readFileSync(json, 'utf8'));
    record.compress = {
      ...record.compress,
      passes: report.passesOverData,
      flopsKept: report.after.flops / report.before.flops,
      timingsSeconds: report.timingsSeconds,
    };
    record.ratio = run.wallSeconds / p.seconds;
    console.error(
      `   ${run.wallSeconds.toFixed(1)} s = ${record.ratio.toFixed(1)} passes' time, ` +
        `${report.passesOverData} passes, peak RSS ${record.compress.peakRssGB?.toFixed(2)} GB`,
    );
    return record;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const fixed = (x: number | undefined, digits: number) => (x === undefined ? '' : x.toFixed(digits));

function markdown(records: SpeedRecord[]): string {
  const lines = [
    '# Compression speed',
    '',
    'Written by `npm run bench:speed` (bench/speed.ts). ' +
      'Per model, each in a process of its own: "one pass" is one plain',
    'ONNX Runtime pass of the calibration data through the original model, batches of 64, model load excluded (shown',
    'apart); "compress" is the wall time of the whole ' +
      '`idprune compress <model> --calib <data> --target-flops 0.5` process',
    '(the built CLI of dist/ that the npm package runs: ' +
      'Node start, reading, analysis, compression, writing the model and',
    'report); "ratio" = compress ÷ one pass, both from',
    'the same run. ' +
      '"passes" is the report\'s passesOverData (the statistics pass and the correction rounds; the sensitivity',
    'measurements of the measured allocation run on part of the data and are not counted). Peak RSS: the compress',
    "process's resident memory high-water mark. " +
      'Stage timings are the report\'s timingsSeconds; "outside the stages" is',
    'the rest of the wall time. Models: the trained fixtures of test/fixtures/ (Fashion-MNIST calibration images), and',
    'ResNet-50, MobileNetV3-Large and a BERT-base-sized encoder with random weights (scripts/make_speed_models.py).',
    'Timings on a shared machine vary from run to run; each record names its machine, date and commit.',
    '',
    '| model | calibration samples | one pass (s) | model load (s) | compress (s) | ratio | passes | peak RSS (GB) | ' +
      'date | commit |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const r of records) {
    const compress = r.compress
      ? `${fixed(r.compress.wallSeconds, 1)}${r.failure ? ` (${r.failure})` : ''}`
      : (r.failure ?? '');
    const cells = [
      r.model,
      r.calibrationSamples ?? '',
      fixed(r.pass?.seconds, 2),
      fixed(r.pass?.loadSeconds, 2),
      compress,
      r.ratio ? `${r.ratio.toFixed(1)}×` : '',
      r.compress?.passes ?? '',
      fixed(r.compress?.peakRssGB, 2),
      r.date,
      r.commit ?? '',
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const machines = [...new Set(records.map((r) => r.machine))];
  lines.push('', `Machine${machines.length > 1 ? 's' : ''}: ${machines.join('; ')}.`);
  for (const r of records) {
    const timings = r.compress?.timingsSeconds;
    if (!timings) continue;
    const wall = r.compress!.wallSeconds;
    const outside = wall - Object.values(timings).reduce((a, b) => a + b, 0);
    lines.push(
      '',
      `## ${r.model}: stage timings`,
      '',
      '| stage | seconds | share of compress |',
      '| --- | ---: | ---: |',
    );
    for (const [stage, s] of [...Object.entries(timings), ['outside the stages', outside] as const])
      lines.push(`| ${stage} | ${s.toFixed(2)} | ${((100 * s) / wall).toFixed(1)}% |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main() {
  const args = process.argv.slice(2);
  const known = MODELS.map((m) => m.name);
  const selected = option(args, '--models')?.split(',');
  const unknown = (selected ?? []).filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`unknown model ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const budget = Number(option(args, '--budget-s') ?? 3600);
  if (!(budget > 0)) throw new Error('--budget-s takes a positive number of seconds');

  const chosen = MODELS.filter((m) => (selected ? selected.includes(m.name) : !m.generated || existsSync(m.model)));
  mkdirSync(logDir, { recursive: true });
  const jsonPath = `${benchDir}speed.json`;
  const earlier: SpeedRecord[] = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')).records : [];
  const records = new Map(earlier.map((r) => [r.model, r]));
  const ordered = () => known.filter((name) => records.has(name)).map((name) => records.get(name)!);
  const base = {
    date: new Date().toISOString().slice(0, 10),
    commit: commit(),
    machine: `${process.platform} ${process.arch}, ${cpus().length} cores, Node ${process.version}`,
  };
  for (const m of chosen) {
    const start = performance.now();
    const record = await measure(m, budget, base);
    records.set(m.name, record);
    const failure = record.failure ? ` (${record.failure})` : '';
    console.error(`== ${m.name}: done in ${((performance.now() - start) / 1000).toFixed(0)} s${failure}`);
    // Rewritten after every model, so a long run leaves what it has measured so far.
    writeFileSync(jsonPath, `${JSON.stringify({ records: ordered() }, null, 2)}\n`);
    writeFileSync(`${benchDir}speed.md`, markdown(ordered()));
  }
  console.log(markdown(ordered()));
}

main().catch((err) => {
  console.error(`bench:speed: ${(err as Error).message}`);
  process.exit(1);
});
