// WAV files written byte by byte, as the RIFF specification lays them out.
export const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => {
    out.set(p, at);
    return at + p.length;
  }, 0);
  return out;
}
export function chunk(id: string, body: Uint8Array, declared = body.length): Uint8Array {
  const header = new Uint8Array(8);
  header.set(ascii(id));
  new DataView(header.buffer).setUint32(4, declared, true);
  return concat([header, body, new Uint8Array(body.length & 1)]);
}
export function riff(chunks: Uint8Array[]): Uint8Array {
  const body = concat([ascii('WAVE'), ...chunks]);
  return chunk('RIFF', body);
}
export function fmt(tag: number, channels: number, rate: number, bits: number, extensibleTag?: number): Uint8Array {
  const body = new Uint8Array(extensibleTag === undefined ? 16 : 40);
  const view = new DataView(body.buffer);
  view.setUint16(0, tag, true);
  view.setUint16(2, channels, true);
  view.setUint32(4, rate, true);
  view.setUint32(8, (rate * channels * bits) / 8, true);
  view.setUint16(12, (channels * bits) / 8, true);
  view.setUint16(14, bits, true);
  if (extensibleTag !== undefined) {
    view.setUint16(16, 22, true);
    view.setUint16(24, extensibleTag, true);
  }
  return chunk('fmt ', body);
}
export const pcm16 = (values: ArrayLike<number>) => new Uint8Array(Int16Array.from(values).buffer);
export const float32 = (values: ArrayLike<number>) => new Uint8Array(Float32Array.from(values).buffer);
export const pcm24 = (values: number[]) =>
  Uint8Array.from(values.flatMap((v) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]));
export const sine = (frequency: number, rate: number, count: number, amplitude = 1) =>
  Array.from({ length: count }, (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / rate));
