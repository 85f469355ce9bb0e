// Language-model benchmark (part of npm run bench): the character-level GPT of
// scripts/make_gpt_fixture.py with a quarter of its heads removed and at FLOPs targets 0.8 / 0.7 /
// 0.5, beside ID selection without correction and magnitude pruning at the same sizes. Agreement
// is per token: the same next character as the original at every position of the held-out windows.
// Writes bench/language.md and .json.
import type { Budget } from '../src/compress/allocate.ts';
import { LANGUAGE_FIXTURES, loadModel } from './fixtures.ts';
import { analyzeFixture, baselines, compressAndMeasure, type Row, writeTable } from './measure.ts';

const CONFIGS: [string, Budget][] = [
  ['heads 0.75', { kind: 'keep', heads: 0.75 }],
  ['FLOPs 0.8', { kind: 'flops', fraction: 0.8 }],
  ['FLOPs 0.7', { kind: 'flops', fraction: 0.7 }],
  ['FLOPs 0.5', { kind: 'flops', fraction: 0.5 }],
];

const rows: Row[] = [];
for (const fixture of LANGUAGE_FIXTURES) {
  const original = loadModel(fixture);
  const analysis = await analyzeFixture(fixture, original);
  const base = { flops: analysis.flops, params: analysis.params };
  for (const [target, budget] of CONFIGS) {
    const run = await compressAndMeasure(fixture, original, base, budget, 'corrected', target, ['peers']);
    const { measured, kept, peers } = run;
    rows.push({ fixture, target, method: 'idprune corrected', ...measured });
    for (const peer of peers) rows.push({ fixture, target, method: peer.method, ...peer.measured });
    console.error(
      `${fixture} ${target}: per-token agreement ${(100 * measured.agreement).toFixed(2)}% ` +
        `in ${measured.compressSeconds?.toFixed(1)}s`,
    );
    for (const { method, measured: m } of await baselines(fixture, analysis, original, base, kept, false)) {
      rows.push({ fixture, target, method, ...m });
      console.error(`${fixture} ${target} ${method}: ${(100 * m.agreement).toFixed(2)}%`);
    }
  }
}

console.log(
  writeTable(
    'language',
    'Language-model benchmark',
    [
      'A character-level GPT written the nanoGPT way (4 blocks, width 128, 4 heads, learned positions, causal mask by',
      "masked_fill; PyTorch export at opset 14), trained on Reuters-21578 articles from Debian's `weka` examples",
      '(`scripts/make_gpt_fixture.py`). 256 calibration windows of 64 characters from the training articles; ' +
        'agreement =',
      'the same next character as the original at each of the 32768 positions ' +
        'of 512 held-out windows from other articles.',
      'Baselines use the per-layer sizes of `idprune corrected`. Accuracy does not apply (no labels): "—".',
    ],
    rows,
    'kept',
  ),
);
