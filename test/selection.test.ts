import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pivotedBlockCholesky } from '../src/linalg/block-pivoting.ts';
import { gram, type Matrix, multiply, transpose } from '../src/linalg/matrix.ts';
import { consumerMetric, rankChannels, rankChannelsWeighted } from '../src/compress/selection.ts';
import { identityMatrix } from './helpers/matrices.ts';
import { randomArray } from './helpers/models.ts';

const matrix = (rows: number, cols: number, seed: number): Matrix => ({
  rows,
  cols,
  data: randomArray(rows * cols, seed),
});

describe('consumer metric', () => {
  it('of a Gemm weight W [K, N] read on axis 0 is W Wᵀ, so tr(M E) is the output error', async () => {
    const w = matrix(6, 4, 1);
    const m = await consumerMetric({ dims: [6, 4], data: w.data }, { axis: 0, block: 1, offset: 0, channels: 6 });
    const expected = multiply(w, transpose(w));
    m.data.forEach((v, i) => {
      assert.ok(Math.abs(v - expected.data[i]) < 1e-12);
    });
  });

  it("covers only the space's segment of a weight read after a Concat", async () => {
    const w = matrix(4, 7, 2); // Gemm transB: [N, K], K = 3 + 4 channels side by side
    const m = await consumerMetric({ dims: [4, 7], data: w.data }, { axis: 1, block: 1, offset: 3, channels: 4 });
    const segment = { rows: 4, cols: 4, data: new Float64Array(16) };
    for (let o = 0; o < 4; o++) for (let c = 0; c < 4; c++) segment.data[o * 4 + c] = w.data[o * 7 + 3 + c];
    const expected = multiply(transpose(segment), segment);
    m.data.forEach((v, i) => {
      assert.ok(Math.abs(v - expected.data[i]) < 1e-12);
    });
  });
});

describe('channel ranking', () => {
  it('weighted by the identity, keeps first the channel that leaves the least error', () => {
    const g = gram(matrix(40, 8, 3));
    const left = (j: number) =>
      Array.from({ length: 8 }, (_, i) => g.data[i * 9]).reduce((a, b) => a + b) -
      Array.from({ length: 8 }, (_, i) => g.data[i * 8 + j] ** 2).reduce((a, b) => a + b) / g.data[j * 9];
    const best = Array.from({ length: 8 }, (_, j) => j).sort((a, b) => left(a) - left(b))[0];
    assert.equal(rankChannelsWeighted([g], [identityMatrix(8)]).order[0], best);
  });

  it('weighted by its consumer, keeps first the channel the consumer reads', async () => {
    // Two uncorrelated channels, the first with more energy; the consumer reads only the second.
    const g = { rows: 2, cols: 2, data: Float64Array.of(4, 0, 0, 1) };
    const m = { rows: 2, cols: 2, data: Float64Array.of(0, 0, 0, 1) };
    assert.deepEqual((await rankChannels([g])).order, [0, 1]);
    assert.deepEqual(rankChannelsWeighted([g], [m]).order, [1, 0]);
  });

  it(
    'follows the greedy of its definition: ' +
      'each step keeps the channel whose Schur complement leaves the least weighted error',
    () => {
      const n = 40;
      const grams = [gram(matrix(120, n, 8)), gram(matrix(60, n, 9))];
      const metrics = [gram(matrix(30, n, 10)), gram(matrix(50, n, 11))];
      const trace = (m: Matrix, e: Float64Array) => m.data.reduce((s, v, i) => s + v * e[i], 0);
      const totals = grams.map((g, r) => trace(metrics[r], g.data));
      const keep = (e: Float64Array, j: number) =>
        e.map((v, i) => v - (e[Math.floor(i / n) * n + j] * e[(i % n) * n + j]) / e[j * n + j]);
      let residuals = grams.map((g) => g.data);
      const order: number[] = [];
      const errors: number[] = [];
      for (let step = 0; step < n; step++) {
        errors.push(residuals.reduce((s, e, r) => s + trace(metrics[r], e) / totals[r], 0) / 2);
        let best = -1;
        let least = Infinity;
        for (let j = 0; j < n; j++) {
          if (order.includes(j)) continue;
          const left = residuals.reduce((s, e, r) => s + trace(metrics[r], keep(e, j)) / totals[r], 0);
          if (left < least) [best, least] = [j, left];
        }
        order.push(best);
        residuals = residuals.map((e) => keep(e, best));
      }
      const ranking = rankChannelsWeighted(grams, metrics);
      assert.deepEqual(ranking.order, order);
      errors.forEach((e, k) => {
        assert.ok(Math.abs(ranking.relativeError[k] - e) < 1e-9, `step ${k}: ${ranking.relativeError[k]} vs ${e}`);
      });
    },
  );

  it('with an order given, reports the error curve of keeping channels in that order', () => {
    const n = 30;
    const grams = [gram(matrix(90, n, 12))];
    const metrics = [gram(matrix(20, n, 13))];
    const order = Array.from({ length: n }, (_, i) => (i * 7) % n);
    const given = rankChannelsWeighted(grams, metrics, order);
    assert.deepEqual(given.order, order);
    const trace = (e: Float64Array) => metrics[0].data.reduce((s, v, i) => s + v * e[i], 0);
    let e = grams[0].data;
    const total = trace(e);
    for (let k = 0; k < n; k++) {
      assert.ok(Math.abs(given.relativeError[k] - trace(e) / total) < 1e-9, `step ${k}`);
      const j = order[k];
      e = e.map((v, i) => v - (e[Math.floor(i / n) * n + j] * e[(i % n) * n + j]) / e[j * n + j]);
    }
  });

  it('errors fall from 1 to 0 as channels are kept', () => {
    const g = gram(matrix(30, 6, 4));
    const { relativeError } = rankChannelsWeighted([g], [gram(matrix(5, 6, 5))]);
    assert.ok(Math.abs(relativeError[0] - 1) < 1e-12 && relativeError[6] === 0);
    for (let k = 1; k <= 6; k++) assert.ok(relativeError[k] <= relativeError[k - 1] + 1e-12);
  });
});

describe('block pivoting', () => {
  it('reports the exact least-squares residual of keeping each prefix of units', () => {
    const z = matrix(40, 6, 6);
    const { order, residual } = pivotedBlockCholesky(gram(z), 2);
    const kept = [order[0] * 2, order[0] * 2 + 1];
    // Keeping the first unit leaves tr(G) minus what its two columns explain: Σ_c g_cᵀ G_kk⁻¹ g_c.
    const g = gram(z);
    const explained = (() => {
      const [a, b] = kept;
      const det = g.data[a * 6 + a] * g.data[b * 6 + b] - g.data[a * 6 + b] ** 2;
      let sum = 0;
      for (let c = 0; c < 6; c++) {
        const ga = g.data[a * 6 + c];
        const gb = g.data[b * 6 + c];
        sum += (g.data[b * 6 + b] * ga * ga - 2 * g.data[a * 6 + b] * ga * gb + g.data[a * 6 + a] * gb * gb) / det;
      }
      return sum;
    })();
    assert.ok(Math.abs(residual[1] - (residual[0] - explained)) < 1e-9 * residual[0]);
    assert.equal(residual[3], 0);
  });

  it('keeps one of two proportional units, then the other unit, and the duplicate costs nothing', () => {
    // Units of 2 columns: unit 2 = 3 · unit 0; unit 1 independent and small.
    const z = matrix(50, 6, 7);
    for (let r = 0; r < 50; r++) {
      z.data[r * 6 + 2] *= 0.1;
      z.data[r * 6 + 3] *= 0.1;
      z.data[r * 6 + 4] = 3 * z.data[r * 6];
      z.data[r * 6 + 5] = 3 * z.data[r * 6 + 1];
    }
    const { order, residual } = pivotedBlockCholesky(gram(z), 2);
    assert.notEqual(order[0], 1);
    assert.equal(order[1], 1);
    assert.ok(residual[2] < 1e-9 * residual[0]);
  });
});
