#!/usr/bin/env python3
"""Train two small transformers and export ONNX test fixtures for idprune (FFN-neuron and
attention-head pruning).

Writes into <repo>/test/fixtures/:
  vit.onnx                 Vision Transformer on Fashion-MNIST (7x7 patches -> 16 tokens,
                           4 pre-LN blocks, width 64, 4 heads, MLP 256, mean-pool, no class
                           token); input "input" float32 [batch,1,28,28] (x/255, fed by the
                           existing calib.npy/heldout.npy), output "logits" [batch,10]
  text.onnx                transformer encoder on Reuters-21578 "grain" (binary topic
                           classification; 2 post-LN blocks, width 64, 4 heads, FFN 256,
                           masked mean-pool); inputs "input_ids", "attention_mask" int64
                           [batch,seq] (both axes dynamic), output "logits" [batch,2]
  text_calib.npz           1000 training documents: int64 input_ids / attention_mask [1000,128]
  text_heldout.npz         the whole test split (604 documents), same arrays [604,128]
  text_heldout_labels.npy  int64 [604] (1 = grain)
  text_vocab.json          the word-level vocabulary (token -> id) and the tokenizer rules
  transformers.json        accuracies, epochs, seeds, timings, architecture facts, ONNX ops

Both models write their attention by hand (separate q/k/v Linear, view to [B,T,H,Dh],
transpose, scaled MatMul, Softmax, MatMul with v, transpose back, reshape, output Linear),
use exact (erf) GELU, and are exported with torch.onnx.export (opset 17 by default, so
LayerNorm is one LayerNormalization node; --opset 14 gives the decomposed ReduceMean/Pow/Sqrt
form). Weights are graph initializers.

Data: Fashion-MNIST from Debian's dataset-fashion-mnist (same loader and scaling as
make_fixtures.py); Reuters-21578 ModApte "grain" from Debian's weka package
(/usr/share/doc/weka/examples/ReutersGrain-{train,test}.arff).

Run with /usr/bin/python3 (Debian's torch); see scripts/README.md.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

# Debian's torch does its matrix products in OpenBLAS, whose pthread pool ignores
# torch.set_num_threads; keep it to one thread on the shared cores (same wall time here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(SCRIPT_DIR)
sys.path.insert(0, SCRIPT_DIR)
from make_fixtures import load_split, to_float  # noqa: E402  (same Fashion-MNIST loader/scaling)

SEED = 20240601
# One intra-op thread: on the 2 shared cores of the dev machine, 2 OpenMP threads ran a
# ViT step 5-10x slower (barrier waits whenever the other core was busy) than 1 thread.
NUM_THREADS = 1
DEFAULT_OPSET = 17
DEFAULT_OUT = os.path.join(REPO_ROOT, "test", "fixtures")
DEFAULT_FASHION = "/usr/share/datasets/fashion-mnist"
DEFAULT_WEKA = "/usr/share/doc/weka/examples"

# ViT hyper-parameters
VIT = dict(patch=7, dim=64, depth=4, heads=4, mlp_ratio=4, epochs=12, batch=128, lr=2e-3,
           weight_decay=0.05, warmup_steps=300)
# text model hyper-parameters
TEXT = dict(max_len=128, dim=64, depth=2, heads=4, ffn=256, min_count=2, max_vocab=4000,
            dropout=0.3, epochs=12, batch=32, lr=1e-3, weight_decay=0.1, warmup_steps=100,
            calib_count=1000)


# ============================================================================= models


class Attention(nn.Module):
    """Multi-head self-attention written out op by op so that the ONNX graph shows
    MatMul(q,kT) / sqrt(Dh) [+ mask bias] -> Softmax -> MatMul(v)."""

    def __init__(self, dim, heads):
        super().__init__()
        assert dim % heads == 0
        self.heads = heads
        self.head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)

    def forward(self, x, bias=None):
        b, t, d = x.shape
        h, dh = self.heads, self.head_dim
        q = self.q(x).view(b, t, h, dh).transpose(1, 2)  # [B,H,T,Dh]
        k = self.k(x).view(b, t, h, dh).transpose(1, 2)
        v = self.v(x).view(b, t, h, dh).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(dh)  # [B,H,T,T]
        if bias is not None:
            scores = scores + bias  # [B,1,1,T] additive mask
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v)  # [B,H,T,Dh]
        ctx = ctx.transpose(1, 2).reshape(b, t, h * dh)  # H*Dh is a constant in the graph
        return self.o(ctx)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact GELU (erf form)


class PreLNBlock(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    """Patch embedding Conv (patch x patch, stride patch) -> tokens + learned position
    embedding -> pre-LN blocks -> final LayerNorm -> mean over tokens -> Linear."""

    def __init__(self, patch=4, dim=64, depth=4, heads=4, mlp_ratio=4, classes=10, **_):
        super().__init__()
        assert 28 % patch == 0
        self.tokens = (28 // patch) ** 2
        self.patch = nn.Conv2d(1, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, self.tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(PreLNBlock(dim, heads, dim * mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def embed(self, x):
        if not self.training:
            return self.patch(x).flatten(2).transpose(1, 2)  # [B,T,D]; the exported form
        # Training: the same patch projection as a reshape + matmul (CPU torch runs this
        # stride == kernel Conv through a slow per-sample im2col under deterministic mode).
        b, p = x.shape[0], self.patch.kernel_size[0]
        n = 28 // p
        patches = x.reshape(b, 1, n, p, n, p).permute(0, 2, 4, 1, 3, 5).reshape(b, n * n, p * p)
        return F.linear(patches, self.patch.weight.reshape(self.patch.out_channels, -1), self.patch.bias)

    def forward(self, x):
        x = self.embed(x) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x).mean(dim=1))


class PostLNBlock(nn.Module):
    """BERT-style block: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, dim, heads, hidden, dropout):
        super().__init__()
        self.attn = Attention(dim, heads)
        self.ln1 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, hidden)
        self.ln2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        x = self.ln1(x + self.drop(self.attn(x, bias)))
        return self.ln2(x + self.drop(self.mlp(x)))


class TextEncoder(nn.Module):
    """Token embedding + learned position embedding -> LayerNorm -> post-LN blocks ->
    mean over the non-pad tokens (attention_mask) -> Linear."""

    def __init__(self, vocab, max_len=128, dim=64, depth=2, heads=4, ffn=256, dropout=0.1,
                 classes=2, **_):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(1, max_len, dim))
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)
        self.emb_ln = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(PostLNBlock(dim, heads, ffn, dropout) for _ in range(depth))
        self.head = nn.Linear(dim, classes)

    def forward(self, input_ids, attention_mask):
        t = input_ids.shape[1]
        x = self.tok(input_ids) + self.pos[:, :t]
        x = self.drop(self.emb_ln(x))
        m = attention_mask.to(x.dtype)  # [B,T] 1 = token, 0 = pad
        bias = ((1.0 - m) * -10000.0)[:, None, None, :]  # [B,1,1,T]
        for blk in self.blocks:
            x = blk(x, bias)
        w = m.unsqueeze(-1)
        pooled = (x * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


# ============================================================================= training


def make_optimizer(model, lr, weight_decay):
    """AdamW; no weight decay on biases, LayerNorm weights, embeddings/position tables."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim >= 2 and not name.startswith(("pos", "tok")):
            decay.append(p)
        else:
            no_decay.append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def warmup_cosine(total, warmup):
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, total - warmup) / max(1, total - warmup)))
    return f


def train_loop(model, batches_fn, n, batch, epochs, lr, weight_decay, warmup, seed, tag,
               max_steps=None, smoke_steps=None):
    """Generic loop: batches_fn(idx) -> (inputs tuple, labels). Returns (wall seconds,
    CPU seconds, steps). max_steps: time that many steps and stop. smoke_steps: testing only,
    stop after that many steps in all."""
    gen = torch.Generator().manual_seed(seed + 1)
    opt = make_optimizer(model, lr, weight_decay)
    steps_per_epoch = math.ceil(n / batch)
    total = steps_per_epoch * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total, warmup))
    step = 0
    t_start, c_start = time.time(), time.process_time()
    for ep in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        run_loss, run_correct, run_n = 0.0, 0, 0
        for i in range(0, n, batch):
            idx = perm[i: i + batch]
            inputs, yb = batches_fn(idx)
            logits = model(*inputs)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            run_loss += loss.item() * yb.shape[0]
            run_correct += (logits.argmax(1) == yb).sum().item()
            run_n += yb.shape[0]
            step += 1
            if max_steps is not None and step >= max_steps:
                dt = time.time() - t_start
                print(f"[{tag}] {step} steps in {dt:.1f}s = {dt / step * 1000:.0f} ms/step, "
                      f"est. {dt / step * steps_per_epoch:.0f} s/epoch", flush=True)
                return time.time() - t_start, time.process_time() - c_start, step
            if smoke_steps is not None and step >= smoke_steps:
                return time.time() - t_start, time.process_time() - c_start, step
        print(f"[{tag}] epoch {ep + 1}/{epochs} loss {run_loss / run_n:.4f} "
              f"train acc {run_correct / run_n * 100:.2f}% lr {sched.get_last_lr()[0]:.2e} "
              f"{time.time() - t0:.0f}s", flush=True)
    return time.time() - t_start, time.process_time() - c_start, step


@torch.no_grad()
def predict(model, inputs, batch=250):
    model.eval()
    outs = []
    n = inputs[0].shape[0]
    for i in range(0, n, batch):
        outs.append(model(*[a[i: i + batch] for a in inputs]))
    return torch.cat(outs)


# ============================================================================= text data


def parse_arff_strings(path):
    """Return [(text, label)] from a Weka ARFF file with one quoted string attribute and a
    {0,1} class (the layout of weka's ReutersGrain/ReutersCorn examples)."""
    with open(path, encoding="latin-1") as f:
        raw = f.read()
    head, sep, data = raw.partition("@data")
    if not sep:
        raise ValueError(f"{path}: no @data section")
    rows = []
    for m in re.finditer(r"'((?:[^'\\]|\\.)*)',([01])\s*$", data, flags=re.M):
        text = m.group(1)
        text = text.replace("\\n", "\n").replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\")
        rows.append((text, int(m.group(2))))
    n_lines = sum(1 for line in data.splitlines() if line.startswith("'"))
    if len(rows) != n_lines:
        raise ValueError(f"{path}: parsed {len(rows)} records but found {n_lines} data lines")
    return rows


TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text):
    """Lowercase, words = runs of [a-z0-9] (an apostrophe suffix stays attached); all else splits."""
    return TOKEN_RE.findall(text.lower())


def build_vocab(token_lists, min_count, max_vocab):
    counts = Counter(t for toks in token_lists for t in toks)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    words = words[: max_vocab - 2]
    vocab = {"[PAD]": 0, "[UNK]": 1}
    for w in words:
        vocab[w] = len(vocab)
    return vocab


def encode(token_lists, vocab, max_len):
    n = len(token_lists)
    ids = np.zeros((n, max_len), dtype=np.int64)
    mask = np.zeros((n, max_len), dtype=np.int64)
    for i, toks in enumerate(token_lists):
        toks = toks[:max_len]
        ids[i, : len(toks)] = [vocab.get(t, 1) for t in toks]
        mask[i, : len(toks)] = 1
    return ids, mask


# ============================================================================= ONNX


def export(model, args, path, input_names, dynamic_axes, opset):
    model.eval()
    torch.onnx.export(model, args, path, input_names=input_names, output_names=["logits"],
                      dynamic_axes=dynamic_axes, opset_version=opset, export_params=True,
                      keep_initializers_as_inputs=False, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.EVAL)


def _describe(g, name, producers, consts, depth=0):
    """Short text for how tensor `name` is produced (for Reshape shape inputs)."""
    if name in consts:
        return f"const{consts[name]}"
    node = producers.get(name)
    if node is None:
        return name  # graph input
    if depth >= 4:
        return node.op_type
    if node.op_type == "Shape":
        return "Shape"
    inner = ", ".join(_describe(g, i, producers, consts, depth + 1) for i in node.input)
    return f"{node.op_type}({inner})"


def inspect(path, expect_inputs, expect_output, allow_identity=False):
    """onnx.checker (full) plus graph facts. Identity nodes are refused unless `allow_identity`:
    then each must read an initializer (torch.onnx deduplicates identical buffers that way)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    g = m.graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consts = {k: v.tolist() for k, v in init.items() if v.size <= 8}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    v = numpy_helper.to_array(a.t)
                    if v.size <= 8:
                        consts[n.output[0]] = v.tolist()
    producers = {o: n for n in g.node for o in n.output}
    ops = Counter(n.op_type for n in g.node)
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    inputs = [(i.name, dims(i)) for i in g.input]
    outputs = [(o.name, dims(o)) for o in g.output]
    assert inputs == expect_inputs, inputs
    assert outputs == expect_output, outputs
    assert not [i.name for i in g.input if i.name in init], "initializers listed as inputs"
    big_constants = [n.name for n in g.node if n.op_type == "Constant"
                     and any(numpy_helper.to_array(a.t).size > 8 for a in n.attribute if a.name == "value")]
    assert not big_constants, f"weights in Constant nodes: {big_constants}"
    identities = [(n.input[0], n.output[0]) for n in g.node if n.op_type == "Identity"]
    if allow_identity:
        assert all(i in init for i, _ in identities), f"Identity of a non-initializer: {identities}"
    else:
        assert not identities, "Identity nodes (deduplicated initializers)"
    reshapes = Counter(_describe(g, n.input[1], producers, consts) for n in g.node if n.op_type == "Reshape")
    matmul_weights = sum(1 for n in g.node if n.op_type == "MatMul" and n.input[1] in init)
    return {
        "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
        "ops": dict(sorted(ops.items())),
        "num_nodes": len(g.node),
        "num_initializers": len(g.initializer),
        "initializer_values": int(sum(v.size for v in init.values())),
        "constant_nodes": ops.get("Constant", 0),
        "matmul_with_initializer_weight": matmul_weights,
        "reshape_shape_inputs": dict(reshapes),
        "inputs": inputs,
        "outputs": outputs,
    }


def onnxruntime_check(runs):
    """runs: list of dict(name, onnx, feeds={name: ndarray}, ref=ndarray, labels=ndarray|None).
    Runs onnxruntime (python if importable, else onnxruntime-node from the repo) and returns
    {name: {max_abs_diff, argmax_agree, n, accuracy}} and the backend name."""
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None:
        res = {}
        for r in runs:
            sess = ort.InferenceSession(r["onnx"], providers=["CPUExecutionProvider"])
            got = sess.run(["logits"], r["feeds"])[0]
            pred = got.argmax(1)
            res[r["name"]] = {
                "max_abs_diff": float(np.abs(got - r["ref"]).max()),
                "argmax_agree": int((pred == r["ref"].argmax(1)).sum()), "n": int(got.shape[0]),
                "accuracy": float((pred == r["labels"]).mean()) if r.get("labels") is not None else None}
        return res, "onnxruntime (python)"
    node = shutil.which("node")
    if node is None or not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "onnxruntime-node")):
        print("onnxruntime not available (python or node); skipping runtime check")
        return None, None
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"runs": []}
        for j, r in enumerate(runs):
            feeds = {}
            for k, arr in r["feeds"].items():
                f = os.path.join(tmp, f"{j}_{k}.bin")
                if arr.dtype == np.int64:
                    arr.astype("<i8").tofile(f)
                    dt = "int64"
                else:
                    arr.astype("<f4").tofile(f)
                    dt = "float32"
                feeds[k] = {"file": f, "dtype": dt, "shape": list(arr.shape)}
            ref = os.path.join(tmp, f"{j}_ref.bin")
            r["ref"].astype("<f4").tofile(ref)
            entry = {"name": r["name"], "onnx": r["onnx"], "feeds": feeds, "ref": ref}
            if r.get("labels") is not None:
                entry["labels"] = os.path.join(tmp, f"{j}_labels.bin")
                r["labels"].astype("<i8").tofile(entry["labels"])
            spec["runs"].append(entry)
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        js = os.path.join(SCRIPT_DIR, "check_onnx_runs.mjs")
        proc = subprocess.run([node, js, spec_path], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"onnxruntime-node check failed:\n{proc.stdout}\n{proc.stderr}")
        return json.loads(proc.stdout), "onnxruntime-node"


# ============================================================================= builders


def build_vit(args, meta):
    xtr_u8, ytr_u8 = load_split(args.fashion, "train")
    xte_u8, yte_u8 = load_split(args.fashion, "t10k")
    xtr = torch.from_numpy(to_float(xtr_u8))
    ytr = torch.from_numpy(ytr_u8.astype(np.int64))
    xte = torch.from_numpy(to_float(xte_u8))
    yte = torch.from_numpy(yte_u8.astype(np.int64))
    # exactly what make_fixtures.py writes to heldout.npy: first 5000 test images as float16
    x_held = torch.from_numpy(to_float(xte_u8[:5000]).astype(np.float16).astype(np.float32))
    y_held = yte[:5000]

    cfg = dict(VIT, epochs=args.vit_epochs, patch=args.vit_patch)
    torch.manual_seed(SEED)
    model = ViT(**cfg)
    params = sum(p.numel() for p in model.parameters())
    print(f"[vit] {params} parameters, {model.tokens} tokens", flush=True)
    train_s, cpu_s, steps = train_loop(model, lambda idx: ((xtr[idx],), ytr[idx]), xtr.shape[0],
                                cfg["batch"], cfg["epochs"], cfg["lr"], cfg["weight_decay"],
                                cfg["warmup_steps"], SEED, "vit", max_steps=args.time_steps or None,
                                       smoke_steps=args.smoke_steps)
    if args.time_steps:
        return None
    acc = (predict(model, (xte,)).argmax(1) == yte).float().mean().item()
    held_logits = predict(model, (x_held,))
    acc_held = (held_logits.argmax(1) == y_held).float().mean().item()
    print(f"[vit] test acc (10k, fp32) {acc * 100:.2f}%  heldout (5k, fp16 inputs) "
          f"{acc_held * 100:.2f}%  train {train_s:.0f}s", flush=True)

    path = os.path.join(args.out, "vit.onnx")
    export(model, (x_held[:2],), path, ["input"], {"input": {0: "batch"}, "logits": {0: "batch"}},
           args.opset)
    info = inspect(path, [("input", ["batch", 1, 28, 28])], [("logits", ["batch", 10])])
    meta["models"]["vit"] = {
        "file": "vit.onnx",
        "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist), x/255, no normalisation",
        "data_files": {"calib": "calib.npy", "heldout": "heldout.npy", "labels": "heldout_labels.npy"},
        "test_accuracy": round(acc, 4),
        "heldout_accuracy_torch": round(acc_held, 4),
        "epochs": cfg["epochs"], "train_steps": steps, "train_seconds": round(train_s), "train_cpu_seconds": round(cpu_s),
        "params": params,
        "architecture": {
            "patch_embedding": f"Conv {cfg['patch']}x{cfg['patch']} stride {cfg['patch']}, 1->{cfg['dim']}",
            "tokens": model.tokens, "pooling": "mean over tokens (no class token)",
            "position_embedding": "learned, added", "blocks": cfg["depth"], "norm": "pre-LN",
            "hidden": cfg["dim"], "heads": cfg["heads"], "head_dim": cfg["dim"] // cfg["heads"],
            "mlp_hidden": cfg["dim"] * cfg["mlp_ratio"], "activation": "GELU exact (erf)",
            "final_layernorm": True, "head": f"Linear {cfg['dim']}->10", "dropout": 0.0,
        },
        "training": {"optimizer": "AdamW", "lr": cfg["lr"], "weight_decay": cfg["weight_decay"],
                     "batch": cfg["batch"], "schedule": f"linear warmup {cfg['warmup_steps']} steps, cosine to 0",
                     "grad_clip": 1.0, "augmentation": "none"},
        "onnx": info,
    }
    return {"name": "vit", "onnx": path, "feeds": {"input": x_held.numpy()},
            "ref": held_logits.numpy(), "labels": y_held.numpy()}


def build_text(args, meta):
    cfg = dict(TEXT, epochs=args.text_epochs)
    train_rows = parse_arff_strings(os.path.join(args.weka, "ReutersGrain-train.arff"))
    test_rows = parse_arff_strings(os.path.join(args.weka, "ReutersGrain-test.arff"))
    tr_tok = [tokenize(t) for t, _ in train_rows]
    te_tok = [tokenize(t) for t, _ in test_rows]
    vocab = build_vocab(tr_tok, cfg["min_count"], cfg["max_vocab"])
    ids_tr, mask_tr = encode(tr_tok, vocab, cfg["max_len"])
    ids_te, mask_te = encode(te_tok, vocab, cfg["max_len"])
    y_tr = np.array([y for _, y in train_rows], dtype=np.int64)
    y_te = np.array([y for _, y in test_rows], dtype=np.int64)
    unk_rate = float((ids_te == 1).sum() / mask_te.sum())
    print(f"[text] train {len(train_rows)} docs ({y_tr.sum()} grain), test {len(test_rows)} "
          f"({y_te.sum()} grain); vocab {len(vocab)}; test UNK rate {unk_rate * 100:.1f}%; "
          f"truncated at {cfg['max_len']}: train {np.mean([len(t) > cfg['max_len'] for t in tr_tok]) * 100:.0f}%",
          flush=True)

    Xi, Xm, Y = torch.from_numpy(ids_tr), torch.from_numpy(mask_tr), torch.from_numpy(y_tr)
    torch.manual_seed(SEED)
    model = TextEncoder(len(vocab), **cfg)
    params = sum(p.numel() for p in model.parameters())
    print(f"[text] {params} parameters", flush=True)
    train_s, cpu_s, steps = train_loop(model, lambda idx: ((Xi[idx], Xm[idx]), Y[idx]), Xi.shape[0],
                                cfg["batch"], cfg["epochs"], cfg["lr"], cfg["weight_decay"],
                                cfg["warmup_steps"], SEED, "text", max_steps=args.time_steps or None,
                                       smoke_steps=args.smoke_steps)
    if args.time_steps:
        return None
    te_logits = predict(model, (torch.from_numpy(ids_te), torch.from_numpy(mask_te)))
    pred = te_logits.argmax(1).numpy()
    acc = float((pred == y_te).mean())
    tp = int(((pred == 1) & (y_te == 1)).sum())
    fp = int(((pred == 1) & (y_te == 0)).sum())
    fn = int(((pred == 0) & (y_te == 1)).sum())
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    tr_acc = float((predict(model, (Xi, Xm)).argmax(1).numpy() == y_tr).mean())
    majority = float((y_te == 0).mean())
    print(f"[text] test acc {acc * 100:.2f}% (majority class {majority * 100:.2f}%), grain F1 {f1:.3f} "
          f"(tp {tp} fp {fp} fn {fn}); train acc {tr_acc * 100:.2f}%; train {train_s:.0f}s", flush=True)

    # data files
    rng = np.random.default_rng(SEED)
    calib_idx = np.sort(rng.choice(len(train_rows), size=cfg["calib_count"], replace=False))
    np.savez_compressed(os.path.join(args.out, "text_calib.npz"),
                        input_ids=ids_tr[calib_idx], attention_mask=mask_tr[calib_idx])
    np.savez_compressed(os.path.join(args.out, "text_heldout.npz"),
                        input_ids=ids_te, attention_mask=mask_te)
    np.save(os.path.join(args.out, "text_heldout_labels.npy"), y_te)
    with open(os.path.join(args.out, "text_vocab.json"), "w") as f:
        json.dump({"tokenizer": "lowercase; tokens = regex [a-z0-9]+(?:'[a-z]+)?; unknown -> [UNK]; "
                                f"truncate to {cfg['max_len']}, pad right with [PAD]; no [CLS]",
                   "vocab": vocab}, f, separators=(",", ":"))
        f.write("\n")

    path = os.path.join(args.out, "text.onnx")
    ex = (torch.from_numpy(ids_te[:2]), torch.from_numpy(mask_te[:2]))
    export(model, ex, path, ["input_ids", "attention_mask"],
           {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "logits": {0: "batch"}}, args.opset)
    info = inspect(path, [("input_ids", ["batch", "seq"]), ("attention_mask", ["batch", "seq"])],
                   [("logits", ["batch", 2])])
    meta["models"]["text"] = {
        "file": "text.onnx",
        "dataset": "Reuters-21578 ModApte, topic 'grain' vs rest (binary), from Debian package weka "
                   "(/usr/share/doc/weka/examples/ReutersGrain-{train,test}.arff)",
        "train_docs": len(train_rows), "train_grain": int(y_tr.sum()),
        "test_docs": len(test_rows), "test_grain": int(y_te.sum()),
        "data_files": {"calib": "text_calib.npz", "heldout": "text_heldout.npz",
                       "labels": "text_heldout_labels.npy", "vocab": "text_vocab.json"},
        "calib": {"count": cfg["calib_count"], "split": "train",
                  "selection": f"numpy default_rng(seed).choice({len(train_rows)}, {cfg['calib_count']}, replace=False), sorted"},
        "heldout": {"count": len(test_rows), "split": "test (whole)"},
        "max_len": cfg["max_len"], "vocab_size": len(vocab), "test_unk_rate": round(unk_rate, 4),
        "test_accuracy": round(acc, 4), "test_majority_baseline": round(majority, 4),
        "test_grain_f1": round(f1, 4), "test_confusion": {"tp": tp, "fp": fp, "fn": fn,
                                                          "tn": int(len(y_te) - tp - fp - fn)},
        "train_accuracy": round(tr_acc, 4),
        "epochs": cfg["epochs"], "train_steps": steps, "train_seconds": round(train_s), "train_cpu_seconds": round(cpu_s),
        "params": params,
        "architecture": {
            "embedding": f"token Embedding {len(vocab)}x{cfg['dim']} + learned position table "
                         f"{cfg['max_len']}x{cfg['dim']} (sliced to seq), then LayerNorm",
            "blocks": cfg["depth"], "norm": "post-LN (BERT style: LN(x + Attn(x)), LN(x + FFN(x)))",
            "hidden": cfg["dim"], "heads": cfg["heads"], "head_dim": cfg["dim"] // cfg["heads"],
            "ffn": cfg["ffn"], "activation": "GELU exact (erf)",
            "attention_mask": "additive bias (1 - mask) * -10000 on the scores, shape [B,1,1,T]",
            "pooling": "mean over tokens with attention_mask = 1 (sum / clamp(count, 1))",
            "head": f"Linear {cfg['dim']}->2", "special_tokens": {"[PAD]": 0, "[UNK]": 1},
            "dropout_in_training": cfg["dropout"],
        },
        "training": {"optimizer": "AdamW", "lr": cfg["lr"], "weight_decay": cfg["weight_decay"],
                     "batch": cfg["batch"], "schedule": f"linear warmup {cfg['warmup_steps']} steps, cosine to 0",
                     "grad_clip": 1.0, "loss": "cross-entropy, unweighted"},
        "onnx": info,
    }
    # full-length held-out run plus a shorter sequence axis (first 64 positions) to check
    # that the dynamic seq axis really works
    short = 64
    ids_s, mask_s = ids_te[:, :short].copy(), mask_te[:, :short].copy()
    ref_s = predict(model, (torch.from_numpy(ids_s), torch.from_numpy(mask_s))).numpy()
    return [{"name": "text", "onnx": path, "feeds": {"input_ids": ids_te, "attention_mask": mask_te},
             "ref": te_logits.numpy(), "labels": y_te},
            {"name": f"text_seq{short}", "onnx": path, "feeds": {"input_ids": ids_s, "attention_mask": mask_s},
             "ref": ref_s, "labels": y_te}]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: test/fixtures)")
    ap.add_argument("--fashion", default=DEFAULT_FASHION, help="Fashion-MNIST IDX folder")
    ap.add_argument("--weka", default=DEFAULT_WEKA, help="folder with ReutersGrain-{train,test}.arff")
    ap.add_argument("--models", default="vit,text", help="comma-separated subset of vit,text")
    ap.add_argument("--vit-epochs", type=int, default=VIT["epochs"])
    ap.add_argument("--vit-patch", type=int, default=VIT["patch"], choices=(4, 7),
                    help="patch size: 4 -> 49 tokens, 7 -> 16 tokens")
    ap.add_argument("--text-epochs", type=int, default=TEXT["epochs"])
    ap.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (14..17)")
    ap.add_argument("--time-steps", type=int, default=0,
                    help="only time N training steps per model and exit (writes nothing)")
    ap.add_argument("--threads", type=int, default=NUM_THREADS,
                    help=f"torch intra-op threads (default {NUM_THREADS}, see scripts/README.md)")
    ap.add_argument("--smoke-steps", type=int, default=None,
                    help="testing only: stop each training after N steps (use with --out elsewhere)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {torch.get_num_threads()}", flush=True)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in ("vit", "text"):
            sys.exit(f"unknown model {n!r}; choose from vit, text")

    if not args.time_steps:
        os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "transformers.json")
    meta = {}
    if os.path.exists(json_path):
        with open(json_path) as f:
            meta = json.load(f)
    meta.update({"seed": SEED, "torch": torch.__version__, "opset": args.opset,
                 "threads": args.threads, "script": "scripts/make_transformer_fixtures.py"})
    meta.setdefault("models", {})

    runs = []
    if "vit" in names:
        r = build_vit(args, meta)
        if r:
            runs.append(r)
    if "text" in names:
        r = build_text(args, meta)
        if r:
            runs.extend(r)
    if args.time_steps:
        return

    res, backend = onnxruntime_check(runs)
    if res is not None:
        for name, v in res.items():
            print(f"[{name}] {backend}: max |torch - onnx| {v['max_abs_diff']:.2e}, argmax agree "
                  f"{v['argmax_agree']}/{v['n']}, accuracy {v['accuracy'] * 100:.2f}%", flush=True)
            assert v["max_abs_diff"] < 1e-3, f"{name}: onnxruntime differs from torch by {v['max_abs_diff']}"
            model = "text" if name.startswith("text") else name
            meta["models"][model].setdefault("onnxruntime", {})[name] = {
                "backend": backend, "max_abs_diff": float(f"{v['max_abs_diff']:.3g}"),
                "argmax_agree": v["argmax_agree"], "n": v["n"], "accuracy": round(v["accuracy"], 4)}

    with open(json_path, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")

    print("\nFiles")
    files = ["vit.onnx"] if "vit" in names else []
    if "text" in names:
        files += ["text.onnx", "text_calib.npz", "text_heldout.npz", "text_heldout_labels.npy", "text_vocab.json"]
    files.append("transformers.json")
    total = 0
    for fn in files:
        s = os.path.getsize(os.path.join(args.out, fn))
        total += s
        print(f"  {fn:26s} {s:>10d} bytes")
    print(f"  {'total':26s} {total:>10d} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
