import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromRows, get, gram, type Matrix, multiply, zeros } from '../src/linalg/matrix.ts';
import { pivotedCholesky } from '../src/linalg/pivoted-cholesky.ts';
import { pivotedQR } from '../src/linalg/pivoted-qr.ts';
import { solveSymmetric } from '../src/linalg/solve.ts';
import { interpolationMatrix } from '../src/compress/interpolation.ts';
import { randomArray } from './helpers/models.ts';

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  return { rows, cols, data: randomArray(rows * cols, seed) };
}

/** rows × cols matrix of exact rank r: a product of rows × r and r × cols factors. */
function lowRank(rows: number, cols: number, rank: number, seed: number): Matrix {
  return multiply(randomMatrix(rows, rank, seed), randomMatrix(rank, cols, seed + 1));
}

function permuteColumns(a: Matrix, perm: number[]): Matrix {
  const out = zeros(a.rows, perm.length);
  for (let i = 0; i < a.rows; i++) perm.forEach((p, j) => (out.data[i * perm.length + j] = get(a, i, p)));
  return out;
}

function maxAbs(a: Matrix, b: Matrix): number {
  return a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);
}

describe('pivoted QR', () => {
  it('factors A P = Q R to 1e-10', () => {
    const a = randomMatrix(40, 12, 1);
    const { q, r, perm } = pivotedQR(a);
    assert.ok(maxAbs(permuteColumns(a, perm), multiply(q, r)) < 1e-10);
  });

  it('returns orthonormal Q and upper-triangular R', () => {
    const { q, r } = pivotedQR(randomMatrix(30, 8, 2));
    const qtq = multiply({ rows: q.cols, cols: q.rows, data: transposeData(q) }, q);
    for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) assert.ok(Math.abs(get(qtq, i, j) - (i === j ? 1 : 0)) < 1e-12);
    for (let i = 0; i < r.rows; i++) for (let j = 0; j < i; j++) assert.equal(get(r, i, j), 0);
  });

  it('has non-increasing |R[k,k]|', () => {
    const { r } = pivotedQR(randomMatrix(50, 20, 3));
    for (let k = 1; k < 20; k++) assert.ok(Math.abs(get(r, k, k)) <= Math.abs(get(r, k - 1, k - 1)) + 1e-12);
  });

  it('reveals the rank of a rank-5 matrix', () => {
    const { r } = pivotedQR(lowRank(40, 15, 5, 4));
    const scale = Math.abs(get(r, 0, 0));
    assert.ok(Math.abs(get(r, 4, 4)) / scale > 1e-6);
    assert.ok(Math.abs(get(r, 5, 5)) / scale < 1e-10);
  });
});

function transposeData(m: Matrix): Float64Array {
  const out = new Float64Array(m.data.length);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[j * m.rows + i] = m.data[i * m.cols + j];
  return out;
}

describe('pivoted Cholesky of the Gram matrix', () => {
  it('chooses the same pivots and |R[k,k]| as pivoted QR of the data', () => {
    const a = randomMatrix(60, 10, 5);
    const qr = pivotedQR(a);
    const chol = pivotedCholesky(gram(a));
    assert.deepEqual(chol.order, qr.perm);
    for (let k = 0; k < 10; k++) assert.ok(Math.abs(chol.diagonal[k] - Math.abs(get(qr.r, k, k))) < 1e-9);
  });

  it('finds the rank of data with known rank and stops there', () => {
    const chol = pivotedCholesky(gram(lowRank(50, 12, 7, 6)));
    assert.equal(chol.rank, 7);
    assert.equal(chol.order.length, 12);
    assert.deepEqual([...chol.order].sort((x, y) => x - y), Array.from({ length: 12 }, (_, i) => i));
  });

  it('reports the exact least-squares residual of keeping each prefix', () => {
    const a = randomMatrix(30, 6, 7);
    const chol = pivotedCholesky(gram(a));
    const keep = chol.order.slice(0, 3);
    const t = interpolationMatrix(gram(a), keep);
    const approx = multiply(permuteColumns(a, keep), t);
    const residual = a.data.reduce((s, v, i) => s + (v - approx.data[i]) ** 2, 0);
    assert.ok(Math.abs(residual - chol.residual[3]) < 1e-9 * chol.residual[0]);
  });

  it('ranks a dead (all-zero) channel last with zero error', () => {
    const a = randomMatrix(20, 4, 8);
    for (let i = 0; i < 20; i++) a.data[i * 4 + 2] = 0;
    const chol = pivotedCholesky(gram(a));
    assert.equal(chol.order[3], 2);
    assert.equal(chol.residual[3], 0);
  });
});

describe('interpolation matrix', () => {
  it('reconstructs exactly low-rank data from the kept columns', () => {
    const a = lowRank(40, 10, 4, 9);
    const g = gram(a);
    const keep = pivotedCholesky(g).order.slice(0, 4);
    const t = interpolationMatrix(g, keep);
    assert.ok(maxAbs(multiply(permuteColumns(a, keep), t), a) < 1e-6);
  });

  it('is the identity on the kept columns', () => {
    const g = gram(randomMatrix(20, 5, 10));
    const t = interpolationMatrix(g, [1, 3]);
    assert.equal(get(t, 0, 1), 1);
    assert.equal(get(t, 1, 3), 1);
    assert.equal(get(t, 0, 3), 0);
  });

  it('maps a duplicated channel onto its twin', () => {
    const a = randomMatrix(25, 3, 11);
    const withTwin = zeros(25, 4);
    for (let i = 0; i < 25; i++) for (let j = 0; j < 4; j++) withTwin.data[i * 4 + j] = get(a, i, j === 3 ? 0 : j);
    const t = interpolationMatrix(gram(withTwin), [0, 1, 2]);
    assert.ok(Math.abs(get(t, 0, 3) - 1) < 1e-6 && Math.abs(get(t, 1, 3)) < 1e-6);
  });
});

describe('symmetric solve', () => {
  it('solves a positive definite system', () => {
    const a = fromRows([[4, 1], [1, 3]]);
    const x = solveSymmetric(a, fromRows([[1], [2]]), 0);
    assert.ok(Math.abs(get(x, 0, 0) - 1 / 11) < 1e-12 && Math.abs(get(x, 1, 0) - 7 / 11) < 1e-12);
  });

  it('still solves a singular system through its ridge', () => {
    const x = solveSymmetric(fromRows([[1, 1], [1, 1]]), fromRows([[2], [2]]));
    assert.ok(Math.abs(get(x, 0, 0) + get(x, 1, 0) - 2) < 1e-6);
  });
});
