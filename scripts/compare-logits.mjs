// Shared by the fixture checkers: how ONNX Runtime's logits [n, k] compare with PyTorch's.
export function compareLogits(got, ref, n, labels = null) {
  if (got.length !== ref.length) throw new Error(`${got.length} logits vs ${ref.length}`);
  const k = ref.length / n;
  let maxd = 0,
    agree = 0,
    correct = 0;
  for (let i = 0; i < ref.length; i++) maxd = Math.max(maxd, Math.abs(got[i] - ref[i]));
  for (let r = 0; r < n; r++) {
    let ag = 0,
      ar = 0;
    for (let c = 1; c < k; c++) {
      if (got[r * k + c] > got[r * k + ag]) ag = c;
      if (ref[r * k + c] > ref[r * k + ar]) ar = c;
    }
    if (ag === ar) agree++;
    if (labels && BigInt(ag) === labels[r]) correct++;
  }
  return { max_abs_diff: maxd, argmax_agree: agree, n, accuracy: labels ? correct / n : null };
}
