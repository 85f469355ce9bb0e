// A child process of bench/speed.ts: `tsx bench/speed-pass.ts <model.onnx> <data>` makes one plain ONNX Runtime
// pass of the data, batches of 64, and prints its timings as JSON.
import { batches, batchSizeFor, makeDataset } from '../src/calibrate/dataset.ts';
import { readArrays, readModel } from '../src/io/files.ts';
import { nodeRuntime } from '../src/onnx/runtime-node.ts';
import { inputSpecs } from '../src/onnx/shapes.ts';

// maxRSS is in KiB: the kernel's high-water mark for this process, exact whatever happens between samples.
const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;

async function plainPass(modelPath: string, dataPath: string) {
  const loadStart = performance.now();
  const { model, bytes } = readModel(modelPath);
  const inputs = inputSpecs(model);
  const dataset = makeDataset(readArrays(dataPath), inputs, dataPath);
  const session = await nodeRuntime.load(bytes);
  const loadSeconds = (performance.now() - loadStart) / 1000;
  // Reading and converting each batch is part of every pass compress makes, so it is timed here too.
  const batchSize = batchSizeFor(inputs, 64);
  const start = performance.now();
  for (const feeds of batches(dataset, inputs, batchSize)) await session.run(feeds);
  const seconds = (performance.now() - start) / 1000;
  await session.release();
  console.log(
    JSON.stringify({ samples: dataset.count, batchSize, loadSeconds, seconds, peakRssBytes: peakRssBytes() }),
  );
}

const [modelPath, dataPath] = process.argv.slice(2);
await plainPass(modelPath, dataPath);
