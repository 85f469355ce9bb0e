/*
 * Dense float64 kernels on row-major blocks of larger arrays, in plain TypeScript (they run in
 * browsers too). V8 does not vectorise, so speed comes from doing more arithmetic per memory
 * access: the innermost loops run with stride 1 over rows of B and C while a 4 × 4 tile of A sits
 * in locals, so every element loaded feeds four multiply-adds instead of one.
 */

/** A row-major block inside `data`: element (i, j) is data[offset + i · stride + j]. */
export interface Block {
  data: Float64Array;
  offset: number;
  stride: number;
}

/** The block of `data` (rows of `stride` elements) whose top-left element is (row, col). */
export function blockOf(data: Float64Array, stride: number, row = 0, col = 0): Block {
  return { data, offset: row * stride + col, stride };
}

/** The sub-block of `b` whose top-left element is b's (row, col). */
export function at(b: Block, row: number, col: number): Block {
  return { data: b.data, offset: b.offset + row * b.stride + col, stride: b.stride };
}

/*
 * Blocking of the product: a KC × NC slab of B (128 × 512 doubles, 512 KiB) stays in the 1–2 MiB
 * L2 cache while all rows of A pass over it, and the innermost loop's four rows of B and of C
 * (NC doubles each, 32 KiB together) fit in L1. Measured on V8 (Zen 4, n = 1024): KC × NC of
 * 256 × 512, 128 × 256, 64 × 1024 and 256 × 1024 all came within 10 % of this.
 */
const KC = 128;
const NC = 512;

/**
 * C (m × n) += alpha · op(A) · B, with B k × n. op(A) is A itself (m × k) or, with `transposeA`,
 * the transpose of an A stored k × m, read in place.
 */
export function gemm(
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Block,
  transposeA: boolean,
  b: Block,
  c: Block,
): void {
  if (m <= 0 || n <= 0 || k <= 0 || alpha === 0) return;
  // Where A(i, p) lies: a.offset + i · rowStep + p · colStep.
  const rowStep = transposeA ? 1 : a.stride;
  const colStep = transposeA ? a.stride : 1;
  for (let j0 = 0; j0 < n; j0 += NC) {
    const width = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const depth = Math.min(KC, k - p0);
      const aAt = a.offset + p0 * colStep;
      const bAt = b.offset + p0 * b.stride + j0;
      const cAt = c.offset + j0;
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        fourRows(
          depth,
          width,
          alpha,
          a.data,
          aAt + i * rowStep,
          rowStep,
          colStep,
          b.data,
          bAt,
          b.stride,
          c.data,
          cAt + i * c.stride,
          c.stride,
        );
      }
      for (; i < m; i++)
        oneRow(
          depth,
          width,
          alpha,
          a.data,
          aAt + i * rowStep,
          colStep,
          b.data,
          bAt,
          b.stride,
          c.data,
          cAt + i * c.stride,
        );
    }
  }
}

/**
 * Rows i..i+3 of C (width columns from cAt) += alpha · A[i..i+3, 0..depth) · B[0..depth, ·].
 * Why four rows: the innermost loop streams four rows of B and four of C. Where rows are a multiple
 * of 4 KiB apart (512, 1024 or 4608 doubles: common channel counts) all eight streams fall into the
 * same set of an 8-way L1 cache, which they just fit; eight-row tiles measured 20 % faster at
 * n = 1008 but twice as slow at n = 1024.
 */
function fourRows(
  depth: number,
  width: number,
  alpha: number,
  a: Float64Array,
  aAt: number,
  rs: number,
  cs: number,
  b: Float64Array,
  bAt: number,
  ldb: number,
  c: Float64Array,
  cAt: number,
  ldc: number,
): void {
  const c0 = cAt;
  const c1 = c0 + ldc;
  const c2 = c1 + ldc;
  const c3 = c2 + ldc;
  let p = 0;
  for (; p + 4 <= depth; p += 4) {
    const r0 = aAt + p * cs;
    const r1 = r0 + rs;
    const r2 = r1 + rs;
    const r3 = r2 + rs;
    const a00 = alpha * a[r0],
      a01 = alpha * a[r0 + cs],
      a02 = alpha * a[r0 + 2 * cs],
      a03 = alpha * a[r0 + 3 * cs];
    const a10 = alpha * a[r1],
      a11 = alpha * a[r1 + cs],
      a12 = alpha * a[r1 + 2 * cs],
      a13 = alpha * a[r1 + 3 * cs];
    const a20 = alpha * a[r2],
      a21 = alpha * a[r2 + cs],
      a22 = alpha * a[r2 + 2 * cs],
      a23 = alpha * a[r2 + 3 * cs];
    const a30 = alpha * a[r3],
      a31 = alpha * a[r3 + cs],
      a32 = alpha * a[r3 + 2 * cs],
      a33 = alpha * a[r3 + 3 * cs];
    const b0 = bAt + p * ldb;
    const b1 = b0 + ldb;
    const b2 = b1 + ldb;
    const b3 = b2 + ldb;
    for (let j = 0; j < width; j++) {
      const x0 = b[b0 + j];
      const x1 = b[b1 + j];
      const x2 = b[b2 + j];
      const x3 = b[b3 + j];
      c[c0 + j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
      c[c1 + j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
      c[c2 + j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3;
      c[c3 + j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3;
    }
  }
  for (; p < depth; p++) {
    const r0 = aAt + p * cs;
    const a0 = alpha * a[r0];
    const a1 = alpha * a[r0 + rs];
    const a2 = alpha * a[r0 + 2 * rs];
    const a3 = alpha * a[r0 + 3 * rs];
    const b0 = bAt + p * ldb;
    for (let j = 0; j < width; j++) {
      const x = b[b0 + j];
      c[c0 + j] += a0 * x;
      c[c1 + j] += a1 * x;
      c[c2 + j] += a2 * x;
      c[c3 + j] += a3 * x;
    }
  }
}

/** One row of C (width columns from cAt) += alpha · A[i, 0..depth) · B[0..depth, ·]. */
function oneRow(
  depth: number,
  width: number,
  alpha: number,
  a: Float64Array,
  aAt: number,
  cs: number,
  b: Float64Array,
  bAt: number,
  ldb: number,
  c: Float64Array,
  cAt: number,
): void {
  let p = 0;
  for (; p + 4 <= depth; p += 4) {
    const r = aAt + p * cs;
    const a0 = alpha * a[r];
    const a1 = alpha * a[r + cs];
    const a2 = alpha * a[r + 2 * cs];
    const a3 = alpha * a[r + 3 * cs];
    const b0 = bAt + p * ldb;
    const b1 = b0 + ldb;
    const b2 = b1 + ldb;
    const b3 = b2 + ldb;
    for (let j = 0; j < width; j++) c[cAt + j] += a0 * b[b0 + j] + a1 * b[b1 + j] + a2 * b[b2 + j] + a3 * b[b3 + j];
  }
  for (; p < depth; p++) {
    const a0 = alpha * a[aAt + p * cs];
    const b0 = bAt + p * ldb;
    for (let j = 0; j < width; j++) c[cAt + j] += a0 * b[b0 + j];
  }
}

/** Tiles of the transpose: 32 × 32 doubles read and 32 × 32 written (16 KiB together) stay in L1. */
const TILE = 32;

/** dst (cols × rows) = srcᵀ for src rows × cols. */
export function transposeInto(rows: number, cols: number, src: Block, dst: Block): void {
  const s = src.data;
  const d = dst.data;
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    const i1 = Math.min(rows, i0 + TILE);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(cols, j0 + TILE);
      for (let j = j0; j < j1; j++) {
        const out = dst.offset + j * dst.stride;
        for (let i = i0; i < i1; i++) d[out + i] = s[src.offset + i * src.stride + j];
      }
    }
  }
}

/**
 * Rows of C per product in the symmetric updates below; the work they spend beyond one triangle is about
 * BAND · n · k / 2.
 */
const BAND = 64;

/**
 * C (n × n) += alpha · P Pᵀ for P n × k, on the lower triangle of C. Within each band of BAND
 * rows the entries above the diagonal are updated too; the rest of the upper triangle is left
 * alone, so callers must not rely on the strict upper triangle.
 */
export function syrkLower(n: number, k: number, alpha: number, p: Block, c: Block): void {
  if (n <= 0 || k <= 0) return;
  // The product runs over rows of its right operand: Pᵀ, copied once (k × n) and shared by all bands.
  const pt = new Float64Array(k * n);
  transposeInto(n, k, p, blockOf(pt, n));
  const right = blockOf(pt, n);
  for (let i0 = 0; i0 < n; i0 += BAND) {
    const i1 = Math.min(n, i0 + BAND);
    gemm(i1 - i0, i1, k, alpha, at(p, i0, 0), false, right, at(c, i0, 0));
  }
}

/**
 * C (n × n) = AᵀA for A k × n, both triangles. Upper bands come from the product (reading A in
 * place as the transposed left operand) and are mirrored, which halves the work.
 */
export function gramInto(k: number, n: number, a: Block, c: Block): void {
  const d = c.data;
  for (let i = 0; i < n; i++) d.fill(0, c.offset + i * c.stride, c.offset + i * c.stride + n);
  for (let i0 = 0; i0 < n; i0 += BAND) {
    const i1 = Math.min(n, i0 + BAND);
    gemm(i1 - i0, n - i0, k, 1, at(a, 0, i0), true, at(a, 0, i0), at(c, i0, i0));
  }
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) d[c.offset + i * c.stride + j] = d[c.offset + j * c.stride + i];
}

/**
 * Columns per step of the blocked Cholesky: its panel work (dot products, not products of blocks) grows as
 * n² · NB / 4.
 */
const NB = 64;

/**
 * In-place Cholesky factorisation S = L Lᵀ of the n × n symmetric matrix whose lower triangle
 * (diagonal included) is in `s`: L overwrites that lower triangle; the strict upper triangle is
 * used as scratch. Right-looking by panels of NB columns: factor the panel, then subtract its
 * rank-NB contribution from the trailing matrix with one blocked update. Returns false at the first
 * pivot that is not positive (or NaN), leaving `s` partly overwritten.
 */
export function choleskyLower(n: number, s: Block): boolean {
  for (let k0 = 0; k0 < n; k0 += NB) {
    const k1 = Math.min(n, k0 + NB);
    if (!factorDiagonalBlock(k0, k1, s)) return false;
    solvePanelRows(k0, k1, n, s);
    syrkLower(n - k1, k1 - k0, -1, at(s, k1, k0), at(s, k1, k1));
  }
  return true;
}

/** Unblocked Cholesky of the diagonal block [k0, k1)², already updated by earlier panels. */
function factorDiagonalBlock(k0: number, k1: number, s: Block): boolean {
  const d = s.data;
  for (let j = k0; j < k1; j++) {
    const rj = s.offset + j * s.stride;
    let sum = d[rj + j];
    for (let q = k0; q < j; q++) sum -= d[rj + q] * d[rj + q];
    if (!(sum > 0)) return false;
    const ljj = Math.sqrt(sum);
    d[rj + j] = ljj;
    for (let i = j + 1; i < k1; i++) {
      const ri = s.offset + i * s.stride;
      d[ri + j] = (d[ri + j] - dot(d, ri + k0, rj + k0, j - k0)) / ljj;
    }
  }
  return true;
}

/** Rows [k1, n) of panel [k0, k1): L21 = S21 L11⁻ᵀ, one row at a time so that each row stays in L1. */
function solvePanelRows(k0: number, k1: number, n: number, s: Block): void {
  const d = s.data;
  for (let i = k1; i < n; i++) {
    const ri = s.offset + i * s.stride;
    for (let j = k0; j < k1; j++) {
      const rj = s.offset + j * s.stride;
      d[ri + j] = (d[ri + j] - dot(d, ri + k0, rj + k0, j - k0)) / d[rj + j];
    }
  }
}

/** Σ d[x + q] · d[y + q] for q < length. */
export function dot(d: Float64Array, x: number, y: number, length: number): number {
  let s = 0;
  for (let q = 0; q < length; q++) s += d[x + q] * d[y + q];
  return s;
}

/**
 * Rows per step of the triangular solves: each step is one product with SOLVE_NB rows of the
 * factor, then row operations within the diagonal block, work that grows as n · SOLVE_NB · m / 2.
 * (32 and 64 measured alike at n = 2048; 32 is faster at n ≤ 1024.)
 */
const SOLVE_NB = 32;

/**
 * Solves L Y = X in place for L n × n lower triangular (only its lower triangle is read) and X
 * n × m. Left-looking: each band of rows first takes the product of L's rows to its left with the
 * rows of Y already solved, then is solved against its diagonal block.
 */
export function solveLower(n: number, m: number, l: Block, x: Block): void {
  for (let k0 = 0; k0 < n; k0 += SOLVE_NB) {
    const k1 = Math.min(n, k0 + SOLVE_NB);
    gemm(k1 - k0, m, k0, -1, at(l, k0, 0), false, x, at(x, k0, 0));
    for (let i = k0; i < k1; i++) {
      const xi = x.offset + i * x.stride;
      for (let q = k0; q < i; q++) axpy(-l.data[l.offset + i * l.stride + q], x.data, x.offset + q * x.stride, xi, m);
      scaleRow(x.data, xi, m, l.data[l.offset + i * l.stride + i]);
    }
  }
}

/** Solves Lᵀ Y = X in place, L as in solveLower, reading Lᵀ in place. */
export function solveLowerTransposed(n: number, m: number, l: Block, x: Block): void {
  const top = Math.floor((n - 1) / SOLVE_NB) * SOLVE_NB;
  for (let k0 = top; k0 >= 0; k0 -= SOLVE_NB) {
    const k1 = Math.min(n, k0 + SOLVE_NB);
    gemm(k1 - k0, m, n - k1, -1, at(l, k1, k0), true, at(x, k1, 0), at(x, k0, 0));
    for (let i = k1 - 1; i >= k0; i--) {
      const xi = x.offset + i * x.stride;
      for (let q = i + 1; q < k1; q++)
        axpy(-l.data[l.offset + q * l.stride + i], x.data, x.offset + q * x.stride, xi, m);
      scaleRow(x.data, xi, m, l.data[l.offset + i * l.stride + i]);
    }
  }
}

/** d[y + j] += alpha · d[x + j] for j < length. */
function axpy(alpha: number, d: Float64Array, x: number, y: number, length: number): void {
  if (alpha === 0) return;
  for (let j = 0; j < length; j++) d[y + j] += alpha * d[x + j];
}

/** d[x + j] /= divisor for j < length (a division, as the unblocked solve did, not a reciprocal). */
function scaleRow(d: Float64Array, x: number, length: number, divisor: number): void {
  for (let j = 0; j < length; j++) d[x + j] /= divisor;
}
