// npm run fuzz: mutated inputs of every kind the readers take, read as the library reads them.
// The property: a damaged input is refused with one IdpruneError line, or read as a valid file of
// its format; never an internal error, never a hang, and never, for formats that guard their
// contents (zip CRC-32, the statistics file's SHA-256), other contents from an altered file.
// Usage: tsx test/fuzz/run.ts [--cases N (default 1000)] [--seed S (default: the time)] [--workers W]
import { spawn } from 'node:child_process';
import type { Outcome } from './worker.ts';

export interface CaseResult {
  n: number;
  kind: string;
  seed: string;
  guarded: boolean;
  changed: boolean;
  outcome: Outcome | 'hang';
  message: string;
}

export interface FuzzRun {
  results: CaseResult[];
  /** Cases that break the property: internal errors, hangs, guarded files read as other contents. */
  findings: CaseResult[];
}

const isFinding = (r: CaseResult) =>
  r.outcome === 'internal' || r.outcome === 'hang' || (r.guarded && r.changed && r.outcome === 'different');

/** Runs cases [first, first + count) in one worker; a case that runs past `caseSeconds` is a hang. */
function runWorker(seed: number, first: number, count: number, caseSeconds: number): Promise<CaseResult[]> {
  return new Promise((resolve) => {
    const worker = new URL('./worker.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', worker, String(seed), String(first), String(count)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const results: CaseResult[] = [];
    let started = -1;
    let timer: NodeJS.Timeout | undefined;
    let pending = '';
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => child.kill('SIGKILL'), caseSeconds * 1000);
    };
    arm();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('START ')) {
          started = Number(line.slice(6));
          arm();
        } else if (line.startsWith('{')) results.push(JSON.parse(line));
      }
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', async (code) => {
      clearTimeout(timer);
      const done = results.at(-1)?.n ?? first - 1;
      if (done >= first + count - 1) return resolve(results);
      // The worker died or was stopped: the case it had started is the finding; go on after it.
      const stuck = started > done ? started : done + 1;
      const outcome = code === null ? 'hang' : 'internal';
      const message = code === null ? `no answer in ${caseSeconds} s` : `worker exited ${code}: ${stderr.slice(-300)}`;
      results.push({ n: stuck, kind: '?', seed: '?', guarded: false, changed: true, outcome, message });
      const rest = first + count - (stuck + 1);
      resolve(rest > 0 ? [...results, ...(await runWorker(seed, stuck + 1, rest, caseSeconds))] : results);
    });
  });
}

export async function runFuzz(options: { cases: number; seed: number; workers?: number; caseSeconds?: number }) {
  const workers = Math.max(1, Math.min(options.workers ?? 2, options.cases));
  const share = Math.ceil(options.cases / workers);
  const runs = Array.from({ length: workers }, (_, w) => {
    const first = w * share;
    const count = Math.min(share, options.cases - first);
    return count > 0 ? runWorker(options.seed, first, count, options.caseSeconds ?? 30) : Promise.resolve([]);
  });
  const results = (await Promise.all(runs)).flat().sort((a, b) => a.n - b.n);
  return { results, findings: results.filter(isFinding) } satisfies FuzzRun;
}

/** Cases per kind and outcome, as a markdown table. */
export function summary(run: FuzzRun): string {
  const outcomes = ['refused', 'same', 'different', 'internal', 'hang'] as const;
  const kinds = [...new Set(run.results.map((r) => r.kind))].sort();
  const rows = kinds.map((kind) => {
    const of = run.results.filter((r) => r.kind === kind);
    return `| ${kind} | ${of.length} | ${outcomes.map((o) => of.filter((r) => r.outcome === o).length).join(' | ')} |`;
  });
  return [
    `| kind | cases | ${outcomes.join(' | ')} |`,
    `| --- | --- | ${outcomes.map(() => '---').join(' | ')} |`,
    ...rows,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const option = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const seed = option('--seed') ?? Date.now() % 1_000_000;
  const cases = option('--cases') ?? 1000;
  const start = performance.now();
  const run = await runFuzz({ cases, seed, workers: option('--workers') });
  console.log(`${cases} cases from seed ${seed} in ${((performance.now() - start) / 1000).toFixed(0)} s`);
  console.log(summary(run));
  for (const f of run.findings) console.log(`finding: case ${f.n} (${f.kind} ${f.seed}): ${f.outcome}: ${f.message}`);
  process.exitCode = run.findings.length > 0 ? 1 : 0;
}
