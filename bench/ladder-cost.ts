// npm run bench:ladder: what the latency model of --target-latency costs (src/compress/latency-budget.ts),
// in one-pass times of the calibration data: one plain ONNX Runtime pass over the calibration data
// (batches of 64, after one warm-up batch), then the latency model measured at batch 1 and at batch 64,
// in the same process. Models: ResNet-50, MobileNetV3-Large and a BERT-base-sized encoder of
// scripts/make_speed_models.py (.cache/speed/). Writes bench/ladder-cost.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { batches, batchSizeFor, makeDataset } from '../src/calibrate/dataset.ts';
import { latencyModel } from '../src/compress/latency-budget.ts';
import { analyzeModel } from '../src/graph/analysis.ts';
import { readArrays } from '../src/io/files.ts';
import { decodeModel } from '../src/onnx/model.ts';
import { runtimeProducts } from '../src/onnx/runtime-products.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { silentProgress } from '../src/progress.ts';
import { commit } from './run-info.ts';

const speedDir = new URL('../.cache/speed/', import.meta.url).pathname;
const MODELS = [
  ['resnet50', 'calib.npy'],
  ['mobilenetv3', 'calib.npy'],
  ['bert', 'calib.npz'],
] as const;
const seconds = (start: number) => (performance.now() - start) / 1000;

const rows: string[] = [];
for (const [name, data] of MODELS) {
  const path = `${speedDir}${name}/model.onnx`;
  if (!existsSync(path)) {
    rows.push(`| ${name} | not made: run /usr/bin/python3 scripts/make_speed_models.py |  |  |  |  |  |`);
    continue;
  }
  const bytes = new Uint8Array(readFileSync(path));
  const model = decodeModel(bytes);
  const analysis = await analyzeModel(model, nodeRuntime);
  const calibration = makeDataset(readArrays(`${speedDir}${name}/${data}`), analysis.inputs, 'calib');
  const batchSize = batchSizeFor(analysis.inputs, 64);

  const session = await nodeRuntime.load(bytes);
  const feeds = [...batches(calibration, analysis.inputs, batchSize)];
  await session.run(feeds[0]);
  const passStart = performance.now();
  for (const f of feeds) await session.run(f);
  const onePass = seconds(passStart);
  await session.release();

  const source = {
    model,
    analysis,
    calibration,
    pass: { runtime: nodeRuntime, dataset: calibration, inputs: analysis.inputs, batchSize, progress: silentProgress },
    latencyModels: new Map(),
  };
  const products = runtimeProducts(nodeRuntime);
  const cells: string[] = [];
  for (const batch of [1, 64]) {
    const start = performance.now();
    const measured = await latencyModel(source, batch, nodeRuntime.defaultThreads, products);
    const took = seconds(start);
    const fixedShare = (100 * measured.fixedMs) / measured.originalMs;
    cells.push(
      `${took.toFixed(1)} s = ${(took / onePass).toFixed(2)}× one pass ` +
        `(original ${measured.originalMs.toFixed(1)} ms, fixed part ${fixedShare.toFixed(0)}%)`,
    );
    console.error(`${name} batch ${batch}: ${cells.at(-1)}`);
  }
  await products.release();
  rows.push(`| ${name} | ${calibration.count} | ${onePass.toFixed(2)} | ${cells.join(' | ')} |`);
}

const report = [
  '# The cost of the latency model',
  '',
  `Written by \`npm run bench:ladder\` at ${commit() ?? 'an uncommitted tree'} ` +
    `(${process.platform}, ${process.arch}, ${cpus().length} cores, Node ${process.version}, ` +
    `${nodeRuntime.defaultThreads} intra-op threads). One pass: a plain`,
  'ONNX Runtime pass of the calibration data through the original, batches of 64. The latency model: four profiled',
  'widths of the model (src/compress/latency-model.ts), loads and structural copies included, at each batch size.',
  '',
  '| model | calibration samples | one pass (s) | latency model at batch 1 | latency model at batch 64 |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
writeFileSync(new URL('./ladder-cost.md', import.meta.url), report);
console.log(report);
