import { IdpruneError } from '../errors.ts';
import type { Matrix } from '../linalg/matrix.ts';
import type { Statistics } from './prepare.ts';

/*
 * A statistics file keeps what compression learned from a model and its calibration data before
 * any budget (Gram matrices, rankings, measured error curves), so that a later run at another
 * budget skips the statistics pass. Layout: a magic line, a little-endian uint32 header length, a
 * JSON header, zero padding to a multiple of 8, then the float64 arrays the header points into.
 */

const MAGIC = 'idprune statistics 1\n';

/** Where the statistics came from: a file is refused for another model. */
export interface StatisticsOrigin {
  /** SHA-256 of the model file, hex. */
  modelSha256: string;
  /** The calibration data as given (a path) and its sample count. */
  data: { source: string; samples: number };
  /** Options that change the analysis or the statistics. */
  options: { mode: string; skip: string[]; keepCoupled?: boolean; maskInput?: string };
  tool: string;
}

interface ArrayRef {
  offset: number;
  length: number;
}

interface Header {
  origin: StatisticsOrigin;
  grams: { key: string; rows: number; cols: number; values: ArrayRef }[];
  rankings: { space: number; order: number[]; rank: number; relativeError: ArrayRef }[];
  curves?: { space: number; values: ArrayRef }[];
}

export function encodeStatistics(statistics: Statistics, origin: StatisticsOrigin): Uint8Array {
  const arrays: Float64Array[] = [];
  let offset = 0;
  const place = (values: Float64Array): ArrayRef => {
    arrays.push(values);
    const ref = { offset, length: values.length };
    offset += values.length;
    return ref;
  };
  const header: Header = {
    origin,
    grams: [...statistics.grams].map(([key, m]) => ({ key, rows: m.rows, cols: m.cols, values: place(m.data) })),
    rankings: [...statistics.rankings].map(([space, r]) => ({
      space,
      order: r.order,
      rank: r.rank,
      relativeError: place(r.relativeError),
    })),
    curves: statistics.curves && [...statistics.curves].map(([space, curve]) => ({ space, values: place(curve) })),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const magic = new TextEncoder().encode(MAGIC);
  const start = Math.ceil((magic.length + 4 + json.length) / 8) * 8;
  const bytes = new Uint8Array(start + 8 * offset);
  bytes.set(magic);
  new DataView(bytes.buffer).setUint32(magic.length, json.length, true);
  bytes.set(json, magic.length + 4);
  const values = new Float64Array(bytes.buffer, start, offset);
  let at = 0;
  for (const array of arrays) {
    values.set(array, at);
    at += array.length;
  }
  return bytes;
}

export function decodeStatistics(
  bytes: Uint8Array,
  source: string,
): { statistics: Statistics; origin: StatisticsOrigin } {
  const magic = new TextEncoder().encode(MAGIC);
  const bad = (why: string) => new IdpruneError(`${source} is not an idprune statistics file (${why})`);
  if (bytes.length < magic.length + 4 || new TextDecoder().decode(bytes.subarray(0, magic.length)) !== MAGIC)
    throw bad('no header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(magic.length, true);
  const start = Math.ceil((magic.length + 4 + length) / 8) * 8;
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(magic.length + 4, magic.length + 4 + length)));
  } catch {
    throw bad('its header is not JSON');
  }
  if ((bytes.length - start) % 8 !== 0) throw bad('truncated');
  // Copied out: the file's buffer need not be aligned for a Float64Array view.
  const values = new Float64Array(bytes.slice(start).buffer);
  const read = (ref: ArrayRef) => {
    if (ref.offset + ref.length > values.length) throw bad('truncated');
    return values.slice(ref.offset, ref.offset + ref.length);
  };
  const statistics: Statistics = {
    grams: new Map(
      header.grams.map((g): [string, Matrix] => [g.key, { rows: g.rows, cols: g.cols, data: read(g.values) }]),
    ),
    rankings: new Map(
      header.rankings.map((r) => [r.space, { order: r.order, rank: r.rank, relativeError: read(r.relativeError) }]),
    ),
    curves: header.curves && new Map(header.curves.map((c) => [c.space, read(c.values)])),
  };
  return { statistics, origin: header.origin };
}
