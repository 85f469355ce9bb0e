// Transformer benchmark (part of npm run bench): the ViT and text-classifier fixtures with a kept
// fraction of FFN neurons (0.75 / 0.5 / 0.25, heads intact), of attention heads (0.75 / 0.5, FFN
// intact), and at a FLOPs target of 0.5 (the allocation mixing both); beside, at the same sizes,
// magnitude and random selections with the same correction, the FLAP-style peer, ID selection
// without correction and magnitude pruning. Writes bench/transformers.md and .json.
import { existsSync } from 'node:fs';
import type { Budget } from '../src/compress/allocate.ts';
import { fixturePath, loadModel, TRANSFORMER_FIXTURES } from './fixtures.ts';
import { analyzeFixture, baselines, compressAndMeasure, type Row, writeTable } from './measure.ts';

const CONFIGS: [string, Budget][] = [
  ['FFN neurons 0.75', { kind: 'keep', neurons: 0.75 }],
  ['FFN neurons 0.5', { kind: 'keep', neurons: 0.5 }],
  ['FFN neurons 0.25', { kind: 'keep', neurons: 0.25 }],
  ['heads 0.75', { kind: 'keep', heads: 0.75 }],
  ['heads 0.5', { kind: 'keep', heads: 0.5 }],
  ['FLOPs 0.5', { kind: 'flops', fraction: 0.5 }],
];

const rows: Row[] = [];
for (const fixture of TRANSFORMER_FIXTURES.filter((f) => existsSync(fixturePath(`${f}.onnx`)))) {
  const original = loadModel(fixture);
  const analysis = await analyzeFixture(fixture, original);
  const base = { flops: analysis.flops, params: analysis.params };
  for (const [target, budget] of CONFIGS) {
    let sizes: Record<string, { kept: number; keep: number[] }> | undefined;
    for (const mode of ['corrected', 'plain']) {
      const extra = mode === 'corrected' ? ['peers'] : [];
      const run = await compressAndMeasure(fixture, original, base, budget, mode, `${target}-${mode}`, extra);
      const { measured, kept, peers } = run;
      sizes ??= kept;
      rows.push({ fixture, target, method: `idprune ${mode}`, ...measured });
      for (const peer of peers) rows.push({ fixture, target, method: peer.method, ...peer.measured });
      console.error(
        `${fixture} ${target} ${mode}: agreement ${(100 * measured.agreement).toFixed(2)}% ` +
          `in ${measured.compressSeconds.toFixed(1)}s`,
      );
    }
    for (const { method, measured } of await baselines(fixture, analysis, original, base, sizes!, false)) {
      rows.push({ fixture, target, method, ...measured });
      console.error(`${fixture} ${target} ${method}: agreement ${(100 * measured.agreement).toFixed(2)}%`);
    }
  }
}

console.log(
  writeTable(
    'transformers',
    'Transformer benchmark',
    [
      'Fixtures from `scripts/make_transformer_fixtures.py`: a ViT on Fashion-MNIST (1000 calibration images ' +
        'from the training',
      'set, 5000 held-out test images) and a text classifier (see scripts/README.md for its data). ' +
        'Agreement = same top-1 as',
      'the original on the held-out set, never used for calibration. FLOPs count the attention scores at the held-out',
      'sequence length. Baselines use the per-layer sizes of `idprune corrected`; "+ same correction" rows get its',
      "interpolation and refits; the FLAP-style row folds the removed channels' calibration means into a bias.",
    ],
    rows,
    'kept',
  ),
);
