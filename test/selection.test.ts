import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pivotedBlockCholesky } from '../src/linalg/block-pivoting.ts';
import { gram, type Matrix, multiply, transpose } from '../src/linalg/matrix.ts';
import { pivotedCholesky } from '../src/linalg/pivoted-cholesky.ts';
import { consumerMetric, rankChannels, rankChannelsWeighted } from '../src/compress/selection.ts';
import { identityMatrix } from './helpers/matrices.ts';
import { randomArray } from './helpers/models.ts';

const matrix = (rows: number, cols: number, seed: number): Matrix => ({ rows, cols, data: randomArray(rows * cols, seed) });

describe('consumer metric', () => {
  it('of a Gemm weight W [K, N] read on axis 0 is W Wᵀ, so tr(M E) is the output error', () => {
    const w = matrix(6, 4, 1);
    const m = consumerMetric({ dims: [6, 4], data: w.data }, { axis: 0, block: 1, offset: 0, channels: 6 });
    const expected = multiply(w, transpose(w));
    m.data.forEach((v, i) => assert.ok(Math.abs(v - expected.data[i]) < 1e-12));
  });

  it("covers only the space's segment of a weight read after a Concat", () => {
    const w = matrix(4, 7, 2); // Gemm transB: [N, K], K = 3 + 4 channels side by side
    const m = consumerMetric({ dims: [4, 7], data: w.data }, { axis: 1, block: 1, offset: 3, channels: 4 });
    const segment = { rows: 4, cols: 4, data: new Float64Array(16) };
    for (let o = 0; o < 4; o++) for (let c = 0; c < 4; c++) segment.data[o * 4 + c] = w.data[o * 7 + 3 + c];
    const expected = multiply(transpose(segment), segment);
    m.data.forEach((v, i) => assert.ok(Math.abs(v - expected.data[i]) < 1e-12));
  });
});

describe('channel ranking', () => {
  it('weighted by the identity, keeps first the channel that leaves the least error', () => {
    const g = gram(matrix(40, 8, 3));
    const left = (j: number) => Array.from({ length: 8 }, (_, i) => g.data[i * 9]).reduce((a, b) => a + b) - Array.from({ length: 8 }, (_, i) => g.data[i * 8 + j] ** 2).reduce((a, b) => a + b) / g.data[j * 9];
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
