#!/usr/bin/env python3
"""Train a small character-level GPT (written the way nanoGPT's model.py is) on Reuters-21578
news text and export it as an ONNX test fixture for idprune.

Writes into <repo>/test/fixtures/:
  gpt.onnx          decoder-only transformer, input "idx" int64 [batch,T] (both axes dynamic,
                    T <= 64), output "logits" float32 [batch,T,vocab]; opset 14
  gpt_calib.npz     256 windows of 64 characters from the training articles: int64 "idx" [256,64]
  gpt_heldout.npz   512 windows from the held-out articles: int64 "idx" [512,64] and
                    "targets" [512,64] (the next character of every position, i.e. the window
                    shifted by one; idx[:, 1:] == targets[:, :-1])
  gpt.json          seed, hyper-parameters, vocabulary, training time, losses, next-character
                    accuracy, ONNX op counts and the onnxruntime check

The model follows nanoGPT's model.py: token embedding wte + learned position embedding wpe
indexed by torch.arange(0, t) over the run-time length; pre-LN blocks x + attn(ln_1(x)),
x + mlp(ln_2(x)); one packed c_attn Linear split into q, k, v, heads by view + transpose,
q @ k^T * 1/sqrt(head size), causal mask from a registered tril buffer "bias" applied with
masked_fill(-inf), softmax, att @ v, transpose + contiguous + view back to [B,T,C], c_proj;
MLP c_fc (4x) -> GELU (exact) -> c_proj; final ln_f and lm_head, whose weight is tied to wte.
The manual attention path is used (no F.scaled_dot_product_attention). Unlike nanoGPT the
forward pass without targets returns the logits of every position, not only the last one.

Text: Reuters-21578 ModApte from Debian's weka package (the files make_transformer_fixtures.py
reads): training articles = ReutersGrain-train.arff, held-out articles = ReutersGrain-test.arff
(disjoint by article; exact duplicate articles dropped). Character vocabulary from the training
text; characters seen fewer than 5 times map to one id (0, "<unk>").

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
# torch.set_num_threads; keep OpenBLAS to one thread unless told otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(SCRIPT_DIR)
sys.path.insert(0, SCRIPT_DIR)
from make_transformer_fixtures import inspect, parse_arff_strings  # noqa: E402  (same ARFF reader and ONNX checks)

SEED = 20240601
OPSET = 14
# One intra-op thread: on the 2 shared cores of the dev machine a training step took 150-880 ms
# with 2 threads (OpenMP barrier waits whenever the other core was busy) and ~165 ms with 1.
NUM_THREADS = 1
DEFAULT_OUT = os.path.join(REPO_ROOT, "test", "fixtures")
DEFAULT_WEKA = "/usr/share/doc/weka/examples"

# model (nanoGPT's GPTConfig fields)
MODEL = dict(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=True)
# training (nanoGPT's train.py / config/train_shakespeare_char.py names)
TRAIN = dict(batch_size=32, max_iters=3000, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100,
             lr_decay_iters=3000, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0,
             eval_interval=250, eval_iters=20)
DATA = dict(min_char_count=5, calib_count=256, heldout_count=512, seq_len=64,
            article_separator="\n\n")


# ============================================================================= model


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (as in nanoGPT; bias=True here)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # one packed projection writes q, k and v side by side (the exported graph Splits it in three)
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # reads the merged heads: the layer that absorbs the correction when heads are removed
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        # causal mask: 1 on and below the diagonal, as a [1, 1, block, block] buffer
        self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                             .view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()  # batch, sequence length, embedding width (n_embd)

        # q, k, v for all heads, heads moved next to the batch axis: [B, nh, T, hs]
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)

        # manual causal attention: [B, nh, T, hs] x [B, nh, hs, T] -> [B, nh, T, T]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v  # [B, nh, T, hs]
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again

        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        return self.dropout(x)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPTConfig:
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout, bias):
        self.vocab_size = vocab_size
        self.block_size = block_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.dropout = dropout
        self.bias = bias


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # weight tying: the output projection shares the token embedding matrix
        self.transformer.wte.weight = self.lm_head.weight

        self.apply(self._init_weights)
        # scaled init of the residual projections (GPT-2)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())  # tied weight counted once

    def forward(self, idx, targets=None):
        b, t = idx.size()
        assert t <= self.config.block_size, f"sequence of {t} > block size {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)  # [t]

        tok_emb = self.transformer.wte(idx)  # [b, t, n_embd]
        pos_emb = self.transformer.wpe(pos)  # [t, n_embd]
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)  # every position (nanoGPT returns only the last at inference)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        """AdamW; decay on every parameter with 2+ dims (matmul weights, embeddings), none on
        biases and LayerNorm weights."""
        params = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay = [p for p in params.values() if p.dim() >= 2]
        no_decay = [p for p in params.values() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


# ============================================================================= data


def clean_article(text):
    """The Weka ARFF keeps the SGML entities of the Reuters-21578 files: drop the numeric ones
    (control characters: &#3; ends every article, a few carry &#2; or &#127;), decode &lt; &gt;
    &amp;, strip surrounding whitespace."""
    text = re.sub(r"&#\d+;", "", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.strip()


def load_articles(weka):
    def read(name):
        out, seen = [], set()
        for text, _ in parse_arff_strings(os.path.join(weka, name)):
            t = clean_article(text)
            if t and t not in seen:
                seen.add(t)
                out.append(t)
        return out
    train = read("ReutersGrain-train.arff")
    heldout = read("ReutersGrain-test.arff")
    train_set = set(train)
    heldout = [t for t in heldout if t not in train_set]  # disjoint by article
    return train, heldout


def build_vocab(text, min_count):
    counts = Counter(text)
    chars = sorted(c for c, n in counts.items() if n >= min_count)
    itos = ["<unk>"] + chars
    rare = sorted(c for c, n in counts.items() if n < min_count)
    return itos, rare, counts


def encode(text, stoi):
    return np.array([stoi.get(c, 0) for c in text], dtype=np.int64)


def windows(data, count, length, seed, tag):
    """`count` non-overlapping windows of length+1 (input + next character) at seeded random
    positions: the text is cut into consecutive (length+1)-chunks and `count` are chosen, sorted."""
    n_chunks = (len(data) - 1) // (length + 1)
    if n_chunks < count:
        raise ValueError(f"{tag}: only {n_chunks} windows of {length + 1}, need {count}")
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.choice(n_chunks, size=count, replace=False)) * (length + 1)
    w = np.stack([data[s: s + length + 1] for s in starts])
    return w[:, :-1].copy(), w[:, 1:].copy(), starts


# ============================================================================= training


def get_lr(it, cfg):
    """nanoGPT's schedule: linear warmup, cosine decay to min_lr, then min_lr."""
    if it < cfg["warmup_iters"]:
        return cfg["learning_rate"] * (it + 1) / (cfg["warmup_iters"] + 1)
    if it > cfg["lr_decay_iters"]:
        return cfg["min_lr"]
    ratio = (it - cfg["warmup_iters"]) / (cfg["lr_decay_iters"] - cfg["warmup_iters"])
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return cfg["min_lr"] + coeff * (cfg["learning_rate"] - cfg["min_lr"])


def get_batch(data, batch_size, block_size, gen):
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=gen)
    x = torch.stack([data[i: i + block_size] for i in ix])
    y = torch.stack([data[i + 1: i + 1 + block_size] for i in ix])
    return x, y


@torch.no_grad()
def estimate_loss(model, splits, cfg, block_size, seed):
    model.eval()
    out = {}
    for name, data in splits.items():
        gen = torch.Generator().manual_seed(seed)  # the same batches at every evaluation
        losses = [model(*get_batch(data, cfg["batch_size"], block_size, gen))[1].item()
                  for _ in range(cfg["eval_iters"])]
        out[name] = float(np.mean(losses))
    model.train()
    return out


def train(model, train_data, val_data, cfg, block_size, seed, max_iters, time_only=False):
    opt = model.configure_optimizers(cfg["weight_decay"], cfg["learning_rate"], (cfg["beta1"], cfg["beta2"]))
    gen = torch.Generator().manual_seed(seed + 1)
    history = []
    t_start, c_start = time.time(), time.process_time()
    eval_s = 0.0
    model.train()
    for it in range(max_iters):
        if not time_only and (it % cfg["eval_interval"] == 0) and it > 0:
            t0 = time.time()
            losses = estimate_loss(model, {"train": train_data, "val": val_data}, cfg, block_size, seed + 2)
            eval_s += time.time() - t0
            history.append({"iter": it, **{k: round(v, 4) for k, v in losses.items()}})
            print(f"  iter {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}, "
                  f"{time.time() - t_start:.0f}s", flush=True)
        lr = get_lr(it, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = get_batch(train_data, cfg["batch_size"], block_size, gen)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        if time_only and it in (4, max_iters - 1):
            if it == 4:
                t5 = time.time()
            else:
                dt = (time.time() - t5) / (max_iters - 5)
                print(f"{dt * 1000:.0f} ms/step (after 5 warm-up steps); {cfg['max_iters']} steps "
                      f"= {dt * cfg['max_iters'] / 60:.1f} min", flush=True)
    wall = time.time() - t_start
    return wall, time.process_time() - c_start, eval_s, history


@torch.no_grad()
def seq_metrics(model, x, y, batch=128):
    """Mean cross-entropy and next-character accuracy over every position of [n, T] windows;
    also the accuracy over positions 0..T-2 (what idx alone can score)."""
    model.eval()
    logits = torch.cat([model(torch.from_numpy(x[i: i + batch])) for i in range(0, len(x), batch)])
    yt = torch.from_numpy(y)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yt.reshape(-1)).item()
    pred = logits.argmax(-1)
    acc = (pred == yt).float().mean().item()
    acc_idx = (pred[:, :-1] == yt[:, :-1]).float().mean().item()
    return loss, acc, acc_idx, logits.numpy()


# ============================================================================= ONNX


def export(model, example, path):
    model.eval()
    torch.onnx.export(model, (example,), path, input_names=["idx"], output_names=["logits"],
                      dynamic_axes={"idx": {0: "batch", 1: "T"}, "logits": {0: "batch", 1: "T"}},
                      opset_version=OPSET, export_params=True, keep_initializers_as_inputs=False,
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)


def inspect_onnx(path, expect_inputs, expect_outputs):
    """make_transformer_fixtures.inspect with Identity nodes allowed (torch.onnx deduplicates the
    four identical causal-mask buffers into one initializer read through Identity nodes, which is
    what a nanoGPT export looks like), plus the initializer shapes and those Identity copies."""
    import onnx
    from onnx import numpy_helper

    info = inspect(path, expect_inputs, expect_outputs, allow_identity=True)
    g = onnx.load(path).graph
    info["initializer_shapes"] = {i.name: list(numpy_helper.to_array(i).shape) for i in g.initializer}
    info["identity_of_initializer"] = [(n.input[0], n.output[0]) for n in g.node if n.op_type == "Identity"]
    return info


def graph_patterns(path):
    """Checks that the exported graph keeps the nanoGPT run-time patterns: positions from Range
    over the input's length, the causal mask as Where (masked_fill), and Reshapes whose shape is
    assembled from Shape -> Gather of a run-time tensor (B, T, C read at run time)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    g = m.graph
    producers = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    init = {i.name for i in g.initializer}

    def ancestors(name, depth=6):
        """Op types feeding `name` within `depth` steps (stops at initializers/inputs)."""
        seen, frontier = [], [name]
        for _ in range(depth):
            nxt = []
            for t in frontier:
                p = producers.get(t)
                if p is None:
                    continue
                seen.append(p)
                nxt.extend(p.input)
            frontier = nxt
        return seen

    ranges = [n for n in g.node if n.op_type == "Range"]
    assert ranges, "no Range node (positions)"
    range_info = []
    for r in ranges:
        limit_src = [a.op_type for a in ancestors(r.input[1])]
        uses = [(c.op_type, c.name, list(c.input).index(r.output[0])) for c in consumers.get(r.output[0], [])]
        assert "Shape" in limit_src, f"Range {r.name} limit not from Shape: {limit_src}"
        range_info.append({"name": r.name, "output": r.output[0], "limit_from": limit_src, "consumers": uses})
    wpe_gather = any(c[0] == "Gather" for r in range_info for c in r["consumers"])
    assert wpe_gather, "Range output does not feed a Gather (wpe lookup)"

    wheres = [n for n in g.node if n.op_type == "Where"]
    assert len(wheres) == MODEL["n_layer"], f"{len(wheres)} Where nodes, expected one per block"
    where_info = []
    for w in wheres:
        cond = [a.op_type for a in ancestors(w.input[0], 3)]
        fill = w.input[1]
        fill_val = None
        fp = producers.get(fill)
        if fp is not None and fp.op_type == "Constant":
            fill_val = float(numpy_helper.to_array(fp.attribute[0].t).reshape(-1)[0])
        elif fill in init:
            fill_val = float(numpy_helper.to_array(next(i for i in g.initializer if i.name == fill)).reshape(-1)[0])
        where_info.append({"name": w.name, "condition_from": cond, "fill": fill_val})
        assert "Equal" in cond, f"Where {w.name} condition not an Equal: {cond}"

    reshapes = []
    for n in g.node:
        if n.op_type != "Reshape":
            continue
        src = [a.op_type for a in ancestors(n.input[1], 4)]
        reshapes.append({"name": n.name, "shape_from_shape_gather": "Shape" in src and "Gather" in src})
    dyn = sum(r["shape_from_shape_gather"] for r in reshapes)
    assert dyn >= 4 * MODEL["n_layer"], f"only {dyn} Reshapes with Shape->Gather shapes"
    shape_gather = sum(1 for n in g.node if n.op_type == "Gather"
                       and producers.get(n.input[0]) is not None and producers[n.input[0]].op_type == "Shape")
    return {"range": range_info, "where": where_info,
            "reshapes": len(reshapes), "reshapes_shape_from_shape_gather": dyn,
            "gather_of_shape": shape_gather}


def onnxruntime_check(onnx_path, runs):
    """runs: [dict(name, idx=ndarray [n,T], ref=ndarray [n,T,V], targets=ndarray|None)]. Runs the
    repo's onnxruntime-node through scripts/check_gpt_onnx.mjs; returns its JSON."""
    node = shutil.which("node")
    if node is None or not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "onnxruntime-node")):
        print("onnxruntime-node not available; skipping runtime check")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"onnx": onnx_path, "runs": []}
        for j, r in enumerate(runs):
            entry = {"name": r["name"], "shape": list(r["idx"].shape), "ref_shape": list(r["ref"].shape),
                     "idx": os.path.join(tmp, f"{j}_idx.bin"), "ref": os.path.join(tmp, f"{j}_ref.bin")}
            r["idx"].astype("<i8").tofile(entry["idx"])
            r["ref"].astype("<f4").tofile(entry["ref"])
            if r.get("targets") is not None:
                entry["targets"] = os.path.join(tmp, f"{j}_targets.bin")
                r["targets"].astype("<i8").tofile(entry["targets"])
            spec["runs"].append(entry)
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        proc = subprocess.run([node, os.path.join(SCRIPT_DIR, "check_gpt_onnx.mjs"), spec_path],
                              capture_output=True, text=True, cwd=REPO_ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"check_gpt_onnx.mjs failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return json.loads(proc.stdout)


# ============================================================================= main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: test/fixtures)")
    ap.add_argument("--weka", default=DEFAULT_WEKA, help="folder with ReutersGrain-{train,test}.arff")
    ap.add_argument("--max-iters", type=int, default=TRAIN["max_iters"],
                    help="training steps (the cosine schedule always spans the configured "
                         f"{TRAIN['lr_decay_iters']})")
    ap.add_argument("--threads", type=int, default=NUM_THREADS,
                    help=f"torch intra-op threads (default {NUM_THREADS}; see scripts/README.md)")
    ap.add_argument("--time-steps", type=int, default=0,
                    help="only time N training steps and exit (writes nothing)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {torch.get_num_threads()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}", flush=True)

    # ---------------------------------------------------------------- data
    sep = DATA["article_separator"]
    train_articles, held_articles = load_articles(args.weka)
    train_text = sep.join(train_articles)
    held_text = sep.join(held_articles)
    itos, rare, counts = build_vocab(train_text, DATA["min_char_count"])
    stoi = {c: i for i, c in enumerate(itos)}
    train_ids = encode(train_text, stoi)
    held_ids = encode(held_text, stoi)
    held_unk = float((held_ids == 0).mean())
    print(f"train {len(train_articles)} articles, {len(train_text)} chars; held-out "
          f"{len(held_articles)} articles, {len(held_text)} chars; vocab {len(itos)} "
          f"(rare -> <unk>: {''.join(rare)!r}); held-out <unk> rate {held_unk * 100:.3f}%", flush=True)

    T = DATA["seq_len"]
    calib_x, _, calib_starts = windows(train_ids, DATA["calib_count"], T, SEED, "calib")
    held_x, held_y, held_starts = windows(held_ids, DATA["heldout_count"], T, SEED + 1, "heldout")
    # the same number of training windows for a like-for-like train loss
    trw_x, trw_y, _ = windows(train_ids, DATA["heldout_count"], T, SEED + 3, "train-eval")

    # ---------------------------------------------------------------- model
    cfg = dict(TRAIN)
    mcfg = GPTConfig(vocab_size=len(itos), **MODEL)
    torch.manual_seed(SEED)
    model = GPT(mcfg)
    params = model.num_params()
    print(f"GPT: {params} parameters (lm_head tied to wte), {MODEL}", flush=True)

    train_t = torch.from_numpy(train_ids)
    held_t = torch.from_numpy(held_ids)
    if args.time_steps:
        train(model, train_t, held_t, cfg, MODEL["block_size"], SEED, args.time_steps, time_only=True)
        return
    wall, cpu, eval_s, history = train(model, train_t, held_t, cfg, MODEL["block_size"], SEED, args.max_iters)
    print(f"trained {args.max_iters} steps in {wall:.0f}s wall ({cpu:.0f}s CPU, {eval_s:.0f}s of it "
          f"periodic evaluation)", flush=True)

    tr_loss, tr_acc, _, _ = seq_metrics(model, trw_x, trw_y)
    ho_loss, ho_acc, ho_acc_idx, ho_logits = seq_metrics(model, held_x, held_y)
    # a simple reference: the most frequent next char given the current one (bigram), fit on train
    big = np.zeros((len(itos), len(itos)), dtype=np.int64)
    np.add.at(big, (train_ids[:-1], train_ids[1:]), 1)
    bigram_acc = float((big.argmax(1)[held_x] == held_y).mean())
    print(f"train windows: loss {tr_loss:.4f}, next-char acc {tr_acc * 100:.2f}%", flush=True)
    print(f"held-out windows: loss {ho_loss:.4f} ({ho_loss / math.log(2):.3f} bits/char), next-char "
          f"acc {ho_acc * 100:.2f}% (positions 0..{T - 2} only: {ho_acc_idx * 100:.2f}%); "
          f"bigram baseline {bigram_acc * 100:.2f}%", flush=True)

    # ---------------------------------------------------------------- files
    os.makedirs(args.out, exist_ok=True)
    np.savez_compressed(os.path.join(args.out, "gpt_calib.npz"), idx=calib_x)
    np.savez_compressed(os.path.join(args.out, "gpt_heldout.npz"), idx=held_x, targets=held_y)
    path = os.path.join(args.out, "gpt.onnx")
    export(model, torch.from_numpy(held_x[:2]), path)
    info = inspect_onnx(path, [("idx", ["batch", "T"])], [("logits", ["batch", "T", len(itos)])])
    patterns = graph_patterns(path)
    print("ONNX ops (opset %d, %d nodes):" % (info["opset"], info["num_nodes"]))
    for op, n in sorted(info["ops"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {op:20s} {n}")
    print(f"Range: {[(r['name'], r['consumers']) for r in patterns['range']]}")
    print(f"Where: {patterns['where']}")
    print(f"Reshape: {patterns['reshapes']}, of which {patterns['reshapes_shape_from_shape_gather']} "
          f"with a shape from Shape->Gather; Gather-of-Shape nodes: {patterns['gather_of_shape']}")

    # onnxruntime vs torch: all held-out windows at T=64, plus shorter T and other batch sizes
    with torch.no_grad():
        model.eval()
        short = [(f"heldout_T{t}_b{b}", held_x[:b, :t]) for t, b in ((17, 3), (1, 2), (63, 1))]
        runs = [{"name": "heldout_T64", "idx": held_x, "ref": ho_logits, "targets": held_y}]
        for name, x in short:
            x = np.ascontiguousarray(x)
            runs.append({"name": name, "idx": x, "ref": model(torch.from_numpy(x)).numpy(),
                         "targets": np.ascontiguousarray(held_y[:x.shape[0], :x.shape[1]])})
    ort_res = onnxruntime_check(path, runs)
    if ort_res is not None:
        for name, v in ort_res.items():
            print(f"[{name}] onnxruntime-node: max |torch - onnx| {v['max_abs_diff']:.2e}, argmax agree "
                  f"{v['argmax_agree']}/{v['positions']}, next-char acc {v['accuracy'] * 100:.2f}%", flush=True)
            assert v["max_abs_diff"] < 1e-3, f"{name}: onnxruntime differs from torch by {v['max_abs_diff']}"

    meta = {
        "script": "scripts/make_gpt_fixture.py", "seed": SEED, "torch": torch.__version__,
        "numpy": np.__version__, "threads": args.threads, "opset": OPSET,
        "file": "gpt.onnx",
        "data_files": {"calib": "gpt_calib.npz", "heldout": "gpt_heldout.npz"},
        "text": {
            "source": "Reuters-21578 ModApte news articles, Debian package weka "
                      "(/usr/share/doc/weka/examples/ReutersGrain-{train,test}.arff)",
            "cleaning": "numeric SGML entities (&#3; end marker, &#2;, &#127;) dropped, &lt; &gt; "
                        "&amp; decoded, surrounding whitespace stripped; exact duplicate articles "
                        "dropped; held-out articles identical to a training article dropped",
            "article_separator": sep,
            "train_articles": len(train_articles), "train_chars": len(train_text),
            "heldout_articles": len(held_articles), "heldout_chars": len(held_text),
            "heldout_unk_rate": round(held_unk, 6),
        },
        "vocab": {"size": len(itos), "unk_id": 0,
                  "rule": f"characters seen >= {DATA['min_char_count']} times in the training text, "
                          "sorted by code point, ids from 1; everything else -> 0 (<unk>)",
                  "rare_chars_mapped_to_unk": "".join(rare),
                  "itos": itos},
        "calib": {"count": DATA["calib_count"], "seq_len": T, "split": "train",
                  "selection": "text cut into consecutive 65-char chunks, numpy default_rng(seed)"
                               ".choice(n_chunks, 256, replace=False), sorted; first 64 chars of each",
                  "char_offsets": calib_starts.tolist()},
        "heldout": {"count": DATA["heldout_count"], "seq_len": T, "split": "held-out articles",
                    "selection": "as calib with seed + 1 on the held-out text; 'targets' = the window "
                                 "shifted by one (next character of every position)",
                    "char_offsets": held_starts.tolist()},
        "model": {**MODEL, "vocab_size": len(itos), "params": params, "weight_tying": True,
                  "head_size": MODEL["n_embd"] // MODEL["n_head"], "mlp_hidden": 4 * MODEL["n_embd"],
                  "activation": "GELU exact (erf)", "norm": "pre-LN, final ln_f",
                  "attention": "manual (no scaled_dot_product_attention), causal mask buffer + masked_fill(-inf)"},
        "training": {**cfg, "max_iters": args.max_iters, "optimizer": "AdamW (decay on >=2-D params)",
                     "schedule": "linear warmup, cosine to min_lr", "tokens_seen": args.max_iters * cfg["batch_size"] * MODEL["block_size"],
                     "train_seconds": round(wall), "train_cpu_seconds": round(cpu),
                     "eval_seconds_within": round(eval_s), "history": history},
        "results": {
            "train_loss": round(tr_loss, 4), "train_accuracy": round(tr_acc, 4),
            "heldout_loss": round(ho_loss, 4), "heldout_bits_per_char": round(ho_loss / math.log(2), 4),
            "heldout_accuracy": round(ho_acc, 4), "heldout_accuracy_positions_0_to_62": round(ho_acc_idx, 4),
            "heldout_bigram_baseline_accuracy": round(bigram_acc, 4),
            "note": "losses and accuracies over all 64 positions of the 512 held-out windows (and of "
                    "512 training windows for train), PyTorch fp32",
        },
        "onnx": {**info, "patterns": patterns, "onnxruntime": ort_res},
    }
    with open(os.path.join(args.out, "gpt.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    print("\nFiles")
    total = 0
    for fn in ("gpt.onnx", "gpt_calib.npz", "gpt_heldout.npz", "gpt.json"):
        s = os.path.getsize(os.path.join(args.out, fn))
        total += s
        print(f"  {fn:20s} {s:>10d} bytes")
    print(f"  {'total':20s} {total:>10d} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
