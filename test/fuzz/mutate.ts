// Structured mutations of a file's bytes: bits and bytes, sizes and offsets, cuts, and the numbers
// and names of text headers (JSON, .npy headers, JSONL).

import { random } from '../helpers/models.ts';

export type Random = () => number;

/** The generator of the test models (mulberry32): every case can be replayed from its seed. */
export const seeded = random;

const below = (random: Random, n: number) => Math.floor(random() * n);
const pick = <T>(random: Random, items: readonly T[]) => items[below(random, items.length)];

/** Most format fields live near the start (headers) or the end (a zip's directory). */
function position(random: Random, length: number): number {
  const r = random();
  if (r < 0.4) return below(random, Math.min(length, 128));
  if (r < 0.6) return Math.max(0, length - 1 - below(random, Math.min(length, 128)));
  return below(random, length);
}

const EXTREMES = [0, 1, 2, 0x7f, 0xff, 0xffff, 0x7fffffff, 0xffffffff];
const NUMBERS = ['-1', '0', '2.5', '1e309', '-0', '"x"', 'null', '[]', '{}', '99999999999', 'NaN', '3e38'];

const MUTATIONS: ((bytes: Uint8Array, random: Random) => Uint8Array)[] = [
  function flipBit(bytes, random) {
    const out = bytes.slice();
    const at = position(random, out.length);
    out[at] ^= 1 << below(random, 8);
    return out;
  },
  function setByte(bytes, random) {
    const out = bytes.slice();
    out[position(random, out.length)] = pick(random, [0, 0xff, below(random, 256)]);
    return out;
  },
  function setField(bytes, random) {
    // A uint32 or uint16 (little-endian) of a size, offset, rate or count: extreme, or near the file's length.
    const out = bytes.slice();
    const at = Math.min(position(random, out.length), Math.max(0, out.length - 4));
    const value = pick(random, [...EXTREMES, out.length, out.length + 1, below(random, 2 ** 32)]);
    const view = new DataView(out.buffer);
    if (random() < 0.5 && at + 4 <= out.length) view.setUint32(at, value >>> 0, true);
    else if (at + 2 <= out.length) view.setUint16(at, value & 0xffff, true);
    return out;
  },
  function cut(bytes, random) {
    return bytes.slice(0, below(random, bytes.length));
  },
  function extend(bytes, random) {
    const tail = Uint8Array.from({ length: 1 + below(random, 64) }, () => below(random, 256));
    const out = new Uint8Array(bytes.length + tail.length);
    out.set(bytes);
    out.set(tail, bytes.length);
    return out;
  },
  function dropSpan(bytes, random) {
    const at = position(random, bytes.length);
    const length = 1 + below(random, 16);
    return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + length)]);
  },
  function textNumber(bytes, random) {
    // In text: a number, or a name, replaced by another value.
    const text = new TextDecoder('latin1').decode(bytes);
    const tokens = [...text.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?|"[A-Za-z_]+"/g)];
    if (tokens.length === 0) return MUTATIONS[0](bytes, random);
    const token = pick(random, tokens);
    const replacement = token[0].startsWith('"') && random() < 0.5 ? '"constructor"' : pick(random, NUMBERS);
    const mutated = text.slice(0, token.index) + replacement + text.slice(token.index! + token[0].length);
    return Uint8Array.from(mutated, (c) => c.charCodeAt(0) & 0xff);
  },
];

/** The seed's bytes after one to three mutations. */
export function mutate(bytes: Uint8Array, random: Random): Uint8Array {
  let out = bytes;
  const count = 1 + below(random, 3);
  for (let i = 0; i < count && out.length > 0; i++) out = pick(random, MUTATIONS)(out, random);
  return out;
}
