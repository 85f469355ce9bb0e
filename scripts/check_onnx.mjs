// Helper for make_fixtures.py: run exported ONNX models with onnxruntime-node and
// compare against reference logits computed by PyTorch.
// Usage: node scripts/check_onnx.mjs spec.json   (spec written by make_fixtures.py)
// Prints {"<model>": {"max_abs_diff": x, "argmax_agree": k, "n": n}, ...} as JSON.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { compareLogits } from './compare-logits.mjs';

const specPath = process.argv[2];
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const base = dirname(specPath);
const readF32 = (p) => {
  const b = readFileSync(join(base, p));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const x = readF32(spec.input);
const input = new ort.Tensor('float32', x, spec.shape);
const out = {};
for (const [name, m] of Object.entries(spec.models)) {
  const sess = await ort.InferenceSession.create(m.onnx);
  const res = await sess.run({ input });
  const { accuracy, ...compared } = compareLogits(res.logits.data, readF32(m.ref), spec.shape[0]);
  out[name] = { ...compared, dims: res.logits.dims };
}
console.log(JSON.stringify(out));
