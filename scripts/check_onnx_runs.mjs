// Helper for make_transformer_fixtures.py: runs exported ONNX models with onnxruntime-node on
// the inputs the script wrote (float32 or int64, several per model) and compares with PyTorch.
// Usage: node scripts/check_onnx_runs.mjs spec.json
// Prints {"<run>": {"max_abs_diff", "argmax_agree", "n", "dims", "accuracy"}, ...} as JSON.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [specPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const read = (f, Ctor) => { const b = readFileSync(f); return new Ctor(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); };
const out = {};
for (const run of spec.runs) {
  const sess = await ort.InferenceSession.create(run.onnx);
  const feeds = {};
  for (const [name, f] of Object.entries(run.feeds)) {
    const data = f.dtype === 'int64' ? read(f.file, BigInt64Array) : read(f.file, Float32Array);
    feeds[name] = new ort.Tensor(f.dtype, data, f.shape);
  }
  const res = await sess.run(feeds);
  const got = res.logits.data;
  const ref = read(run.ref, Float32Array);
  if (got.length !== ref.length) throw new Error(`${run.name}: ${got.length} logits vs ${ref.length}`);
  const labels = run.labels ? read(run.labels, BigInt64Array) : null;
  const n = res.logits.dims[0], k = res.logits.dims[1];
  let maxd = 0, agree = 0, correct = 0;
  for (let i = 0; i < ref.length; i++) maxd = Math.max(maxd, Math.abs(got[i] - ref[i]));
  for (let r = 0; r < n; r++) {
    let ag = 0, ar = 0;
    for (let c = 1; c < k; c++) {
      if (got[r * k + c] > got[r * k + ag]) ag = c;
      if (ref[r * k + c] > ref[r * k + ar]) ar = c;
    }
    if (ag === ar) agree++;
    if (labels && BigInt(ag) === labels[r]) correct++;
  }
  out[run.name] = { max_abs_diff: maxd, argmax_agree: agree, n, dims: res.logits.dims,
                    accuracy: labels ? correct / n : null };
}
console.log(JSON.stringify(out));
