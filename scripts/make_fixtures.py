#!/usr/bin/env python3
"""Train four small Fashion-MNIST models and export ONNX test fixtures for idprune.

Writes into <repo>/test/fixtures/:
  mlp.onnx, vgg.onnx, resnet.onnx,
  mobilenet.onnx                       float32 models, input "input" [batch,1,28,28],
                                       output "logits" [batch,10], opset 13
  calib.npy                            1000 training images, float16 [1000,1,28,28], x/255
  heldout.npy, heldout_labels.npy      first 5000 test images (float16) and labels (int64)
  fixtures.json                        accuracies, epochs, seed, timings

Models:
  mlp     784-1024-1024-10 with ReLU
  vgg     VGG-style CNN with BatchNorm; BatchNormalization nodes are KEPT in the ONNX graph
  resnet  small ResNet (3 stages x 2 basic blocks, widths 16/32/64); BatchNorm FOLDED into convs
  mobilenet  small MobileNetV2 (inverted residuals, depthwise 3x3, ReLU6 -> Clip); BatchNorm FOLDED

Inputs are pixel/255 in [0,1] with no mean/std normalisation.

Requires Debian packages python3-torch (1.13) python3-torchvision python3-onnx
python3-numpy dataset-fashion-mnist.  Run with /usr/bin/python3 (see scripts/README.md).
"""

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240601
OPSET = 13
NUM_THREADS = 2
BATCH_SIZE = 128
LR = 1e-3
DEFAULT_EPOCHS = {"mlp": 8, "vgg": 4, "resnet": 5, "mobilenet": 4}
# Optional cap on the total number of training steps (the cosine schedule spans the capped
# total); none of the committed fixtures uses one.
DEFAULT_MAX_STEPS = {}

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(SCRIPT_DIR)
DEFAULT_OUT = os.path.join(REPO_ROOT, "test", "fixtures")
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


# ----------------------------------------------------------------------------- data


def _read_idx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    magic = int.from_bytes(buf[0:4], "big")
    if magic != expected_magic:
        raise ValueError(f"{path}: bad IDX magic {magic:#x}, expected {expected_magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    arr = np.frombuffer(buf, dtype=np.uint8, offset=offset)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: size mismatch {arr.size} vs {dims}")
    return arr.reshape(dims)


def load_split(data_dir, kind):
    """Return (images uint8 [N,28,28], labels uint8 [N])."""
    images = _read_idx(os.path.join(data_dir, f"{kind}-images-idx3-ubyte.gz"), 0x00000803)
    labels = _read_idx(os.path.join(data_dir, f"{kind}-labels-idx1-ubyte.gz"), 0x00000801)
    assert images.shape[0] == labels.shape[0]
    return images, labels


def to_float(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28] in [0,1] (x/255)."""
    return (images_u8.astype(np.float32) / np.float32(255.0))[:, None, :, :]


# ----------------------------------------------------------------------------- models


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, 1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, 10),
        )

    def forward(self, x):
        return self.net(x)


def _conv_bn_relu(cin, cout):
    return [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class VGG(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(1, 32), *_conv_bn_relu(32, 32), nn.MaxPool2d(2),     # 28 -> 14
            *_conv_bn_relu(32, 64), *_conv_bn_relu(64, 64), nn.MaxPool2d(2),    # 14 -> 7
            *_conv_bn_relu(64, 128), *_conv_bn_relu(128, 128), nn.MaxPool2d(2),  # 7 -> 3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 3 * 3, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=2):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn_relu(1, widths[0]))
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                stride = 2 if (i > 0 and b == 0) else 1  # 28 -> 28 -> 14 -> 7
                layers.append(BasicBlock(cin, w, stride))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[-1], 10)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.layers(self.stem(x)))))


def _conv_bn_relu6(cin, cout, kernel, stride=1, groups=1):
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    ]


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [expand 1x1 + BN + ReLU6] -> depthwise 3x3 + BN + ReLU6 -> project 1x1 + BN
    (linear bottleneck); residual Add when stride 1 and cin == cout."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += _conv_bn_relu6(cin, hidden, 1)
        layers += _conv_bn_relu6(hidden, hidden, 3, stride=stride, groups=hidden)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        out = self.conv(x)
        return x + out if self.use_res else out


class MobileNetV2(nn.Module):
    # (expansion t, output channels c, repeats n, first stride s), as in the MobileNetV2 paper
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 1))

    def __init__(self, stem=16, last=128):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn_relu6(1, stem, 3))
        blocks, cin = [], stem
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))  # 28 -> 14 -> 7
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*_conv_bn_relu6(cin, last, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(last, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.head(self.blocks(self.stem(x))))))


MODELS = {"mlp": MLP, "vgg": VGG, "resnet": ResNet, "mobilenet": MobileNetV2}


# ----------------------------------------------------------------------------- train / eval


@torch.no_grad()
def evaluate(model, x, y, batch=250):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        logits = model(x[i : i + batch])
        correct += (logits.argmax(1) == y[i : i + batch]).sum().item()
    return correct / x.shape[0]


def train(name, model, xtr, ytr, epochs, seed, max_steps=None, log=print, smoke_steps=None,
          total_steps=None):
    """Adam + per-step cosine decay to 0. Returns seconds per epoch list.
    max_steps: time that many steps and return. smoke_steps: cap steps per epoch (testing).
    total_steps: stop after this many steps in total; the cosine schedule decays over them."""
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    n = xtr.shape[0]
    steps_per_epoch = math.ceil(n / BATCH_SIZE)
    total = steps_per_epoch * epochs
    if total_steps is not None:
        total = min(total, total_steps)
    step = 0
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))
    )
    epoch_times = []
    for ep in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        run_loss, run_n = 0.0, 0
        for it, i in enumerate(range(0, n, BATCH_SIZE)):
            idx = perm[i : i + BATCH_SIZE]
            xb, yb = xtr[idx], ytr[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss += loss.item() * xb.shape[0]
            run_n += xb.shape[0]
            step += 1
            if step >= total:
                break
            if smoke_steps is not None and it + 1 >= smoke_steps:
                break
            if max_steps is not None and it + 1 >= max_steps:
                dt = time.time() - t0
                log(f"[{name}] timing: {max_steps} steps in {dt:.1f}s -> "
                    f"~{dt / max_steps * steps_per_epoch:.0f}s/epoch")
                return [dt / max_steps * steps_per_epoch]
        dt = time.time() - t0
        epoch_times.append(dt)
        log(f"[{name}] epoch {ep + 1}/{epochs} loss {run_loss / run_n:.4f} "
            f"lr {sched.get_last_lr()[0]:.2e} {dt:.0f}s")
        if step >= total:
            break
    return epoch_times


# ----------------------------------------------------------------------------- export / verify


def export_onnx(name, model, path):
    model.eval()
    dummy = torch.zeros(2, 1, 28, 28)
    kwargs = dict(
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=OPSET,
        export_params=True,
        keep_initializers_as_inputs=False,
    )
    if name == "vgg":
        # Keep BatchNormalization nodes: PRESERVE skips the eval-mode peephole pass that
        # fuses Conv+BN; the model itself is in eval() so BN is exported in inference form
        # (one output, no training_mode attribute). Constant folding off only silences a
        # torch warning; the graph is identical either way for this model.
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    else:
        # EVAL + constant folding fuses BN into the preceding Conv (torch 1.13); this also
        # holds for grouped (depthwise) convs.
        kwargs.update(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    torch.onnx.export(model, dummy, path, **kwargs)
    if name == "mobilenet":
        _constants_to_initializers(path)


def _constants_to_initializers(path):
    """torch exports ReLU6 as Clip whose min/max (opset 13: inputs) come from Constant nodes;
    move them into graph initializers so that all weights/constants are initializers."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    g = m.graph
    keep = []
    for node in g.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            arr = numpy_helper.to_array(node.attribute[0].t)
            g.initializer.append(numpy_helper.from_array(arr, node.output[0]))
        else:
            keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    onnx.save(m, path)


def inspect_onnx(name, path):
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    g = m.graph
    ops = Counter(n.op_type for n in g.node)
    init_names = {i.name for i in g.initializer}
    info = {
        "opset": [(o.domain or "ai.onnx", o.version) for o in m.opset_import],
        "ops": dict(sorted(ops.items())),
        "num_nodes": len(g.node),
        "num_initializers": len(g.initializer),
        "initializer_params": int(sum(numpy_helper.to_array(i).size for i in g.initializer)),
        "constant_nodes": ops.get("Constant", 0),
        "inputs": [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
                   for i in g.input],
        "outputs": [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
                    for o in g.output],
        "initializers_in_inputs": [i.name for i in g.input if i.name in init_names],
    }
    assert [i[0] for i in info["inputs"]] == ["input"], info["inputs"]
    assert [o[0] for o in info["outputs"]] == ["logits"], info["outputs"]
    assert info["inputs"][0][1] == ["batch", 1, 28, 28], info["inputs"]
    assert info["outputs"][0][1] == ["batch", 10], info["outputs"]
    assert not info["initializers_in_inputs"]
    assert any(o.version == OPSET for o in m.opset_import if o.domain in ("", "ai.onnx"))

    bn_nodes = [n for n in g.node if n.op_type == "BatchNormalization"]
    if name == "vgg":
        assert len(bn_nodes) == 6, f"vgg: expected 6 BatchNormalization nodes, got {len(bn_nodes)}"
        for n in bn_nodes:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert len(n.output) == 1, f"{n.name}: training-mode outputs {list(n.output)}"
            assert attrs.get("training_mode", 0) == 0, f"{n.name}: training_mode={attrs}"
            for inp in n.input[1:]:
                assert inp in init_names, f"{n.name}: BN param {inp} is not an initializer"
    else:
        assert not bn_nodes, f"{name}: {len(bn_nodes)} BatchNormalization nodes left"
    # torch 1.13 de-duplicates bit-identical initializers and re-creates them with Identity
    # nodes; that only happens for degenerate (e.g. untrained) weights, reject it here.
    assert "Identity" not in ops, f"{name}: Identity nodes (deduplicated initializers)"
    for node in g.node:
        assert "Training" not in node.op_type and node.domain in ("", "ai.onnx"), node
    return info


def onnxruntime_check(paths, xs, refs, log=print):
    """Compare torch logits with onnxruntime. Uses the python package if present, else
    onnxruntime-node from the repo's node_modules via scripts/check_onnx.mjs."""
    try:
        import onnxruntime as ort  # noqa: F401
    except ImportError:
        ort = None
    results = {}
    if ort is not None:
        for name, p in paths.items():
            sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
            out = sess.run(["logits"], {"input": xs})[0]
            results[name] = float(np.abs(out - refs[name]).max())
        return results, "onnxruntime (python)"
    node = shutil.which("node")
    checker = os.path.join(SCRIPT_DIR, "check_onnx.mjs")
    if node is None or not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "onnxruntime-node")):
        log("onnxruntime not available (python or node); skipping runtime comparison")
        return None, None
    with tempfile.TemporaryDirectory() as tmp:
        xs.astype("<f4").tofile(os.path.join(tmp, "input.f32"))
        spec = {"input": "input.f32", "shape": list(xs.shape), "models": {}}
        for name, p in paths.items():
            refs[name].astype("<f4").tofile(os.path.join(tmp, f"{name}.ref.f32"))
            spec["models"][name] = {"onnx": p, "ref": f"{name}.ref.f32"}
        with open(os.path.join(tmp, "spec.json"), "w") as f:
            json.dump(spec, f)
        proc = subprocess.run([node, checker, os.path.join(tmp, "spec.json")],
                              cwd=REPO_ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"check_onnx.mjs failed:\n{proc.stdout}\n{proc.stderr}")
        results = json.loads(proc.stdout)
    return {k: v["max_abs_diff"] for k, v in results.items()}, "onnxruntime-node"


# ----------------------------------------------------------------------------- main


def file_size(path):
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: test/fixtures)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with the gzipped IDX files")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset to build "
                    f"(default: all of {','.join(MODELS)})")
    for k, v in DEFAULT_EPOCHS.items():
        ap.add_argument(f"--epochs-{k}", type=int, default=v)
    for k, v in DEFAULT_MAX_STEPS.items():
        ap.add_argument(f"--max-steps-{k}", type=int, default=v,
                        help=f"cap total training steps for {k} (default {v}; 0 = no cap)")
    ap.add_argument("--time-steps", type=int, default=0,
                    help="only time N training steps per model and exit (writes nothing)")
    ap.add_argument("--smoke-steps", type=int, default=None,
                    help="testing only: cap training steps per epoch (use with --out elsewhere)")
    args = ap.parse_args()

    torch.set_num_threads(NUM_THREADS)
    torch.use_deterministic_algorithms(True)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {torch.get_num_threads()}")

    xtr_u8, ytr_u8 = load_split(args.data, "train")
    xte_u8, yte_u8 = load_split(args.data, "t10k")
    assert xtr_u8.shape == (60000, 28, 28) and xte_u8.shape == (10000, 28, 28)
    xtr = torch.from_numpy(to_float(xtr_u8))
    ytr = torch.from_numpy(ytr_u8.astype(np.int64))
    xte = torch.from_numpy(to_float(xte_u8))
    yte = torch.from_numpy(yte_u8.astype(np.int64))

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            sys.exit(f"unknown model {n!r}; choose from {list(MODELS)}")
    epochs = {k: getattr(args, f"epochs_{k}") for k in MODELS}

    if args.time_steps:
        for n in names:
            torch.manual_seed(SEED)
            train(n, MODELS[n](), xtr, ytr, 1, SEED, max_steps=args.time_steps)
        return

    os.makedirs(args.out, exist_ok=True)

    # ---- data slices (independent of training, written first)
    rng = np.random.default_rng(SEED)
    calib_idx = np.sort(rng.choice(xtr_u8.shape[0], size=1000, replace=False))
    calib = np.ascontiguousarray(to_float(xtr_u8[calib_idx]).astype(np.float16))
    heldout = np.ascontiguousarray(to_float(xte_u8[:5000]).astype(np.float16))
    heldout_labels = np.ascontiguousarray(yte_u8[:5000].astype(np.int64))
    np.save(os.path.join(args.out, "calib.npy"), calib)
    np.save(os.path.join(args.out, "heldout.npy"), heldout)
    np.save(os.path.join(args.out, "heldout_labels.npy"), heldout_labels)
    # what a consumer of heldout.npy actually feeds the model: fp16 values widened to fp32
    x_held = torch.from_numpy(heldout.astype(np.float32))
    y_held = torch.from_numpy(heldout_labels)

    json_path = os.path.join(args.out, "fixtures.json")
    meta = {}
    if os.path.exists(json_path):
        with open(json_path) as f:
            meta = json.load(f)
    meta.update({
        "seed": SEED,
        "torch": torch.__version__,
        "opset": OPSET,
        "input_scaling": "x/255, no mean/std normalisation",
        "calib": {"file": "calib.npy", "split": "train", "count": 1000, "dtype": "float16",
                  "selection": "numpy default_rng(seed).choice(60000, 1000, replace=False), sorted"},
        "heldout": {"file": "heldout.npy", "labels": "heldout_labels.npy", "split": "test",
                    "range": [0, 5000], "dtype": "float16"},
    })
    meta.setdefault("models", {})

    paths, refs, infos = {}, {}, {}
    for n in names:
        torch.manual_seed(SEED)
        model = MODELS[n]()
        t0 = time.time()
        cap = getattr(args, f"max_steps_{n}", None) or None
        train(n, model, xtr, ytr, epochs[n], SEED, smoke_steps=args.smoke_steps, total_steps=cap)
        train_s = time.time() - t0
        model.eval()
        acc = evaluate(model, xte, yte)
        acc_held = evaluate(model, x_held, y_held)
        print(f"[{n}] test accuracy (10k, fp32) {acc * 100:.2f}%  heldout (5k, fp16 inputs) "
              f"{acc_held * 100:.2f}%  train {train_s:.0f}s")
        path = os.path.join(args.out, f"{n}.onnx")
        export_onnx(n, model, path)
        info = inspect_onnx(n, path)
        infos[n] = info
        print(f"[{n}] ONNX ops {info['ops']}; initializers {info['num_initializers']} "
              f"({info['initializer_params']} values); Constant nodes {info['constant_nodes']}")
        paths[n] = path
        with torch.no_grad():
            refs[n] = model(x_held[:64]).numpy()
        meta["models"][n] = {
            "file": f"{n}.onnx",
            "test_accuracy": round(acc, 4),
            "heldout_accuracy": round(acc_held, 4),
            "epochs": epochs[n],
            "train_seconds": round(train_s),
            "batchnorm": {"vgg": "kept", "resnet": "folded", "mobilenet": "folded", "mlp": "none"}[n],
            "params": sum(p.numel() for p in model.parameters()),
        }
        if cap:
            meta["models"][n]["train_steps"] = min(cap, math.ceil(xtr.shape[0] / BATCH_SIZE) * epochs[n])

    diffs, backend = onnxruntime_check(paths, x_held[:64].numpy(), refs)
    if diffs is not None:
        for n, d in diffs.items():
            print(f"[{n}] {backend}: max |torch - onnx| on 64 heldout images = {d:.2e}")
            assert d < 1e-3, f"{n}: onnxruntime output differs from torch by {d}"

    with open(json_path, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")

    print("\nSummary")
    for n in names:
        m = meta["models"][n]
        print(f"  {n:9s} test acc {m['test_accuracy'] * 100:.2f}%  heldout acc "
              f"{m['heldout_accuracy'] * 100:.2f}%  epochs {m['epochs']}  train {m['train_seconds']}s")
    total = 0
    for fn in sorted(os.listdir(args.out)):
        s = file_size(os.path.join(args.out, fn))
        total += s
        print(f"  {fn:22s} {s:>10d} bytes")
    print(f"  {'total':22s} {total:>10d} bytes ({total / 2**20:.2f} MiB)")
    assert total < 25 * 10**6, "fixtures exceed 25 MB"


if __name__ == "__main__":
    main()
