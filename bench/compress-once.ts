// One compression in a process of its own, so that wall time and peak memory are its alone.
// Usage: tsx bench/compress-once.ts <fixture> <budget as JSON> <corrected|plain> <output.onnx> [keep-coupled] [round-to-1]
import { writeFileSync } from 'node:fs';
import { batches, makeDataset } from '../src/calibrate/dataset.ts';
import type { Budget } from '../src/compress/allocate.ts';
import { compressModel, type CorrectionMode } from '../src/compress/pipeline.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';
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
const result = await compressModel(decodeModel(bytes), (a) => makeDataset(calibration, a.inputs, 'calib'), nodeRuntime, {
  budget: JSON.parse(budget) as Budget,
  mode: mode as CorrectionMode,
  keepCoupled: flags.includes('keep-coupled') || undefined,
  roundTo: flags.includes('round-to-1') ? 1 : undefined,
});
const compressSeconds = (performance.now() - start) / 1000;
writeFileSync(output, result.bytes);
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
