// Helper for make_gpt_fixture.py: runs gpt.onnx with onnxruntime-node on int64 windows [n,T]
// and compares the logits [n,T,V] with PyTorch's, position by position.
// Usage: node scripts/check_gpt_onnx.mjs spec.json
//   spec: {"onnx": path, "runs": [{"name", "shape": [n,T], "ref_shape": [n,T,V], "idx": file,
//          "ref": file, "targets"?: file}]}  (little-endian raw int64 / float32 files)
// Prints {"<run>": {"max_abs_diff", "argmax_agree", "positions", "accuracy", "dims"}, ...} as JSON.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { compareLogits } from './compare-logits.mjs';

const [specPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const read = (f, Ctor) => {
  const b = readFileSync(f);
  return new Ctor(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const sess = await ort.InferenceSession.create(spec.onnx);
const out = {};
for (const run of spec.runs) {
  const res = await sess.run({ idx: new ort.Tensor('int64', read(run.idx, BigInt64Array), run.shape) });
  const dims = [...res.logits.dims];
  if (dims.join() !== run.ref_shape.join())
    throw new Error(`${run.name}: logits [${dims}] vs torch [${run.ref_shape}]`);
  // one row per position: [n*T, V]
  const positions = dims[0] * dims[1];
  const labels = run.targets ? read(run.targets, BigInt64Array) : null;
  const cmp = compareLogits(res.logits.data, read(run.ref, Float32Array), positions, labels);
  out[run.name] = {
    max_abs_diff: cmp.max_abs_diff,
    argmax_agree: cmp.argmax_agree,
    positions,
    accuracy: cmp.accuracy,
    dims,
  };
}
console.log(JSON.stringify(out));
