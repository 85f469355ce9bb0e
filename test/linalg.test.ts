import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pivotedBlockCholesky } from '../src/linalg/block-pivoting.ts';
import { blockOf, choleskyLower, gemm, solveLower, solveLowerTransposed, syrkLower } from '../src/linalg/kernels.ts';
import { fromRows, get, gram, type Matrix, multiply, submatrix, transpose, zeros } from '../src/linalg/matrix.ts';
import { pivotedCholesky } from '../src/linalg/pivoted-cholesky.ts';
import { pivotedQR } from '../src/linalg/pivoted-qr.ts';
import { javascriptProducts, type MatrixProducts } from '../src/linalg/products.ts';
import { choleskyWith, solveLowerTransposedWith, solveLowerWith } from '../src/linalg/blocked-cholesky.ts';
import { solveSymmetric, solveSymmetricWith } from '../src/linalg/solve.ts';
import { runtimeProducts } from '../src/onnx/runtime-products.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { interpolationMatrix } from '../src/compress/interpolation.ts';
import { randomArray } from './helpers/models.ts';
import {
  naiveCholesky,
  naiveGram,
  naiveMultiply,
  naivePivotedCholesky,
  naiveSolveRidge,
  naiveSolveSymmetric,
  naiveTranspose,
} from './helpers/naive-linalg.ts';

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  return { rows, cols, data: randomArray(rows * cols, seed) };
}

/** rows × cols matrix of exact rank r: a product of rows × r and r × cols factors. */
function lowRank(rows: number, cols: number, rank: number, seed: number): Matrix {
  return multiply(randomMatrix(rows, rank, seed), randomMatrix(rank, cols, seed + 1));
}

function permuteColumns(a: Matrix, perm: number[]): Matrix {
  const out = zeros(a.rows, perm.length);
  for (let i = 0; i < a.rows; i++) {
    perm.forEach((p, j) => {
      out.data[i * perm.length + j] = get(a, i, p);
    });
  }
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
    for (let i = 0; i < 8; i++)
      for (let j = 0; j < 8; j++) assert.ok(Math.abs(get(qtq, i, j) - (i === j ? 1 : 0)) < 1e-12);
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
  it('chooses the same pivots and |R[k,k]| as pivoted QR of the data', async () => {
    const a = randomMatrix(60, 10, 5);
    const qr = pivotedQR(a);
    const chol = await pivotedCholesky(gram(a));
    assert.deepEqual(chol.order, qr.perm);
    for (let k = 0; k < 10; k++) assert.ok(Math.abs(chol.diagonal[k] - Math.abs(get(qr.r, k, k))) < 1e-9);
  });

  it('finds the rank of data with known rank and stops there', async () => {
    const chol = await pivotedCholesky(gram(lowRank(50, 12, 7, 6)));
    assert.equal(chol.rank, 7);
    assert.equal(chol.order.length, 12);
    assert.deepEqual(
      [...chol.order].sort((x, y) => x - y),
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it('reports the exact least-squares residual of keeping each prefix', async () => {
    const a = randomMatrix(30, 6, 7);
    const chol = await pivotedCholesky(gram(a));
    const keep = chol.order.slice(0, 3);
    const t = await interpolationMatrix(gram(a), keep);
    const approx = multiply(permuteColumns(a, keep), t);
    const residual = a.data.reduce((s, v, i) => s + (v - approx.data[i]) ** 2, 0);
    assert.ok(Math.abs(residual - chol.residual[3]) < 1e-9 * chol.residual[0]);
  });

  it('ranks a dead (all-zero) channel last with zero error', async () => {
    const a = randomMatrix(20, 4, 8);
    for (let i = 0; i < 20; i++) a.data[i * 4 + 2] = 0;
    const chol = await pivotedCholesky(gram(a));
    assert.equal(chol.order[3], 2);
    assert.equal(chol.residual[3], 0);
  });
});

describe('interpolation matrix', () => {
  it('reconstructs exactly low-rank data from the kept columns', async () => {
    const a = lowRank(40, 10, 4, 9);
    const g = gram(a);
    const keep = (await pivotedCholesky(g)).order.slice(0, 4);
    const t = await interpolationMatrix(g, keep);
    assert.ok(maxAbs(multiply(permuteColumns(a, keep), t), a) < 1e-6);
  });

  it('is the identity on the kept columns', async () => {
    const g = gram(randomMatrix(20, 5, 10));
    const t = await interpolationMatrix(g, [1, 3]);
    assert.equal(get(t, 0, 1), 1);
    assert.equal(get(t, 1, 3), 1);
    assert.equal(get(t, 0, 3), 0);
  });

  it('maps a duplicated channel onto its twin', async () => {
    const a = randomMatrix(25, 3, 11);
    const withTwin = zeros(25, 4);
    for (let i = 0; i < 25; i++) for (let j = 0; j < 4; j++) withTwin.data[i * 4 + j] = get(a, i, j === 3 ? 0 : j);
    const t = await interpolationMatrix(gram(withTwin), [0, 1, 2]);
    assert.ok(Math.abs(get(t, 0, 3) - 1) < 1e-6 && Math.abs(get(t, 1, 3)) < 1e-6);
  });
});

describe('symmetric solve', () => {
  it('solves a positive definite system', () => {
    const a = fromRows([
      [4, 1],
      [1, 3],
    ]);
    const x = solveSymmetric(a, fromRows([[1], [2]]), 0);
    assert.ok(Math.abs(get(x, 0, 0) - 1 / 11) < 1e-12 && Math.abs(get(x, 1, 0) - 7 / 11) < 1e-12);
  });

  it('still solves a singular system through its ridge', () => {
    const x = solveSymmetric(
      fromRows([
        [1, 1],
        [1, 1],
      ]),
      fromRows([[2], [2]]),
    );
    assert.ok(Math.abs(get(x, 0, 0) + get(x, 1, 0) - 2) < 1e-6);
  });
});

/*
 * The blocked kernels against the unblocked reference (test/helpers/naive-linalg.ts), on sizes
 * around their block sizes (4-row tiles, 64-row bands and panels, 128-deep and 512-wide slabs of
 * the product) and on degenerate ones.
 */

/**
 * Fails unless value < bound. (With a message of its own: without one, a failing assert.ok makes
 * node search the transpiled source for the expression, which takes minutes here.)
 */
function assertBelow(value: number, bound: number, what: string): void {
  assert.ok(value < bound, `${what}: ${value} is not below ${bound}`);
}

/** max |a − b| relative to max |b| (1 where b is all zero). */
function relativeError(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
  return err / (scale || 1);
}

/** A random symmetric positive definite n × n matrix: a Gram matrix of 2n random rows, plus n·I. */
function spd(n: number, seed: number): Matrix {
  const g = naiveGram(randomMatrix(2 * n, n, seed));
  for (let i = 0; i < n; i++) g.data[i * n + i] += n;
  return g;
}

/** Q diag(eigenvalues) Qᵀ for a random orthogonal Q. */
function withEigenvalues(eigenvalues: readonly number[], seed: number): Matrix {
  const n = eigenvalues.length;
  const { q } = pivotedQR(randomMatrix(n, n, seed));
  const scaled = zeros(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaled.data[i * n + j] = get(q, i, j) * eigenvalues[j];
  const a = naiveMultiply(scaled, naiveTranspose(q));
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a.data[j * n + i] = a.data[i * n + j];
  return a;
}

const PRODUCT_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 64, 63],
  [130, 3, 129],
  [3, 130, 2],
  [4, 127, 513],
  [5, 128, 511],
  [9, 129, 4],
  [0, 4, 3],
  [3, 0, 4],
];

describe('blocked product', () => {
  for (const [m, k, n] of PRODUCT_SHAPES) {
    it(`multiplies ${m}×${k} by ${k}×${n} as the triple loop does`, () => {
      const a = randomMatrix(m, k, 20 + m);
      const b = randomMatrix(k, n, 21 + n);
      const got = multiply(a, b);
      assert.deepEqual([got.rows, got.cols], [m, n]);
      assertBelow(relativeError(got.data, naiveMultiply(a, b).data), 1e-14, 'product');
    });
  }

  it('accumulates alpha · op(A) · B into a block of a larger array and nothing outside it', () => {
    for (const [m, k, n] of [
      [1, 1, 1],
      [7, 13, 5],
      [65, 130, 66],
      [6, 3, 517],
    ]) {
      for (const transposeA of [false, true]) {
        // A, B and C sit at offset (2, 3) of arrays 5 columns wider than they are.
        const aRows = transposeA ? k : m;
        const aCols = transposeA ? m : k;
        const aStore = randomMatrix(aRows + 4, aCols + 5, 30);
        const bStore = randomMatrix(k + 4, n + 5, 31);
        const cStore = randomMatrix(m + 4, n + 5, 32);
        const before = Float64Array.from(cStore.data);
        gemm(
          m,
          n,
          k,
          -0.5,
          blockOf(aStore.data, aCols + 5, 2, 3),
          transposeA,
          blockOf(bStore.data, n + 5, 2, 3),
          blockOf(cStore.data, n + 5, 2, 3),
        );
        const a = submatrix(aStore, range(2, aRows), range(3, aCols));
        const op = transposeA ? naiveTranspose(a) : a;
        const product = naiveMultiply(op, submatrix(bStore, range(2, k), range(3, n)));
        for (let i = 0; i < m + 4; i++) {
          for (let j = 0; j < n + 5; j++) {
            const inside = i >= 2 && i < m + 2 && j >= 3 && j < n + 3;
            const want = before[i * (n + 5) + j] + (inside ? -0.5 * get(product, i - 2, j - 3) : 0);
            assert.ok(
              Math.abs(get(cStore, i, j) - want) < 1e-13 * (1 + Math.abs(want)),
              `${m}×${k}×${n} at (${i}, ${j})`,
            );
          }
        }
      }
    }
  });
});

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

describe('blocked transpose and Gram matrix', () => {
  for (const [rows, cols] of [
    [1, 1],
    [7, 13],
    [31, 33],
    [65, 64],
    [130, 3],
    [3, 130],
  ]) {
    it(`transposes ${rows}×${cols} exactly`, () => {
      const a = randomMatrix(rows, cols, 40);
      const t = transpose(a);
      assert.deepEqual([t.rows, t.cols], [cols, rows]);
      assert.deepEqual(t.data, naiveTranspose(a).data);
    });

    it(`forms the exactly symmetric Gram matrix of ${rows}×${cols}`, () => {
      const a = randomMatrix(rows, cols, 41);
      const g = gram(a);
      assertBelow(relativeError(g.data, naiveGram(a).data), 1e-14, 'Gram matrix');
      for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) assert.equal(get(g, i, j), get(g, j, i));
    });
  }
});

describe('blocked symmetric rank-k update', () => {
  for (const [n, k] of [
    [1, 1],
    [63, 7],
    [64, 64],
    [65, 1],
    [130, 65],
  ]) {
    it(`updates the lower triangle of ${n}×${n} by P Pᵀ with P ${n}×${k}`, () => {
      const p = randomMatrix(n, k, 50);
      const c = randomMatrix(n, n, 51);
      const before = Float64Array.from(c.data);
      syrkLower(n, k, -1, blockOf(p.data, k), blockOf(c.data, n));
      const ppt = naiveMultiply(p, naiveTranspose(p));
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++)
          assertBelow(Math.abs(get(c, i, j) - (before[i * n + j] - get(ppt, i, j))), 1e-13 * k, `(${i}, ${j})`);
      }
    });
  }
});

describe('blocked Cholesky and triangular solves', () => {
  for (const n of [1, 2, 63, 64, 65, 130, 200]) {
    it(`factors a ${n}×${n} positive definite matrix as the unblocked Cholesky does`, () => {
      const a = spd(n, 60 + n);
      const s = Float64Array.from(a.data);
      assert.equal(choleskyLower(n, blockOf(s, n)), true);
      const l = zeros(n, n);
      for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) l.data[i * n + j] = s[i * n + j];
      assertBelow(relativeError(l.data, naiveCholesky(a)!.data), 1e-12, 'factor');
      assertBelow(relativeError(naiveMultiply(l, naiveTranspose(l)).data, a.data), 1e-13, 'L Lᵀ − A');
    });
  }

  it('stops at the first non-positive pivot, also past the first panel', () => {
    for (const [n, bad] of [
      [5, 0],
      [5, 3],
      [130, 100],
    ]) {
      const eigenvalues = Array.from({ length: n }, (_, i) => (i === bad ? -1 : 1 + i));
      const a = withEigenvalues(eigenvalues, 70);
      assert.equal(choleskyLower(n, blockOf(Float64Array.from(a.data), n)), false);
      assert.equal(naiveCholesky(a), null);
    }
    assert.equal(choleskyLower(1, blockOf(Float64Array.of(0), 1)), false);
    assert.equal(choleskyLower(2, blockOf(Float64Array.of(1, 0, NaN, 1), 2)), false);
  });

  for (const [n, m] of [
    [1, 1],
    [7, 13],
    [65, 64],
    [130, 3],
    [129, 1],
    [64, 200],
  ]) {
    it(`solves L Y = X and Lᵀ Y = X for L ${n}×${n} and ${m} right-hand sides`, () => {
      const a = spd(n, 80 + n);
      const l = naiveCholesky(a)!;
      // Garbage above the diagonal must not be read.
      const stored = Float64Array.from(l.data);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) stored[i * n + j] = 1e6;
      const x = randomMatrix(n, m, 81);
      const forward = Float64Array.from(x.data);
      solveLower(n, m, blockOf(stored, n), blockOf(forward, m));
      const product = naiveMultiply(l, { rows: n, cols: m, data: forward });
      assertBelow(relativeError(product.data, x.data), 1e-12, 'L Y − X');
      const backward = Float64Array.from(x.data);
      solveLowerTransposed(n, m, blockOf(stored, n), blockOf(backward, m));
      assertBelow(
        relativeError(naiveMultiply(naiveTranspose(l), { rows: n, cols: m, data: backward }).data, x.data),
        1e-12,
        'Lᵀ Y − X',
      );
    });
  }
});

describe('symmetric solve, blocked', () => {
  /** max |(A + λI) X − B| relative to max |B|. */
  function residual(a: Matrix, lambda: number, x: Matrix, b: Matrix): number {
    const ax = naiveMultiply(a, x);
    for (let i = 0; i < a.rows; i++) for (let c = 0; c < x.cols; c++) ax.data[i * x.cols + c] += lambda * get(x, i, c);
    return relativeError(ax.data, b.data);
  }

  for (const [n, m] of [
    [1, 1],
    [7, 13],
    [65, 64],
    [130, 3],
    [200, 150],
  ]) {
    it(`solves ${n}×${n} with ${m} right-hand sides to a small residual, as the unblocked solve does`, () => {
      const a = spd(n, 90 + n);
      const b = randomMatrix(n, m, 91);
      const x = solveSymmetric(a, b, 0);
      assertBelow(residual(a, 0, x, b), 1e-12, 'residual');
      assertBelow(relativeError(x.data, naiveSolveSymmetric(a, b, 0).data), 1e-10, 'against the unblocked solve');
    });
  }

  it('reads only the lower triangle of A', () => {
    const a = spd(70, 92);
    const b = randomMatrix(70, 5, 93);
    const garbled = { ...a, data: Float64Array.from(a.data) };
    for (let i = 0; i < 70; i++) for (let j = i + 1; j < 70; j++) garbled.data[i * 70 + j] = -1e3;
    assert.deepEqual(solveSymmetric(garbled, b).data, solveSymmetric(a, b).data);
  });

  it('retries an indefinite matrix with a hundredfold ridge until it factors, at the same ridge as before', () => {
    // Mean eigenvalue 1 and one of −3e-7: ridges 1e-9 and 1e-7 fail, 1e-5 succeeds (and 1e-6 would).
    const n = 90;
    const eigenvalues = Array.from({ length: n }, (_, i) => (i === 40 ? -3e-7 : (n + 3e-7) / (n - 1)));
    const a = withEigenvalues(eigenvalues, 94);
    const b = randomMatrix(n, 4, 95);
    const meanDiag = eigenvalues.reduce((s, v) => s + v, 0) / n;
    assertBelow(Math.abs(naiveSolveRidge(a) / (1e-5 * meanDiag) - 1), 1e-12, 'ridge of the unblocked solve');
    const x = solveSymmetric(a, b);
    assertBelow(residual(a, 1e-5 * meanDiag, x, b), 1e-9, 'residual at ridge 1e-5');
    assertBelow(relativeError(x.data, naiveSolveSymmetric(a, b).data), 1e-8, 'against the unblocked solve');
  });

  it('solves a rank-deficient Gram matrix (duplicated and dead channels) through its ridge', () => {
    const data = randomMatrix(300, 80, 96);
    for (let i = 0; i < 300; i++) {
      data.data[i * 80 + 70] = get(data, i, 3);
      data.data[i * 80 + 75] = 0;
    }
    const g = gram(data);
    const b = multiply(g, randomMatrix(80, 6, 97));
    const x = solveSymmetric(g, b);
    assert.ok(x.data.every(Number.isFinite), 'finite solution');
    assertBelow(relativeError(multiply(g, x).data, b.data), 1e-6, 'G X − B');
    assertBelow(relativeError(x.data, naiveSolveSymmetric(g, b).data), 1e-6, 'against the unblocked solve');
  });

  it('gives up where the ridge cannot grow (NaN entries, or no ridge) instead of looping forever', () => {
    assert.throws(
      () =>
        solveSymmetric(
          fromRows([
            [1, NaN],
            [NaN, 1],
          ]),
          fromRows([[1], [1]]),
        ),
      /not positive definite/,
    );
    assert.throws(
      () =>
        solveSymmetric(
          fromRows([
            [1, 1],
            [1, 1],
          ]),
          fromRows([[1], [1]]),
          0,
        ),
      /not positive definite/,
    );
  });
});

const byValue = (x: number, y: number) => x - y;

describe('pivoted Cholesky, blocked', () => {
  async function assertMatchesNaive(g: Matrix, products: MatrixProducts = javascriptProducts): Promise<void> {
    const got = await pivotedCholesky(g, undefined, products);
    const want = naivePivotedCholesky(g);
    assert.equal(got.rank, want.rank);
    // Past the rank the order follows leftover diagonals of rounding size: only the set is certain.
    assert.deepEqual(got.order.slice(0, got.rank), want.order.slice(0, want.rank));
    assert.deepEqual(got.order.slice(got.rank).sort(byValue), want.order.slice(want.rank).sort(byValue));
    assertBelow(relativeError(got.diagonal, want.diagonal), 1e-9, 'diagonal');
    assertBelow(relativeError(got.residual, want.residual), 1e-9, 'residual');
  }

  for (const n of [1, 63, 64, 65, 130]) {
    it(`pivots a full-rank ${n}×${n} Gram matrix as the unblocked one does`, () =>
      assertMatchesNaive(gram(randomMatrix(2 * n, n, 100 + n))));
  }

  it('pivots as the unblocked one does with its trailing updates run by ONNX Runtime, over several bands', async () => {
    const products = runtimeProducts(nodeRuntime);
    await assertMatchesNaive(gram(randomMatrix(1300, 650, 104)), products);
    await assertMatchesNaive(gram(lowRank(700, 600, 550, 105)), products);
    await products.release();
  });

  it('stops at the rank inside a later panel, ranking the rest as before', async () => {
    await assertMatchesNaive(gram(lowRank(200, 150, 100, 101)));
  });

  it('breaks ties between equal diagonals by the lowest channel', async () => {
    const chol = await pivotedCholesky(gram({ rows: 1, cols: 1, data: Float64Array.of(2) }));
    assert.deepEqual(chol.order, [0]);
    const identity = zeros(70, 70);
    for (let i = 0; i < 70; i++) identity.data[i * 70 + i] = 1;
    assert.deepEqual((await pivotedCholesky(identity)).order, range(0, 70));
    // The first pivot moves channel 0 behind channel 1, which it then ties with.
    assert.deepEqual(
      (
        await pivotedCholesky(
          fromRows([
            [1, 0, 0],
            [0, 1, 0],
            [0, 0, 2],
          ]),
        )
      ).order,
      [2, 0, 1],
    );
    // Dead channels 0 and 2 end up at positions 3 and 2: they still follow in channel order.
    assert.deepEqual(
      (
        await pivotedCholesky(
          fromRows([
            [0, 0, 0, 0],
            [0, 1, 0, 0],
            [0, 0, 0, 0],
            [0, 0, 0, 2],
          ]),
        )
      ).order,
      [3, 1, 0, 2],
    );
    // Channels 5k+j are copies of channel j (scaled by ±1): ties all the way, and a rank of 5.
    const base = randomMatrix(40, 5, 102);
    const copies = zeros(40, 80);
    for (let i = 0; i < 40; i++)
      for (let c = 0; c < 80; c++) copies.data[i * 80 + c] = (c % 2 ? -1 : 1) * get(base, i, c % 5);
    await assertMatchesNaive(gram(copies));
  });

  it('reads only the lower triangle of G', async () => {
    const g = gram(randomMatrix(150, 100, 103));
    const garbled = { ...g, data: Float64Array.from(g.data) };
    for (let i = 0; i < 100; i++) for (let j = i + 1; j < 100; j++) garbled.data[i * 100 + j] = 7;
    assert.deepEqual(await pivotedCholesky(garbled), await pivotedCholesky(g));
  });
});

describe('block pivoting', () => {
  it('reports the exact residual of keeping each prefix of units', () => {
    const data = randomMatrix(60, 40, 110);
    const g = gram(data);
    const { order, residual } = pivotedBlockCholesky(g, 4);
    const total = Array.from({ length: 40 }, (_, i) => get(g, i, i)).reduce((s, v) => s + v, 0);
    for (let k = 1; k <= 10; k++) {
      const keep = order.slice(0, k).flatMap((u) => range(4 * u, 4));
      const explained = naiveMultiply(
        submatrix(g, range(0, 40), keep),
        naiveSolveSymmetric(submatrix(g, keep, keep), submatrix(g, keep, range(0, 40)), 0),
      );
      let trace = 0;
      for (let i = 0; i < 40; i++) trace += get(explained, i, i);
      assertBelow(Math.abs(residual[k] - (total - trace)), 1e-8 * total, `keeping ${k} units`);
    }
  });
});

describe('pivoted QR shapes', () => {
  for (const [m, n] of [
    [1, 1],
    [1, 5],
    [7, 13],
    [13, 7],
  ]) {
    it(`factors ${m}×${n}`, () => {
      const a = randomMatrix(m, n, 120);
      const { q, r, perm } = pivotedQR(a);
      assert.deepEqual([q.rows, q.cols, r.rows, r.cols], [m, Math.min(m, n), Math.min(m, n), n]);
      assertBelow(maxAbs(permuteColumns(a, perm), naiveMultiply(q, r)), 1e-12, 'A P − Q R');
    });
  }
});

describe('products run by ONNX Runtime', () => {
  it('multiplies as the unblocked product does, above and below the size it hands over', async () => {
    const products = runtimeProducts(nodeRuntime);
    for (const [m, k, n] of [
      [3, 5, 2],
      [300, 129, 70],
      [1, 2100, 1000],
    ]) {
      const a = randomMatrix(m, k, 110 + m);
      const b = randomMatrix(k, n, 111 + n);
      const got = await products.multiply(a, b);
      assert.deepEqual([got.rows, got.cols], [m, n]);
      assertBelow(relativeError(got.data, naiveMultiply(a, b).data), 1e-13, `${m}×${k} · ${k}×${n}`);
    }
    await products.release();
  });

  it('refuses operands whose shapes do not chain', async () => {
    await assert.rejects(
      runtimeProducts(nodeRuntime).multiply(randomMatrix(2, 3, 1), randomMatrix(4, 2, 2)),
      /multiply: 2x3 by 4x2/,
    );
  });
});

describe('Cholesky and solves by panels, with products run elsewhere', () => {
  // Sizes around the panel width (128) and over several panels; the runtime runs the larger products.
  const engines: [string, MatrixProducts][] = [
    ['JavaScript', javascriptProducts],
    ['ONNX Runtime', runtimeProducts(nodeRuntime)],
  ];
  for (const [engine, products] of engines) {
    for (const n of [1, 128, 129, 600]) {
      it(`factors a ${n}×${n} positive definite matrix as the unblocked Cholesky does (${engine})`, async () => {
        const a = spd(n, 100 + n);
        const { l } = (await choleskyWith(products, a))!;
        assertBelow(relativeError(l.data, naiveCholesky(a)!.data), 1e-12, 'factor');
      });
    }

    it(`reports a matrix that is not positive definite, in any panel or column block (${engine})`, async () => {
      for (const bad of [10, 550]) {
        const a = withEigenvalues(
          Array.from({ length: 600 }, (_, i) => (i === bad ? -1 : 1 + i)),
          101,
        );
        assert.equal(await choleskyWith(products, a), undefined);
      }
    });

    it(`solves L Y = X and Lᵀ Y = X for L 450×450 (${engine})`, async () => {
      const factor = (await choleskyWith(products, spd(450, 102)))!;
      const l = factor.l;
      const x = randomMatrix(450, 70, 103);
      const forward = await solveLowerWith(products, factor, x);
      assertBelow(relativeError(naiveMultiply(l, forward).data, x.data), 1e-12, 'L Y − X');
      const backward = await solveLowerTransposedWith(products, factor, x);
      assertBelow(relativeError(naiveMultiply(naiveTranspose(l), backward).data, x.data), 1e-12, 'Lᵀ Y − X');
    });

    it(`solves a symmetric system as solveSymmetric does, reading only the lower triangle (${engine})`, async () => {
      const a = spd(450, 104);
      const b = randomMatrix(450, 30, 105);
      const garbled = { ...a, data: Float64Array.from(a.data) };
      for (let i = 0; i < 450; i++) for (let j = i + 1; j < 450; j++) garbled.data[i * 450 + j] = -1e3;
      assertBelow(
        relativeError((await solveSymmetricWith(products, garbled, b)).data, solveSymmetric(a, b).data),
        1e-10,
        'against solveSymmetric',
      );
    });

    const ridge = `at the ridge solveSymmetric reaches (${engine})`;
    it(`retries an indefinite matrix with a hundredfold ridge, ${ridge}`, async () => {
      const n = 300;
      const eigenvalues = Array.from({ length: n }, (_, i) => (i === 250 ? -3e-7 : (n + 3e-7) / (n - 1)));
      const a = withEigenvalues(eigenvalues, 106);
      const b = randomMatrix(n, 4, 107);
      assertBelow(
        relativeError((await solveSymmetricWith(products, a, b)).data, solveSymmetric(a, b).data),
        1e-8,
        'against solveSymmetric',
      );
    });
  }
});
