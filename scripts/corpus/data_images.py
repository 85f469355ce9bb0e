"""Real photographs from Debian packages, split into disjoint calibration and held-out pools, and
the image operations the shipping packages apply (OpenCV-style bilinear resize, crops, grey)."""
import glob
import os

import numpy as np
from PIL import Image
from skimage import data as skdata
from skimage import io as skio
from skimage import transform

SKIMAGE_DATA = os.path.dirname(skdata.__file__)
GRACE_HOPPER = '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg'
WALLPAPERS = '/usr/share/wallpapers'
MAX_SIDE = 1600

# Photographs with one face each (python3-skimage, python3-matplotlib): astronaut (Eileen Collins)
# and camera (the cameraman) calibrate, grace_hopper is held out.
FACE_PHOTOS = {'calib': ['astronaut', 'camera'], 'heldout': ['grace_hopper']}

# Other photographs (skimage's data folder), split by hand so that each side has pictures with a
# clear foreground object (for ISNet) and related pictures (the stereo pair motorcycle_left/right)
# stay on one side.
OTHER_PHOTOS = {
    'calib': ['coffee', 'motorcycle_left', 'motorcycle_right', 'coins', 'hubble_deep_field', 'brick', 'gravel', 'moon'],
    'heldout': ['chelsea', 'rocket', 'retina', 'ihc', 'grass', 'page'],
}

SKIMAGE_FILES = {
    'astronaut': 'astronaut.png', 'camera': 'camera.png', 'coffee': 'coffee.png', 'chelsea': 'chelsea.png',
    'rocket': 'rocket.jpg', 'motorcycle_left': 'motorcycle_left.png', 'motorcycle_right': 'motorcycle_right.png',
    'hubble_deep_field': 'hubble_deep_field.jpg', 'coins': 'coins.png', 'brick': 'brick.png', 'retina': 'retina.jpg',
    'ihc': 'ihc.png', 'moon': 'moon.png', 'grass': 'grass.png', 'gravel': 'gravel.png', 'page': 'page.png',
}


def as_rgb(image):
    """uint8 H×W×3 from grey, RGB or RGBA."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * 255 if image.max() <= 1 else image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def load_named(name):
    if name == 'grace_hopper':
        return as_rgb(skio.imread(GRACE_HOPPER))
    return as_rgb(skio.imread(os.path.join(SKIMAGE_DATA, SKIMAGE_FILES[name])))


def wallpaper_files():
    """One landscape picture per plasma-workspace-wallpapers theme: the one nearest 1600 px wide."""
    files = []
    for theme in sorted(os.listdir(WALLPAPERS)) if os.path.isdir(WALLPAPERS) else []:
        candidates = []
        for path in glob.glob(os.path.join(WALLPAPERS, theme, 'contents', 'images', '*')):
            size = os.path.basename(path).split('.')[0].split('x')
            if len(size) == 2 and size[0].isdigit() and int(size[0]) > int(size[1]):
                candidates.append((abs(int(size[0]) - MAX_SIDE), path))
        if candidates:
            files.append(min(candidates)[1])
    return files


def load_file(path):
    image = Image.open(path).convert('RGB')
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    return np.asarray(image)


def named_photos(split, with_faces=False):
    """(name, image) pairs of the split's photographs from skimage (and matplotlib)."""
    names = OTHER_PHOTOS[split] + (FACE_PHOTOS[split] if with_faces else [])
    return [(n, load_named(n)) for n in names]


def wallpapers(split):
    """(theme, image) pairs: every other plasma-workspace-wallpapers theme."""
    walls = wallpaper_files()
    theme = lambda p: os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(p))))
    return [(theme(p), load_file(p)) for i, p in enumerate(walls) if i % 2 == (0 if split == 'calib' else 1)]


def photo_pool(split, with_faces=False):
    """All pictures of one split: the named photographs, then the wallpapers."""
    return named_photos(split, with_faces) + wallpapers(split)


def cv_resize(image, height, width):
    """OpenCV's INTER_LINEAR (half-pixel centres, no anti-aliasing), as cv.resize in the face packages."""
    out = transform.resize(image.astype(np.float32), (height, width) + image.shape[2:], order=1, anti_aliasing=False, preserve_range=True, mode='edge')
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def imgly_resize(image, height, width):
    """@imgly/background-removal-node's own bilinear resize (corner-aligned source grid, rounded to uint8)."""
    src_h, src_w = image.shape[:2]
    sy = np.arange(height) * (src_h / height)
    sx = np.arange(width) * (src_w / width)
    y1 = np.floor(sy).astype(int)
    x1 = np.floor(sx).astype(int)
    y2 = np.minimum(np.ceil(sy).astype(int), src_h - 1)
    x2 = np.minimum(np.ceil(sx).astype(int), src_w - 1)
    dy = (sy - y1)[:, None, None]
    dx = (sx - x1)[None, :, None]
    img = image.astype(np.float64)
    top = (1 - dx) * img[y1][:, x1] + dx * img[y1][:, x2]
    bottom = (1 - dx) * img[y2][:, x1] + dx * img[y2][:, x2]
    return np.round((1 - dy) * top + dy * bottom).astype(np.uint8)


def grey(image):
    """Luminance as OpenCV's RGB2GRAY computes it."""
    g = image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114
    return np.clip(np.round(g), 0, 255).astype(np.uint8)


def roi(image, x, y, w, h):
    """cv.Mat.roi, clipped to the image (OpenCV would throw where the packages' rectangles overflow)."""
    H, W = image.shape[:2]
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(W, int(x) + int(w)), min(H, int(y) + int(h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return image[y0:y1, x0:x1]


def jitter_colours(image, rng, strength=1.0):
    """Brightness, contrast, saturation and gamma changes of a real photo (no added noise)."""
    img = image.astype(np.float32) / 255
    img = img ** rng.uniform(1 - 0.25 * strength, 1 + 0.25 * strength)
    mean = img.mean()
    img = (img - mean) * rng.uniform(1 - 0.3 * strength, 1 + 0.3 * strength) + mean
    img = img * rng.uniform(1 - 0.25 * strength, 1 + 0.25 * strength)
    lum = img.mean(axis=2, keepdims=True)
    img = lum + (img - lum) * rng.uniform(1 - 0.4 * strength, 1 + 0.4 * strength)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def random_crop(image, rng, min_scale, aspect=None, must_contain=None):
    """A crop of `min_scale`..1 of the image's extent (of aspect w/h if given), containing the point `must_contain`."""
    H, W = image.shape[:2]
    for _ in range(50):
        scale = rng.uniform(min_scale, 1.0)
        if aspect:
            w = min(W, H * aspect) * scale
            h = w / aspect
        else:
            w, h = W * scale, H * rng.uniform(max(min_scale, scale * 0.8), min(1.0, scale * 1.25))
        w, h = int(w), int(h)
        x = int(rng.uniform(0, W - w + 1))
        y = int(rng.uniform(0, H - h + 1))
        if must_contain is None:
            return image[y:y + h, x:x + w]
        cx, cy, margin = must_contain
        if x + margin <= cx <= x + w - margin and y + margin <= cy <= y + h - margin:
            return image[y:y + h, x:x + w]
    return image


def augment(image, rng, rotate=0.0):
    """A horizontal flip half of the time, a small rotation, colour jitter."""
    if rng.random() < 0.5:
        image = image[:, ::-1]
    if rotate:
        angle = rng.uniform(-rotate, rotate)
        image = transform.rotate(image, angle, mode='edge', preserve_range=True, order=1).astype(np.uint8)
    return jitter_colours(np.ascontiguousarray(image), rng)


def chw(image):
    return np.ascontiguousarray(image.transpose(2, 0, 1))
