import { blockOf, gemm } from './kernels.ts';
import type { Matrix } from './matrix.ts';
import { solveSymmetric } from './solve.ts';

export interface BlockPivoting {
  /** Units (blocks of `unit` consecutive columns), most informative first. */
  order: number[];
  /** residual[k] = ‖Z − Z_S T‖²_F keeping the first k units (all their columns); length units + 1. */
  residual: Float64Array;
  rank: number;
}

/**
 * Greedy block column selection on a Gram matrix G = ZᵀZ whose columns come in units of `unit`
 * (the neurons of one attention head): each step keeps the unit whose columns remove the most of
 * what is left, trace(S[:, b] S[b, b]⁻¹ S[b, :]) for the current Schur complement S, and
 * eliminates it. (Pivoted Cholesky instead keeps the column of largest remaining norm; this greedy
 * asks more per step, which is affordable for the few units a space of heads has.)
 */
export function pivotedBlockCholesky(g: Matrix, unit: number, relTol = 1e-12): BlockPivoting {
  const n = g.rows;
  const units = n / unit;
  if (!Number.isInteger(units)) throw new Error(`pivotedBlockCholesky: ${n} columns are not units of ${unit}`);
  const s = Float64Array.from(g.data);
  const traceOf = () => {
    let t = 0;
    for (let i = 0; i < n; i++) t += Math.max(s[i * n + i], 0);
    return t;
  };
  const residual = new Float64Array(units + 1);
  const order: number[] = [];
  const remaining = new Set(Array.from({ length: units }, (_, u) => u));
  const threshold = relTol * traceOf();
  let rank = units;
  for (let step = 0; step < units; step++) {
    residual[step] = traceOf();
    let best = -1;
    let bestGain = -Infinity;
    let bestSolve: Matrix | undefined;
    for (const u of remaining) {
      const { gain, solved } = unitGain(s, n, u, unit);
      if (gain > bestGain) [best, bestGain, bestSolve] = [u, gain, solved];
    }
    if (bestGain <= threshold) {
      rank = step;
      order.push(...[...remaining].sort((a, b) => a - b));
      residual.fill(0, step);
      return { order, residual, rank };
    }
    order.push(best);
    remaining.delete(best);
    eliminate(s, n, best, unit, bestSolve!);
  }
  residual[units] = 0;
  return { order, residual, rank };
}

/** What keeping unit u removes from S: trace(S[:, b] X) with X = S[b, b]⁻¹ S[b, :]. */
function unitGain(s: Float64Array, n: number, u: number, unit: number): { gain: number; solved: Matrix } {
  const cols = Array.from({ length: unit }, (_, j) => u * unit + j);
  const sbb = { rows: unit, cols: unit, data: new Float64Array(unit * unit) };
  const sb = { rows: unit, cols: n, data: new Float64Array(unit * n) };
  cols.forEach((c, i) => {
    cols.forEach((d, j) => {
      sbb.data[i * unit + j] = s[c * n + d];
    });
    sb.data.set(s.subarray(c * n, (c + 1) * n), i * n);
  });
  const solved = solveSymmetric(sbb, sb);
  let gain = 0;
  for (let i = 0; i < unit; i++) for (let k = 0; k < n; k++) gain += sb.data[i * n + k] * solved.data[i * n + k];
  return { gain, solved };
}

/** S ← S − S[:, b] · S[b, b]⁻¹ S[b, :], with S[:, b] read as S[b, :]ᵀ (S is symmetric). */
function eliminate(s: Float64Array, n: number, u: number, unit: number, solved: Matrix): void {
  const rows = s.slice(u * unit * n, (u + 1) * unit * n);
  gemm(n, n, unit, -1, blockOf(rows, n), true, blockOf(solved.data, n), blockOf(s, n));
}
