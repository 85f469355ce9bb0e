#!/usr/bin/env python3
"""A Llama-style decoder the size of a small production model, with random weights, exported with a
KV cache in Optimum's layout: for timing decode speed before and after compression (bench/decoder-speed.ts),
where the larger matrices make a decode step cost what its weights cost. Not trained: its decisions
mean nothing, only its speed does.

Writes <repo>/.cache/speed/llama_speed_kv.onnx (width 512, 8 blocks, 8 query heads over 2 key/value
heads of 64, SwiGLU 1408, vocabulary 4096: 24.7M parameters, 107 MB with the output projection stored apart).
Run with /usr/bin/python3 (Debian's torch).
"""

import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(SCRIPT_DIR)
sys.path.insert(0, SCRIPT_DIR)
from make_llama_fixture import Llama, cache_feeds, export_with_cache  # noqa: E402

SPEED_MODEL = dict(block_size=128, n_layer=8, hidden=512, n_head=8, n_kv_head=2, intermediate=1408,
                   rms_eps=1e-5, rope_theta=10000.0)
VOCAB = 4096


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, ".cache", "speed"))
    args = ap.parse_args()
    torch.manual_seed(20261208)
    model = Llama(SPEED_MODEL, VOCAB).eval()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "llama_speed_kv.onnx")
    ids = torch.randint(0, VOCAB, (2, 5)).numpy()
    export_with_cache(model, cache_feeds(model, ids, past_len=3), path)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {path}: {params} parameters, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
