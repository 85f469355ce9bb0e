#!/usr/bin/env python3
"""Train a small character-level decoder written the way Hugging Face's Llama is (RMSNorm, rotary
position embeddings, grouped-query attention, SwiGLU, tied embeddings) on Reuters-21578 news text,
and export it the ways decoders ship, as ONNX test fixtures for idprune.

Writes into <repo>/test/fixtures/:
  llama.onnx         no cache: "input_ids" int64 [batch, T] -> "logits" float32 [batch, T, vocab]
  llama_kv.onnx      with a KV cache, in the layout Optimum and transformers.js use:
                     input_ids [batch, sequence_length], attention_mask [batch, past + sequence_length],
                     position_ids [batch, sequence_length], past_key_values.N.key|value
                     [batch, kv_heads, past_sequence_length, head_dim] -> logits,
                     present.N.key|value [batch, kv_heads, past + sequence_length, head_dim]
  llama_calib.npz    256 windows of 64 characters from the training articles: int64 "input_ids"
  llama_heldout.npz  512 windows from the held-out articles: "input_ids" and "targets" (the next
                     character of every position)
  llama.json         seed, hyper-parameters, vocabulary, training, losses, ONNX op counts and the
                     onnxruntime checks (both files against PyTorch, with and without a cache)

The model: token embedding, 4 pre-norm blocks x + attn(rms_1(x)), x + mlp(rms_2(x)); RMSNorm
x * rsqrt(mean(x^2) + eps) * weight; q, k, v projections without bias, heads by
view(B, T, -1, head_dim).transpose(1, 2); rotary embedding from position_ids with rotate_half (the
Slice bounds x.shape[-1] // 2 computed at run time); keys and values repeated to the query heads by
repeat_kv (expand + reshape: 6 query heads over 2 key/value heads); additive mask from the causal
order and attention_mask; softmax, @ v, transpose + reshape(B, T, -1), o_proj; MLP
down(silu(gate(x)) * up(x)); final RMSNorm and lm_head tied to the embedding.

Text and vocabulary are those of make_gpt_fixture.py (same articles, same character vocabulary).
Run with /usr/bin/python3 (Debian's torch); see scripts/README.md.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(SCRIPT_DIR)
sys.path.insert(0, SCRIPT_DIR)
from make_gpt_fixture import (  # noqa: E402  (same text, vocabulary, windows and schedule)
    DATA, DEFAULT_WEKA, build_vocab, encode, get_batch, get_lr, load_articles, windows)
from make_transformer_fixtures import inspect  # noqa: E402

SEED = 20261208
OPSET = 14
NUM_THREADS = 1
DEFAULT_OUT = os.path.join(REPO_ROOT, "test", "fixtures")

MODEL = dict(block_size=64, n_layer=4, hidden=96, n_head=6, n_kv_head=2, intermediate=256,
             rms_eps=1e-5, rope_theta=10000.0)
TRAIN = dict(batch_size=32, max_iters=3000, learning_rate=2e-3, min_lr=2e-4, warmup_iters=100,
             lr_decay_iters=3000, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0,
             eval_interval=500, eval_iters=20)


# ============================================================================= model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    batch, kv_heads, slen, head_dim = x.shape
    if n_rep == 1:
        return x
    x = x[:, :, None, :, :].expand(batch, kv_heads, n_rep, slen, head_dim)
    return x.reshape(batch, kv_heads * n_rep, slen, head_dim)


class Rotary(nn.Module):
    def __init__(self, head_dim, theta):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, position_ids):
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]  # [B, T, head_dim/2]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos()[:, None], emb.sin()[:, None]  # [B, 1, T, head_dim]


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.head_dim = cfg["hidden"] // cfg["n_head"]
        self.n_rep = cfg["n_head"] // cfg["n_kv_head"]
        self.q_proj = nn.Linear(cfg["hidden"], cfg["n_head"] * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg["hidden"], cfg["n_kv_head"] * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg["hidden"], cfg["n_kv_head"] * self.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg["n_head"] * self.head_dim, cfg["hidden"], bias=False)

    def forward(self, x, cos, sin, mask, past=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, -1, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        present = (k, v)
        k = repeat_kv(k, self.n_rep)
        v = repeat_kv(v, self.n_rep)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(self.head_dim) + mask
        y = F.softmax(scores, dim=-1) @ v
        y = y.transpose(1, 2).reshape(B, T, -1)
        return self.o_proj(y), present


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = nn.Linear(cfg["hidden"], cfg["intermediate"], bias=False)
        self.up_proj = nn.Linear(cfg["hidden"], cfg["intermediate"], bias=False)
        self.down_proj = nn.Linear(cfg["intermediate"], cfg["hidden"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden"], cfg["rms_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden"], cfg["rms_eps"])
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask, past=None):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), present


class Llama(nn.Module):
    def __init__(self, cfg, vocab_size):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(vocab_size, cfg["hidden"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.norm = RMSNorm(cfg["hidden"], cfg["rms_eps"])
        self.lm_head = nn.Linear(cfg["hidden"], vocab_size, bias=False)
        self.lm_head.weight = self.embed_tokens.weight
        self.rotary = Rotary(cfg["hidden"] // cfg["n_head"], cfg["rope_theta"])
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg["n_layer"]) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, input_ids, attention_mask, position_ids, past=None):
        """past: None or a list of (key, value) [B, kv_heads, P, head_dim] per layer."""
        T = input_ids.shape[1]
        P = 0 if past is None else past[0][0].shape[2]
        x = self.embed_tokens(input_ids)
        cos, sin = self.rotary(position_ids)
        query_at = torch.arange(T, device=input_ids.device) + P
        key_at = torch.arange(P + T, device=input_ids.device)
        allowed = (key_at[None, :] <= query_at[:, None])[None, None] & (attention_mask[:, None, None, :] > 0)
        mask = torch.zeros(allowed.shape, dtype=x.dtype).masked_fill(~allowed, torch.finfo(x.dtype).min)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, cos, sin, mask, None if past is None else past[i])
            presents.append(present)
        return self.lm_head(self.norm(x)), presents


class WithoutCache(nn.Module):
    """input_ids -> logits; positions 0..T-1, no padding."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        positions = torch.arange(input_ids.shape[1])[None, :].expand(input_ids.shape[0], -1)
        logits, _ = self.model(input_ids, torch.ones_like(input_ids), positions)
        return logits


class WithCache(nn.Module):
    """The Optimum / transformers.js decoder signature, the cache flattened as inputs and outputs."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        logits, presents = self.model(input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in presents for t in kv])


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def configure_optimizer(model, cfg):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg["learning_rate"], betas=(cfg["beta1"], cfg["beta2"]))


def loss_of(model, x, y):
    logits = WithoutCache(model)(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def train(model, data, cfg, block_size, seed, max_iters):
    opt = configure_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    history, start = [], time.time()
    model.train()
    for it in range(max_iters):
        for g in opt.param_groups:
            g["lr"] = get_lr(it, cfg)
        x, y = get_batch(data, cfg["batch_size"], block_size, gen)
        loss = loss_of(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        if it % cfg["eval_interval"] == 0 or it == max_iters - 1:
            history.append({"iter": it, "train_batch_loss": round(loss.item(), 4)})
            print(f"  iter {it}: batch loss {loss.item():.4f}, {time.time() - start:.0f}s", flush=True)
    return time.time() - start, history


@torch.no_grad()
def seq_metrics(model, x, y, batch=128):
    model.eval()
    logits = torch.cat([WithoutCache(model)(torch.from_numpy(x[i: i + batch])) for i in range(0, len(x), batch)])
    yt = torch.from_numpy(y)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yt.reshape(-1)).item()
    return loss, (logits.argmax(-1) == yt).float().mean().item(), logits.numpy()


# ============================================================================= ONNX


def cache_names(n_layer):
    inputs = [f"past_key_values.{i}.{kind}" for i in range(n_layer) for kind in ("key", "value")]
    outputs = [f"present.{i}.{kind}" for i in range(n_layer) for kind in ("key", "value")]
    return inputs, outputs


def export_without_cache(model, example, path):
    torch.onnx.export(WithoutCache(model).eval(), (example,), path, input_names=["input_ids"],
                      output_names=["logits"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "T"}, "logits": {0: "batch", 1: "T"}},
                      opset_version=OPSET, do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)


def export_with_cache(model, feeds, path):
    n_layer = model.cfg["n_layer"]
    past_in, present_out = cache_names(n_layer)
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    for name in past_in:
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in present_out:
        axes[name] = {0: "batch_size", 2: "total_sequence_length"}
    torch.onnx.export(WithCache(model).eval(), tuple(feeds), path,
                      input_names=["input_ids", "attention_mask", "position_ids", *past_in],
                      output_names=["logits", *present_out], dynamic_axes=axes, opset_version=OPSET,
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)


def cache_feeds(model, input_ids, past_len, pad_first=0):
    """Feeds for the cache model: a prefix of past_len tokens run first gives the cache; then
    input_ids continue it. pad_first marks that many leading positions of every row as padding."""
    n_layer, kv, hd = model.cfg["n_layer"], model.cfg["n_kv_head"], model.cfg["hidden"] // model.cfg["n_head"]
    B, T = input_ids.shape
    ids = torch.from_numpy(input_ids)
    mask = torch.ones(B, past_len + T, dtype=torch.int64)
    mask[:, :pad_first] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    if past_len == 0:
        past = [(torch.zeros(B, kv, 0, hd), torch.zeros(B, kv, 0, hd)) for _ in range(n_layer)]
    else:
        prefix = torch.from_numpy(np.ascontiguousarray(input_ids[:, :1].repeat(past_len, axis=1)))
        empty = [(torch.zeros(B, kv, 0, hd), torch.zeros(B, kv, 0, hd)) for _ in range(n_layer)]
        with torch.no_grad():
            _, past = model(prefix, mask[:, :past_len], positions[:, :past_len], empty)
    flat = [t for kv_pair in past for t in kv_pair]
    return [ids, mask, positions[:, past_len:], *flat]


def onnxruntime_check(runs):
    """runs: [dict(name, onnx, feeds={name: ndarray}, expect={name: ndarray})]; runs them in the
    repo's onnxruntime-node (scripts/check_onnx_outputs.mjs) and returns each output's max |diff|."""
    node = shutil.which("node")
    if node is None or not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "onnxruntime-node")):
        print("onnxruntime-node not available; skipping runtime check")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"runs": []}
        for j, run in enumerate(runs):
            entry = {"name": run["name"], "onnx": run["onnx"], "feeds": {}, "expect": {}}
            for kind, arrays in (("feeds", run["feeds"]), ("expect", run["expect"])):
                for k, (name, a) in enumerate(arrays.items()):
                    file = os.path.join(tmp, f"{j}_{kind}_{k}.bin")
                    dtype = "int64" if a.dtype == np.int64 else "float32"
                    a.astype("<i8" if dtype == "int64" else "<f4").tofile(file)
                    entry[kind][name] = {"file": file, "dtype": dtype, "shape": list(a.shape)}
            spec["runs"].append(entry)
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        proc = subprocess.run([node, os.path.join(SCRIPT_DIR, "check_onnx_outputs.mjs"), spec_path],
                              capture_output=True, text=True, cwd=REPO_ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"check_onnx_outputs.mjs failed:\n{proc.stdout}\n{proc.stderr}")
        return json.loads(proc.stdout)


# ============================================================================= main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--weka", default=DEFAULT_WEKA)
    ap.add_argument("--max-iters", type=int, default=TRAIN["max_iters"])
    ap.add_argument("--threads", type=int, default=NUM_THREADS)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    np.random.seed(SEED)

    sep = DATA["article_separator"]
    train_articles, held_articles = load_articles(args.weka)
    train_text, held_text = sep.join(train_articles), sep.join(held_articles)
    itos, rare, _ = build_vocab(train_text, DATA["min_char_count"])
    stoi = {c: i for i, c in enumerate(itos)}
    train_ids, held_ids = encode(train_text, stoi), encode(held_text, stoi)
    T = DATA["seq_len"]
    calib_x, _, _ = windows(train_ids, DATA["calib_count"], T, SEED, "calib")
    held_x, held_y, _ = windows(held_ids, DATA["heldout_count"], T, SEED + 1, "heldout")

    model = Llama(MODEL, len(itos))
    params = num_params(model)
    print(f"Llama-style: {params} parameters (lm_head tied), {MODEL}", flush=True)
    wall, history = train(model, torch.from_numpy(train_ids), TRAIN, MODEL["block_size"], SEED, args.max_iters)
    model.eval()
    ho_loss, ho_acc, ho_logits = seq_metrics(model, held_x, held_y)
    print(f"trained {args.max_iters} steps in {wall:.0f}s; held-out loss {ho_loss:.4f} "
          f"(perplexity {math.exp(ho_loss):.3f}), next-char accuracy {ho_acc * 100:.2f}%", flush=True)

    os.makedirs(args.out, exist_ok=True)
    np.savez_compressed(os.path.join(args.out, "llama_calib.npz"), input_ids=calib_x)
    np.savez_compressed(os.path.join(args.out, "llama_heldout.npz"), input_ids=held_x, targets=held_y)
    plain = os.path.join(args.out, "llama.onnx")
    cached = os.path.join(args.out, "llama_kv.onnx")
    export_without_cache(model, torch.from_numpy(held_x[:2]), plain)
    export_with_cache(model, cache_feeds(model, held_x[:2, :5], past_len=3), cached)
    past_in, present_out = cache_names(MODEL["n_layer"])
    vocab = len(itos)
    plain_info = inspect(plain, [("input_ids", ["batch", "T"])], [("logits", ["batch", "T", vocab])],
                         allow_identity=True)
    cache_dims = ["batch_size", MODEL["n_kv_head"], "past_sequence_length", MODEL["hidden"] // MODEL["n_head"]]
    cached_info = inspect(
        cached,
        [("input_ids", ["batch_size", "sequence_length"]), ("attention_mask", ["batch_size", "total_sequence_length"]),
         ("position_ids", ["batch_size", "sequence_length"]), *[(n, cache_dims) for n in past_in]],
        [("logits", ["batch_size", "sequence_length", vocab]),
         *[(n, [*cache_dims[:2], "total_sequence_length", cache_dims[3]]) for n in present_out]],
        allow_identity=True)

    # onnxruntime against PyTorch: no cache; a prompt with an empty cache; one step on a cache; padding
    runs = [{"name": "no cache, 512 held-out windows", "onnx": plain, "feeds": {"input_ids": held_x},
             "expect": {"logits": ho_logits}}]
    for name, ids, past_len, pad in (("prompt, empty cache", held_x[:4, :16], 0, 0),
                                     ("one step on a 20-token cache", held_x[:4, 20:21], 20, 0),
                                     ("3 steps, 4 padded positions in a 12-token cache", held_x[:3, :3], 12, 4)):
        feeds = cache_feeds(model, ids, past_len, pad)
        with torch.no_grad():
            outs = WithCache(model)(*feeds)
        names = ["input_ids", "attention_mask", "position_ids", *past_in]
        runs.append({"name": name, "onnx": cached,
                     "feeds": {n: t.numpy() for n, t in zip(names, feeds)},
                     "expect": {n: t.numpy() for n, t in zip(["logits", *present_out], outs)}})
    ort = onnxruntime_check(runs)
    if ort is not None:
        for name, diffs in ort.items():
            worst = max(diffs.values())
            print(f"[{name}] onnxruntime-node vs torch: max |diff| {worst:.2e}", flush=True)
            assert worst < 1e-3, f"{name}: onnxruntime differs from torch by {worst}"

    meta = {
        "script": "scripts/make_llama_fixture.py", "seed": SEED, "torch": torch.__version__,
        "numpy": np.__version__, "threads": args.threads, "opset": OPSET,
        "files": {"no_cache": "llama.onnx", "kv_cache": "llama_kv.onnx",
                  "calib": "llama_calib.npz", "heldout": "llama_heldout.npz"},
        "text": "as make_gpt_fixture.py (Reuters-21578 from Debian's weka; see gpt.json)",
        "vocab": {"size": vocab, "unk_id": 0, "rare_chars_mapped_to_unk": "".join(rare), "itos": itos},
        "model": {**MODEL, "vocab_size": vocab, "params": params, "head_dim": MODEL["hidden"] // MODEL["n_head"],
                  "tied_embeddings": True},
        "training": {**TRAIN, "max_iters": args.max_iters, "seconds": round(wall), "history": history},
        "results": {"heldout_loss": round(ho_loss, 4), "heldout_perplexity": round(math.exp(ho_loss), 4),
                    "heldout_accuracy": round(ho_acc, 4)},
        "onnx": {"no_cache": plain_info, "kv_cache": cached_info, "onnxruntime_max_abs_diff": ort},
    }
    with open(os.path.join(args.out, "llama.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    for fn in ("llama.onnx", "llama_kv.onnx", "llama_calib.npz", "llama_heldout.npz", "llama.json"):
        print(f"  {fn:20s} {os.path.getsize(os.path.join(args.out, fn)):>10d} bytes")


if __name__ == "__main__":
    main()
