// Helper for make_transformer_fixtures.py: runs exported ONNX models with onnxruntime-node on
// the inputs the script wrote (float32 or int64, several per model) and compares with PyTorch.
// Usage: node scripts/check_onnx_runs.mjs spec.json
// Prints {"<run>": {"max_abs_diff", "argmax_agree", "n", "dims", "accuracy"}, ...} as JSON.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { compareLogits } from './compare-logits.mjs';

const [specPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const read = (f, Ctor) => {
  const b = readFileSync(f);
  return new Ctor(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const out = {};
for (const run of spec.runs) {
  const sess = await ort.InferenceSession.create(run.onnx);
  const feeds = {};
  for (const [name, f] of Object.entries(run.feeds)) {
    const data = f.dtype === 'int64' ? read(f.file, BigInt64Array) : read(f.file, Float32Array);
    feeds[name] = new ort.Tensor(f.dtype, data, f.shape);
  }
  const res = await sess.run(feeds);
  const labels = run.labels ? read(run.labels, BigInt64Array) : null;
  out[run.name] = {
    ...compareLogits(res.logits.data, read(run.ref, Float32Array), res.logits.dims[0], labels),
    dims: res.logits.dims,
  };
}
console.log(JSON.stringify(out));
