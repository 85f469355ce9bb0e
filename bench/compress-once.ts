// One compression in a process of its own, so that wall time and peak memory are its alone.
// Usage: tsx bench/compress-once.ts <fixture> <budget as JSON> <corrected|plain> <output.onnx> [keep-coupled]
// [round-to-1] [peers] [skip=<node or tensor name>]
// With `peers`, also writes <output>.magnitude.onnx and <output>.random.onnx: those selections at
// the same per-layer sizes, with the same interpolation and refits, and <output>.flap.onnx, the
// FLAP-style peer at those sizes (after the timed compression).
import { writeFileSync } from 'node:fs';
import { batches, makeDataset } from '../src/calibrate/dataset.ts';
import type { Budget } from '../src/compress/allocate.ts';
import { compressPrepared } from '../src/compress/pipeline.ts';
import type { CorrectionMode } from '../src/compress/options.ts';
import { prepareCompression } from '../src/compress/prepare.ts';
import { probeKey } from '../src/compress/space-tensors.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
import { magnitudeKeep, randomKeep, wandaKeep } from './baselines.ts';
import { biasCompensatedModel } from './bias-compensation.ts';
import { type Fixture, loadCalibration, loadModel } from './fixtures.ts';

const [fixture, budget, mode, output, ...flags] = process.argv.slice(2);
const bytes = loadModel(fixture as Fixture);
const calibration = loadCalibration(fixture as Fixture);

// Baseline: one plain inference pass of the calibration set through the original model.
const inputs = inputSpecs(decodeModel(bytes));
const session = await nodeRuntime.load(bytes);
const dataset = makeDataset(calibration, inputs, 'calib');
const inferenceStart = performance.now();
for (const feeds of batches(dataset, inputs, 64)) await session.run(feeds);
const inferenceSeconds = (performance.now() - inferenceStart) / 1000;
await session.release();

const start = performance.now();
const peers = flags.includes('peers');
const prepared = await prepareCompression(
  decodeModel(bytes),
  (a) => makeDataset(calibration, a.inputs, 'calib'),
  nodeRuntime,
  {
    mode: mode as CorrectionMode,
    keepCoupled: flags.includes('keep-coupled') || undefined,
    skip: flags.filter((f) => f.startsWith('skip=')).map((f) => f.slice('skip='.length)),
  },
);
const sizing = { budget: JSON.parse(budget) as Budget, roundTo: flags.includes('round-to-1') ? 1 : undefined };
const result = await compressPrepared(prepared, { ...sizing, lastUse: !peers });
const compressSeconds = (performance.now() - start) / 1000;
writeFileSync(output, result.bytes);
if (peers) {
  const pruned = result.outcomes.filter((o) => o.kept < o.space.channels);
  const choices: [string, (o: (typeof pruned)[number]) => number[]][] = [
    ['magnitude', (o) => magnitudeKeep(result.analysis, o.space, o.kept)],
    ['random', (o) => randomKeep(o.space.channels, o.kept, 1000 + o.space.id)],
    [
      'wanda',
      (o) =>
        wandaKeep(result.analysis, o.space, o.kept, (t) => prepared.statistics.grams.get(probeKey(o.space.id, t))!),
    ],
  ];
  for (const [name, choose] of choices) {
    const peer = await compressPrepared(prepared, {
      ...sizing,
      keep: new Map(pruned.map((o) => [o.space.id, choose(o)])),
    });
    writeFileSync(output.replace(/\.onnx$/, `.${name}.onnx`), peer.bytes);
  }
  const flap = await biasCompensatedModel(result.analysis, result.outcomes, {
    dataset,
    inputs,
    runtime: nodeRuntime,
    batchSize: 64,
  });
  writeFileSync(output.replace(/\.onnx$/, '.flap.onnx'), flap);
}
console.log(
  JSON.stringify({
    inferenceSeconds,
    compressSeconds,
    passes: result.passes,
    timings: result.timings,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    kept: Object.fromEntries(result.outcomes.map((o) => [o.space.id, { kept: o.kept, keep: o.keep }])),
  }),
);
