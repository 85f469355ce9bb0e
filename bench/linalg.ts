// Times the blocked float64 kernels of src/linalg/ against the triple loops they replaced
// (test/helpers/naive-linalg.ts), in one run, and writes bench/linalg.md.
//   tsx bench/linalg.ts               n = 256, 1024, 2304, and a 4608 solve with 2304 right-hand sides
//   tsx bench/linalg.ts --skip-large  without the 4608 solve (about half the time)
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { gram, type Matrix, multiply } from '../src/linalg/matrix.ts';
import { pivotedCholesky } from '../src/linalg/pivoted-cholesky.ts';
import { solveSymmetric } from '../src/linalg/solve.ts';
import { naiveGram, naiveMultiply, naivePivotedCholesky, naiveSolveSymmetric } from '../test/helpers/naive-linalg.ts';

interface Case {
  kernel: string;
  n: number;
  shape: string;
  naive: () => Float64Array;
  blocked: () => Float64Array | Promise<Float64Array>;
}

interface Result {
  kernel: string;
  n: number;
  shape: string;
  naiveSeconds: number;
  blockedSeconds: number;
  difference: number;
}

/** Uniform in [−0.5, 0.5), from a fixed linear congruential sequence. */
function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const data = new Float64Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 32 - 0.5;
  }
  return { rows, cols, data };
}

/** Random symmetric with n on the diagonal: positive definite by diagonal dominance, and cheap to make at n = 4608. */
function positiveDefinite(n: number, seed: number): Matrix {
  const a = randomMatrix(n, n, seed);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) a.data[j * n + i] = a.data[i * n + j];
    a.data[i * n + i] = n;
  }
  return a;
}

function cases(sizes: readonly number[], large: boolean): Case[] {
  const out: Case[] = [];
  for (const n of sizes) {
    const a = randomMatrix(n, n, 1);
    const b = randomMatrix(n, n, 2);
    out.push({
      kernel: 'multiply A·B',
      n,
      shape: `${n}×${n} · ${n}×${n}`,
      naive: () => naiveMultiply(a, b).data,
      blocked: () => multiply(a, b).data,
    });
    out.push({
      kernel: 'gram AᵀA',
      n,
      shape: `${n}×${n}`,
      naive: () => naiveGram(a).data,
      blocked: () => gram(a).data,
    });
  }
  for (const n of sizes) out.push(solveCase(n, n / 2));
  if (large) out.push(solveCase(4608, 2304));
  for (const n of sizes) {
    const g = positiveDefinite(n, 5);
    out.push({
      kernel: 'pivotedCholesky',
      n,
      shape: `${n}×${n}, full rank`,
      naive: () => naivePivotedCholesky(g).diagonal,
      blocked: async () => (await pivotedCholesky(g)).diagonal,
    });
  }
  return out;
}

function solveCase(n: number, m: number): Case {
  const a = positiveDefinite(n, 3);
  const b = randomMatrix(n, m, 4);
  return {
    kernel: 'solveSymmetric',
    n,
    shape: `${n}×${n}, ${m} right-hand sides`,
    naive: () => naiveSolveSymmetric(a, b).data,
    blocked: () => solveSymmetric(a, b).data,
  };
}

/** Best of `reps` runs, in seconds, with the last result. */
async function time(
  f: () => Float64Array | Promise<Float64Array>,
  reps: number,
): Promise<{ seconds: number; result: Float64Array }> {
  let seconds = Infinity;
  let result: Float64Array = new Float64Array(0);
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    result = await f();
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  return { seconds, result };
}

function relativeDifference(a: Float64Array, b: Float64Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / (scale || 1);
}

async function run(c: Case): Promise<Result> {
  // Small cases are over in milliseconds: take the best of several runs (the first ones warm the JIT).
  const reps = c.n <= 256 ? 5 : 1;
  const naive = await time(c.naive, reps);
  const blocked = await time(c.blocked, reps);
  const result = {
    kernel: c.kernel,
    n: c.n,
    shape: c.shape,
    naiveSeconds: naive.seconds,
    blockedSeconds: blocked.seconds,
    difference: relativeDifference(blocked.result, naive.result),
  };
  console.log(
    `${c.kernel.padEnd(16)} ${c.shape.padEnd(30)} naive ${naive.seconds.toFixed(3)} s  ` +
      `blocked ${blocked.seconds.toFixed(3)} s  ×${(naive.seconds / blocked.seconds).toFixed(1)}`,
  );
  return result;
}

function report(results: readonly Result[], load: { before: number[]; after: number[] }): string {
  const cpu = cpus();
  const rows = results.map(
    (r) =>
      `| ${r.kernel} | ${r.shape} | ${r.naiveSeconds.toFixed(3)} | ${r.blockedSeconds.toFixed(3)} | ` +
      `**${(r.naiveSeconds / r.blockedSeconds).toFixed(1)}×** | ${r.difference.toExponential(1)} |`,
  );
  return [
    '# Linear algebra kernels: blocked vs. triple loops',
    '',
    'Written by `tsx bench/linalg.ts` (one run). "Naive" is the unblocked code src/linalg/ had before',
    '(kept in test/helpers/naive-linalg.ts); "blocked" is the current src/linalg/. Seconds are wall',
    'time, the best of 5 runs at n = 256 and a single run above. The difference column is the largest',
    'absolute difference of the two results relative to the largest entry (rounding only).',
    '',
    `Machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}, one thread.`,
    `Load average (1 min) ${load.before[0].toFixed(2)} before and ${load.after[0].toFixed(2)} after the run: ` +
      `the machine is shared, so the`,
    'timings carry noise of this order.',
    '',
    '| kernel | shape | naive (s) | blocked (s) | speedup | difference |',
    '|---|---|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
}

const large = !process.argv.includes('--skip-large');
const before = loadavg();
const results: Result[] = [];
for (const c of cases([256, 1024, 2304], large)) results.push(await run(c));
const markdown = report(results, { before, after: loadavg() });
writeFileSync(new URL('./linalg.md', import.meta.url), markdown);
console.log('wrote bench/linalg.md');
