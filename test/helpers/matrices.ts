import { type Matrix, zeros } from '../../src/linalg/matrix.ts';

export function identityMatrix(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}
