"""Inputs for detypify (detypify-service): the package draws the user's pen strokes white on black,
8 px wide, scaled so the larger side spans 204 px of a 224×224 canvas, centred, and feeds the red
channel / 255. No handwriting ships in any package here, so strokes are made from typeset symbols:
each of the model's 411 symbols is rendered in a Debian font, thinned to its centre line
(skeletonize), distorted a little (rotation, shear, stretch, as a hand would), and redrawn with an
8 px round pen as drawStrokes does. Calibration and held-out data use different fonts."""
import json
import os
import tarfile

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from skimage.morphology import skeletonize

from data_common import CACHE, CALIB_COUNT, HELDOUT_COUNT, rng, write_sets

CANVAS = 224
TARGET = CANVAS - 20
PEN_RADIUS = 4
FONTS = {
    'calib': ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/freefont/FreeSerif.ttf', '/usr/share/fonts/opentype/stix-word/STIX-Regular.otf'],
    'heldout': ['/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf', '/usr/share/fonts/truetype/freefont/FreeSans.ttf', '/usr/share/fonts/truetype/freefont/FreeMono.ttf'],
}
TARBALL = os.path.join(CACHE, 'tarballs', 'detypify-service-0.3.0.tgz')


def symbols():
    """The model's classes in output order: train/infer.json of the package."""
    with tarfile.open(TARBALL) as tar:
        return [entry['char'] for entry in json.load(tar.extractfile('package/train/infer.json'))]


def covered(font_path):
    return set(TTFont(font_path, fontNumber=0)['cmap'].getBestCmap())


def centre_line(char, font):
    """Points (x, y) of the glyph's thinned shape, or None where the font draws nothing."""
    canvas = Image.new('L', (320, 320), 0)
    ImageDraw.Draw(canvas).text((160, 160), char, fill=255, font=font, anchor='mm')
    ink = np.asarray(canvas) > 127
    if ink.sum() < 20:
        return None
    ys, xs = np.nonzero(skeletonize(ink))
    return np.stack([xs, ys], axis=1).astype(np.float64) if len(xs) >= 5 else None


def handwritten(points, r):
    """A hand's variation: rotation ±8°, shear ±0.15, horizontal stretch 0.85..1.15."""
    angle = np.deg2rad(r.uniform(-8, 8))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1, r.uniform(-0.15, 0.15)], [0, 1]])
    stretch = np.diag([r.uniform(0.85, 1.15), 1])
    centred = points - points.mean(axis=0)
    return centred @ (rotation @ shear @ stretch).T


def draw(points):
    """drawStrokes' normalisation (larger side → 204 px, centred) and an 8 px pen, as x/255."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    width = max(hi - lo)
    scale = TARGET / width if width > 1e-6 else 1
    xy = np.round((points - (lo + hi) / 2) * scale + CANVAS / 2).astype(int)
    ink = np.zeros((CANVAS, CANVAS), bool)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < CANVAS) & (xy[:, 1] >= 0) & (xy[:, 1] < CANVAS)
    ink[xy[inside, 1], xy[inside, 0]] = True
    pen = np.hypot(*np.mgrid[-PEN_RADIUS:PEN_RADIUS + 1, -PEN_RADIUS:PEN_RADIUS + 1]) <= PEN_RADIUS
    # Stretching the centre line can leave gaps between its points: close them before the pen.
    ink = ndimage.binary_closing(ink, structure=np.ones((3, 3)), iterations=2) | ink
    stroke = ndimage.binary_dilation(ink, structure=pen)
    return ndimage.gaussian_filter(stroke.astype(np.float32), 0.6)[None]


def split_inputs(split, chars):
    r = rng(f'glyphs-{split}')
    samples, labels = [], []
    for font_path in FONTS[split]:
        font = ImageFont.truetype(font_path, 160)
        have = covered(font_path)
        for label, char in enumerate(chars):
            if len(char) != 1 or ord(char) not in have:
                continue
            points = centre_line(char, font)
            if points is not None:
                samples.append(draw(handwritten(points, r)))
                labels.append(label)
    order = r.permutation(len(samples))
    print(f'  glyphs {split}: {len(samples)} (symbol, font) pairs drawn from {len(FONTS[split])} fonts')
    return np.stack([samples[i] for i in order]).astype(np.float32), np.array(labels, np.int64)[order]


def build():
    chars = symbols()
    calib, _ = split_inputs('calib', chars)
    heldout, labels = split_inputs('heldout', chars)
    write_sets('detypify', {'x': calib[:CALIB_COUNT]}, {'x': heldout[:HELDOUT_COUNT]})
    np.save(os.path.join(CACHE, 'data', 'detypify', 'heldout_labels.npy'), labels[:HELDOUT_COUNT])
