// Helper for make_llama_fixture.py: runs ONNX models with onnxruntime-node on named feeds (float32
// or int64) and compares every expected output with PyTorch's.
// Usage: node scripts/check_onnx_outputs.mjs spec.json
// Prints {"<run>": {"<output>": max |onnxruntime - torch|, ...}, ...} as JSON.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [specPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const read = (entry) => {
  const b = readFileSync(entry.file);
  const buffer = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  return entry.dtype === 'int64' ? new BigInt64Array(buffer) : new Float32Array(buffer);
};
const out = {};
for (const run of spec.runs) {
  const session = await ort.InferenceSession.create(run.onnx);
  const feeds = {};
  for (const [name, entry] of Object.entries(run.feeds))
    feeds[name] = new ort.Tensor(entry.dtype, read(entry), entry.shape);
  const results = await session.run(feeds);
  out[run.name] = {};
  for (const [name, entry] of Object.entries(run.expect)) {
    const expected = read(entry);
    const got = results[name];
    if (got.dims.join() !== entry.shape.join())
      throw new Error(`${run.name}: ${name} is [${got.dims}], torch gave [${entry.shape}]`);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - expected[i]));
    out[run.name][name] = worst;
  }
}
console.log(JSON.stringify(out));
