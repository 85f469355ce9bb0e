// A bounded run of the fuzz suite (test/fuzz/run.ts; npm run fuzz runs more): damaged inputs of
// every kind are refused with one IdpruneError line or read as valid files, never an internal
// error or a hang, and files whose format guards its contents never read as other contents.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runFuzz } from './fuzz/run.ts';
import { KINDS } from './fuzz/seeds.ts';

describe('mutated inputs of every kind', () => {
  it('are refused cleanly or read as valid files (1000 cases, fixed seed)', async () => {
    const run = await runFuzz({ cases: 1000, seed: 20261207 });
    assert.deepEqual(
      KINDS.filter((kind) => !run.results.some((r) => r.kind === kind)),
      [],
      'every kind was mutated',
    );
    assert.deepEqual(
      run.findings.map((f) => `case ${f.n} (${f.kind} ${f.seed}): ${f.outcome}: ${f.message}`),
      [],
    );
  });
});
