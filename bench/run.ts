// npm run bench: compresses each trained CNN fixture at FLOPs targets 0.7 / 0.5 / 0.3 in both
// correction modes (at 0.5 also without rounding kept counts to multiples of 8) and compares, at the
// same per-layer sizes, with magnitude and random selection given the same correction, and with
// magnitude, ID and random selection without correction. Writes bench/results.md and bench/results.json; then
// the transformer benchmark (bench/transformers.ts).
import { CNN_FIXTURES, loadModel } from './fixtures.ts';
import { analyzeFixture, baselines, compressAndMeasure, type Row, writeTable } from './measure.ts';

const TARGETS = [0.7, 0.5, 0.3];
const MODES = ['corrected', 'plain'] as const;

const rows: Row[] = [];
for (const fixture of CNN_FIXTURES) {
  const original = loadModel(fixture);
  const analysis = await analyzeFixture(fixture, original);
  const base = { flops: analysis.flops, params: analysis.params };
  for (const target of TARGETS) {
    let sizes: Record<string, { kept: number; keep: number[] }> | undefined;
    // Residual streams pruned (the default) and, where the model has them, left intact.
    const coupled = analysis.spaces.some((s) => s.producers.length > 1);
    const variants: [string, string, string[]][] = MODES.map((mode) => [
      `idprune ${mode}`,
      mode,
      mode === 'corrected' ? ['peers'] : [],
    ]);
    if (coupled) variants.push(['idprune corrected, streams intact', 'corrected', ['keep-coupled']]);
    if (target === 0.5) variants.push(['idprune corrected, counts not rounded', 'corrected', ['round-to-1']]);
    for (const [method, mode, extra] of variants) {
      const { measured, kept, peers } = await compressAndMeasure(
        fixture,
        original,
        base,
        { kind: 'flops', fraction: target },
        mode,
        `${target}-${method}`,
        extra,
      );
      sizes ??= kept;
      rows.push({ fixture, target: String(target), method, ...measured });
      console.error(
        `${fixture} ${target} ${method}: agreement ${(100 * measured.agreement).toFixed(2)}% ` +
          `in ${measured.compressSeconds.toFixed(1)}s`,
      );
      for (const peer of peers) rows.push({ fixture, target: String(target), method: peer.method, ...peer.measured });
    }
    for (const { method, measured } of await baselines(fixture, analysis, original, base, sizes!)) {
      rows.push({ fixture, target: String(target), method, ...measured });
      console.error(`${fixture} ${target} ${method}: agreement ${(100 * measured.agreement).toFixed(2)}%`);
    }
  }
}

console.log(
  writeTable(
    'results',
    'Benchmark results',
    [
      'Fashion-MNIST fixtures from `scripts/make_fixtures.py`; 1000 calibration images from the training set; ' +
        'agreement',
      '(same top-1 as the original) and accuracy on 5000 held-out test images never used for calibration.',
      'FLOPs and params are fractions of the original model. Baselines use the per-layer sizes ' +
        'chosen by `idprune corrected`;',
      '"+ same correction" rows get its interpolation and refits, "no correction" rows drop the other channels.',
      '"fluctuation + bias compensation (FLAP-style)" keeps the channels of largest calibration variance × squared',
      "consumer weight norm and folds the removed channels' calibration means into the consumers as a bias.",
      '"idprune plain" is the command\'s plain mode: it leaves coupled spaces (residual streams) intact.',
    ],
    rows,
    'target FLOPs',
  ),
);
