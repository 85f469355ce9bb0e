import { IdpruneError } from '../errors.ts';
import type { Matrix } from '../linalg/matrix.ts';
import type { MachineLatencyModel, Statistics } from './prepare.ts';

/*
 * A statistics file keeps what compression learned from a model and its calibration data before
 * any budget (Gram matrices, rankings, measured error curves), so that a later run at another
 * budget skips the statistics pass. Layout: a magic line, a little-endian uint32 header length, a
 * JSON header, zero padding to a multiple of 8, the float64 arrays the header points into, and a
 * checksum of all that (SHA-256 where written on Node: the hash is given by the caller, so that this
 * module runs anywhere).
 */

/** A hash of a file's bytes: 32 bytes. */
export type Checksum = (bytes: Uint8Array) => Uint8Array;
const CHECKSUM_BYTES = 32;

const MAGIC = 'idprune statistics 2\n';
/** Files of the first format carry no schema to check against: they are refused. */
const EARLIER_MAGIC = 'idprune statistics 1\n';

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
  /** Small, plain numbers: kept in the JSON header as they are. */
  latencyModels?: MachineLatencyModel[];
}

export function encodeStatistics(statistics: Statistics, origin: StatisticsOrigin, checksum: Checksum): Uint8Array {
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
    latencyModels: statistics.latencyModels,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const magic = new TextEncoder().encode(MAGIC);
  const start = Math.ceil((magic.length + 4 + json.length) / 8) * 8;
  const bytes = new Uint8Array(start + 8 * offset + CHECKSUM_BYTES);
  bytes.set(magic);
  new DataView(bytes.buffer).setUint32(magic.length, json.length, true);
  bytes.set(json, magic.length + 4);
  const values = new Float64Array(bytes.buffer, start, offset);
  let at = 0;
  for (const array of arrays) {
    values.set(array, at);
    at += array.length;
  }
  bytes.set(checksum(bytes.subarray(0, bytes.length - CHECKSUM_BYTES)), bytes.length - CHECKSUM_BYTES);
  return bytes;
}

export function decodeStatistics(
  file: Uint8Array,
  source: string,
  checksum: Checksum,
): { statistics: Statistics; origin: StatisticsOrigin } {
  const magic = new TextEncoder().encode(MAGIC);
  const bad = (why: string) => new IdpruneError(`${source} is not an idprune statistics file (${why})`);
  const opening = new TextDecoder().decode(file.subarray(0, magic.length));
  if (opening === EARLIER_MAGIC)
    throw new IdpruneError(`${source} was saved by an earlier idprune: save the statistics again (--save-stats)`);
  if (file.length < magic.length + 4 + CHECKSUM_BYTES || opening !== MAGIC) throw bad('no header');
  const bytes = file.subarray(0, file.length - CHECKSUM_BYTES);
  const expected = checksum(bytes);
  if (expected.some((b, i) => b !== file[bytes.length + i]))
    throw new IdpruneError(`${source} is damaged: its checksum does not match its contents (save it again)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(magic.length, true);
  const start = Math.ceil((magic.length + 4 + length) / 8) * 8;
  if (start > bytes.length) throw bad('truncated');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(magic.length + 4, magic.length + 4 + length)));
  } catch {
    throw bad('its header is not JSON');
  }
  if ((bytes.length - start) % 8 !== 0) throw bad('truncated');
  // Copied out: the file's buffer need not be aligned for a Float64Array view.
  const values = new Float64Array(bytes.slice(start).buffer);
  if (!values.every(Number.isFinite)) throw bad('it holds values that are not finite');
  const header = checkedHeader(parsed, values.length, (why) => bad(why));
  const read = (ref: ArrayRef) => values.slice(ref.offset, ref.offset + ref.length);
  const statistics: Statistics = {
    grams: new Map(
      header.grams.map((g): [string, Matrix] => [g.key, { rows: g.rows, cols: g.cols, data: read(g.values) }]),
    ),
    rankings: new Map(
      header.rankings.map((r) => [r.space, { order: r.order, rank: r.rank, relativeError: read(r.relativeError) }]),
    ),
    curves: header.curves && new Map(header.curves.map((c) => [c.space, read(c.values)])),
    ...(header.latencyModels && { latencyModels: header.latencyModels }),
  };
  return { statistics, origin: header.origin };
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isArray = (x: unknown): x is unknown[] => Array.isArray(x);

/** The header, checked field by field against the format (and its arrays against the payload's length). */
function checkedHeader(parsed: unknown, payload: number, bad: (why: string) => Error): Header {
  const fail = (field: string): never => {
    throw bad(`its header's ${field} is malformed`);
  };
  const ref = (x: unknown, field: string, length?: number): ArrayRef => {
    if (!isObject(x) || !isCount(x.offset) || !isCount(x.length)) return fail(field);
    if (x.offset + x.length > payload) throw bad('truncated');
    if (length !== undefined && x.length !== length) return fail(field);
    return { offset: x.offset, length: x.length };
  };
  if (!isObject(parsed)) return fail('top level');
  const { origin, grams, rankings, curves, latencyModels } = parsed;
  if (
    !isObject(origin) ||
    typeof origin.modelSha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(origin.modelSha256) ||
    !isObject(origin.data) ||
    typeof origin.data.source !== 'string' ||
    !isCount(origin.data.samples) ||
    !isObject(origin.options) ||
    typeof origin.tool !== 'string'
  )
    return fail('origin');
  if (!isArray(grams) || !isArray(rankings) || (curves !== undefined && !isArray(curves))) return fail('contents');
  return {
    origin: origin as unknown as StatisticsOrigin,
    grams: grams.map((g, i) => {
      if (!isObject(g) || typeof g.key !== 'string' || !isCount(g.rows) || !isCount(g.cols)) return fail(`gram ${i}`);
      return { key: g.key, rows: g.rows, cols: g.cols, values: ref(g.values, `gram ${i}`, g.rows * g.cols) };
    }),
    rankings: rankings.map((r, i) => {
      if (!isObject(r) || !isCount(r.space) || !isArray(r.order) || !isCount(r.rank)) return fail(`ranking ${i}`);
      const order = r.order;
      if (!isPermutation(order) || r.rank > order.length) return fail(`ranking ${i}`);
      return {
        space: r.space,
        order,
        rank: r.rank,
        relativeError: ref(r.relativeError, `ranking ${i}`, order.length + 1),
      };
    }),
    curves: curves?.map((c, i) => {
      if (!isObject(c) || !isCount(c.space)) return fail(`curve ${i}`);
      return { space: c.space, values: ref(c.values, `curve ${i}`) };
    }),
    latencyModels:
      latencyModels === undefined
        ? undefined
        : isArray(latencyModels) && latencyModels.every(isMachineLatencyModel)
          ? latencyModels
          : fail('latency models'),
  };
}

/** Whether `order` holds each of 0 … length − 1 once. */
function isPermutation(order: unknown[]): order is number[] {
  const seen = new Set<number>();
  for (const c of order) {
    if (!isCount(c) || c >= order.length || seen.has(c)) return false;
    seen.add(c);
  }
  return order.length > 0;
}

const isNumbers = (x: unknown): x is number[] => isArray(x) && x.every((v) => Number.isFinite(v));

/** A saved latency model: its sizes, times and every node curve's terms and points, all finite numbers. */
function isMachineLatencyModel(x: unknown): x is MachineLatencyModel {
  if (!isObject(x) || typeof x.machine !== 'string' || !isObject(x.model)) return false;
  const { batch, threads, originalMs, fixedMs, nodes } = x.model;
  return (
    isCount(batch) &&
    isCount(threads) &&
    Number.isFinite(originalMs) &&
    Number.isFinite(fixedMs) &&
    isArray(nodes) &&
    nodes.every(
      (n) =>
        isObject(n) &&
        isCount(n.node) &&
        isNumbers(n.shares) &&
        isNumbers(n.ms) &&
        n.shares.length === n.ms.length &&
        isArray(n.terms) &&
        n.terms.every((t) => isObject(t) && Number.isFinite(t.value) && isArray(t.spaces) && t.spaces.every(isCount)),
    )
  );
}
