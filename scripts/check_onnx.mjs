// Helper for make_fixtures.py: run exported ONNX models with onnxruntime-node and
// compare against reference logits computed by PyTorch.
// Usage: node scripts/check_onnx.mjs spec.json   (spec written by make_fixtures.py)
// Prints {"<model>": {"max_abs_diff": x, "argmax_agree": k, "n": n}, ...} as JSON.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import ort from "onnxruntime-node";

const specPath = process.argv[2];
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const base = dirname(specPath);
const readF32 = (p) => {
  const b = readFileSync(join(base, p));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const x = readF32(spec.input);
const input = new ort.Tensor("float32", x, spec.shape);
const out = {};
for (const [name, m] of Object.entries(spec.models)) {
  const sess = await ort.InferenceSession.create(m.onnx);
  const res = await sess.run({ input });
  const got = res.logits.data;
  const ref = readF32(m.ref);
  if (got.length !== ref.length) throw new Error(`${name}: length ${got.length} vs ${ref.length}`);
  let maxd = 0;
  for (let i = 0; i < ref.length; i++) maxd = Math.max(maxd, Math.abs(got[i] - ref[i]));
  const n = spec.shape[0];
  const k = ref.length / n;
  let agree = 0;
  for (let r = 0; r < n; r++) {
    let ag = 0, ar = 0;
    for (let c = 1; c < k; c++) {
      if (got[r * k + c] > got[r * k + ag]) ag = c;
      if (ref[r * k + c] > ref[r * k + ar]) ar = c;
    }
    if (ag === ar) agree++;
  }
  out[name] = { max_abs_diff: maxd, argmax_agree: agree, n, dims: res.logits.dims };
}
console.log(JSON.stringify(out));
