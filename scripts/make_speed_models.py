#!/usr/bin/env python3
"""Models of real size for timing idprune (bench/speed.ts); random weights, no training.

Writes into <repo>/.cache/speed/ (gitignored):
  resnet50/model.onnx, resnet50/calib.npy          torchvision ResNet-50, input "input" float32
                                                   [batch,3,224,224], output "logits" [batch,1000]
  mobilenetv3/model.onnx, mobilenetv3/calib.npy    torchvision MobileNetV3-Large, same shapes
  bert/model.onnx, bert/calib.npz                  BERT-base-sized post-LN encoder (12 layers, width
                                                   768, 12 heads, FFN 3072, vocab 30522); inputs
                                                   "input_ids", "attention_mask" int64 [batch,128],
                                                   output "logits" [batch,2] from the first token

Image calibration: 256 random crops of the photographs and pictures of plasma-workspace-wallpapers
(/usr/share/wallpapers), ImageNet-normalized; Gaussian noise if that package is missing. Text
calibration: 128 sequences of random token ids, lengths 16..128, padding masked.
The CNNs' BatchNorm statistics are recomputed from 64 of those images, so that activations have
the scale of a trained network's. CNNs at opset 13, BERT at opset 17 (one LayerNormalization node),
as make_transformer_fixtures.py exports its text model. Deterministic (fixed seeds).

Run with /usr/bin/python3 (Debian's torch 1.13, torchvision 0.14, onnx 1.12): about 2 minutes.
"""

import os
import sys
import time

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPT_DIR)
sys.path.insert(0, os.path.join(SCRIPT_DIR, 'corpus'))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402

from make_transformer_fixtures import PostLNBlock, export  # noqa: E402

SEED = 20240601
OUT = os.path.join(os.path.dirname(SCRIPT_DIR), '.cache', 'speed')
IMAGES, SEQUENCES, SEQ_LEN = 256, 128, 128
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def calibration_images(rng):
    """[IMAGES,3,224,224] float32 and a word on where the pixels came from."""
    try:
        from data_images import load_file, wallpaper_files
        files = wallpaper_files()
    except ImportError:
        files = []
    if not files:
        return rng.standard_normal((IMAGES, 3, 224, 224), dtype=np.float32), 'Gaussian noise'
    pictures = [Image.fromarray(load_file(f)) for f in files]
    out = np.empty((IMAGES, 3, 224, 224), np.float32)
    for i in range(IMAGES):
        picture = pictures[rng.integers(len(pictures))]
        side = int(min(picture.size) * rng.uniform(0.25, 1.0))
        x, y = rng.integers(picture.width - side + 1), rng.integers(picture.height - side + 1)
        patch = picture.crop((x, y, x + side, y + side)).resize((224, 224), Image.BILINEAR)
        if rng.random() < 0.5:
            patch = patch.transpose(Image.FLIP_LEFT_RIGHT)
        out[i] = ((np.asarray(patch, np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)
    return out, f'{len(files)} wallpaper pictures (/usr/share/wallpapers)'


@torch.no_grad()
def recalibrate_batchnorm(model, images):
    """Running statistics from real inputs (a cumulative average): random init leaves mean 0, var 1."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for batch in torch.from_numpy(images[:64]).split(16):
        model(batch)
    model.eval()


class Bert(nn.Module):
    """BERT-base shape: token + position embeddings, LayerNorm, post-LN blocks, pooler on the first token."""

    def __init__(self, vocab=30522, dim=768, depth=12, heads=12, ffn=3072, classes=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(1, 512, dim))
        self.emb_ln = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(PostLNBlock(dim, heads, ffn, 0.1) for _ in range(depth))
        self.pooler = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, classes)
        for m in self.modules():  # BERT's initialization
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, input_ids, attention_mask):
        x = self.emb_ln(self.tok(input_ids) + self.pos[:, : input_ids.shape[1]])
        bias = ((1.0 - attention_mask.to(x.dtype)) * -10000.0)[:, None, None, :]
        for block in self.blocks:
            x = block(x, bias)
        return self.head(torch.tanh(self.pooler(x[:, 0])))


def calibration_text(rng):
    lengths = rng.integers(16, SEQ_LEN + 1, SEQUENCES)
    ids = np.zeros((SEQUENCES, SEQ_LEN), np.int64)
    mask = np.zeros((SEQUENCES, SEQ_LEN), np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1000, 30522, n)
        ids[i, 0], ids[i, n - 1] = 101, 102  # [CLS] ... [SEP]
        mask[i, :n] = 1
    return ids, mask


def write(name, model, example, input_names, dynamic_axes, opset):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, 'model.onnx')
    start = time.time()
    export(model, example, path, input_names, dynamic_axes, opset)
    onnx.checker.check_model(path)
    seconds = time.time() - start
    print(f'{name}: {os.path.getsize(path) / 2**20:.1f} MiB, exported in {seconds:.1f} s', flush=True)
    return folder


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = np.random.default_rng(SEED)
    images, source = calibration_images(rng)
    print(f'calibration images: {source}', flush=True)
    image_axes = {'input': {0: 'batch'}, 'logits': {0: 'batch'}}
    for name, make in [('resnet50', torchvision.models.resnet50), ('mobilenetv3', torchvision.models.mobilenet_v3_large)]:
        model = make(weights=None)
        recalibrate_batchnorm(model, images)
        folder = write(name, model, (torch.from_numpy(images[:2]),), ['input'], image_axes, 13)
        np.save(os.path.join(folder, 'calib.npy'), images)

    ids, mask = calibration_text(rng)
    example = (torch.from_numpy(ids[:2]), torch.from_numpy(mask[:2]))
    text_axes = {'input_ids': {0: 'batch'}, 'attention_mask': {0: 'batch'}, 'logits': {0: 'batch'}}
    folder = write('bert', Bert().eval(), example, ['input_ids', 'attention_mask'], text_axes, 17)
    np.savez(os.path.join(folder, 'calib.npz'), input_ids=ids, attention_mask=mask)


if __name__ == '__main__':
    main()
