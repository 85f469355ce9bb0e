// One fuzz worker: mutates seeds, reads each mutated file as the library does, and prints one line
// per case (START before, then the outcome), so that the runner can name a case that hangs.
// Usage: tsx test/fuzz/worker.ts <base seed> <first case> <case count>
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadData } from '../../src/api/data.ts';
import { decodeStatistics } from '../../src/compress/statistics-format.ts';
import { IdpruneError } from '../../src/errors.ts';
import { mutate, seeded } from './mutate.ts';
import { INPUTS, type Kind, makeSeeds, type Seed, sha256, tokenizerJson } from './seeds.ts';

export type Outcome = 'refused' | 'same' | 'different' | 'internal';

const [base, first, count] = process.argv.slice(2).map(Number);
const seeds = await makeSeeds();
const dir = mkdtempSync(join(tmpdir(), 'idprune-fuzz-'));

/** What the library reads from a file of this kind: the values of every input, or the statistics. */
async function contents(kind: Kind, name: string, bytes: Uint8Array): Promise<unknown> {
  const caseDir = mkdtempSync(join(dir, 'case-'));
  try {
    const path = join(caseDir, name);
    writeFileSync(path, bytes);
    if (kind === 'statistics') return decodeStatistics(bytes, path, sha256);
    let data = path;
    let tokenizer = join(caseDir, 'tokenizer.json');
    if (kind === 'tokenizer') {
      data = join(caseDir, 'texts.txt');
      writeFileSync(data, 'the cat sat\non the mat\n');
      tokenizer = path;
    } else if (kind === 'text') {
      writeFileSync(tokenizer, tokenizerJson());
    }
    const dataset = await loadData(data, INPUTS[kind], 'calibration data', { tokenizer, sampleRate: 16000 });
    return Object.fromEntries(
      Object.entries(dataset.arrays).map(([input, array]) => [
        input,
        [...(array.rows(0, dataset.count) as Iterable<number | bigint>)],
      ]),
    );
  } finally {
    rmSync(caseDir, { recursive: true, force: true });
  }
}

const originals = new Map<Seed, unknown>();
for (const seed of seeds) originals.set(seed, await contents(seed.kind, seed.name, seed.bytes));

for (let n = first; n < first + count; n++) {
  const random = seeded(base * 1_000_003 + n);
  const seed = seeds[Math.floor(random() * seeds.length)];
  const bytes = mutate(seed.bytes, random);
  console.log(`START ${n}`);
  let outcome: Outcome;
  let message = '';
  try {
    const read = await contents(seed.kind, seed.name, bytes);
    outcome = isDeepStrictEqual(read, originals.get(seed)) ? 'same' : 'different';
  } catch (err) {
    outcome = err instanceof IdpruneError ? 'refused' : 'internal';
    message = String((err as Error)?.message ?? err);
    if (outcome === 'refused' && message.includes('\n')) outcome = 'internal';
  }
  const changed = bytes.length !== seed.bytes.length || bytes.some((b, i) => b !== seed.bytes[i]);
  console.log(
    JSON.stringify({ n, kind: seed.kind, seed: seed.name, guarded: seed.guarded, changed, outcome, message }),
  );
}
rmSync(dir, { recursive: true, force: true });
