"""Shared by the corpus data builders: paths, seeded randomness, writing data sets, and running an
original model through scripts/corpus/run_model.mjs (ONNX Runtime for Node; Debian has no Python
ONNX Runtime)."""
import os
import subprocess
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CACHE = os.path.join(ROOT, '.cache', 'corpus')
MODELS = os.path.join(CACHE, 'models')
DATA = os.path.join(CACHE, 'data')
RUNNER = os.path.join(ROOT, 'scripts', 'corpus', 'run_model.mjs')

CALIB_COUNT = 200
HELDOUT_COUNT = 200
CALIB16_COUNT = 16


def rng(name):
    """A generator seeded by a name, so every data set is reproducible on its own."""
    return np.random.default_rng(sum((i + 1) * ord(c) for i, c in enumerate(name)))


def model_path(model_id):
    path = os.path.join(MODELS, f'{model_id}.onnx')
    if not os.path.exists(path):
        raise SystemExit(f'{path} is missing: run `npm run corpus:fetch` first')
    return path


def run_each(model_id, inputs):
    """Outputs of a one-input, batch-1 model on every sample of `inputs` (float32 [N, ...])."""
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, 'in.npy'), np.ascontiguousarray(inputs, dtype=np.float32))
        subprocess.run(['node', RUNNER, 'each', model_path(model_id), os.path.join(folder, 'in.npy'), os.path.join(folder, 'out')], check=True)
        out = os.path.join(folder, 'out')
        return {f[:-4]: np.load(os.path.join(out, f)) for f in os.listdir(out)}


def run_vad(model_id, chunks, starts):
    """The state fed with each chunk and the speech probability, running recordings chunk by chunk."""
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, 'chunks.npy'), np.ascontiguousarray(chunks, dtype=np.float32))
        np.save(os.path.join(folder, 'starts.npy'), np.ascontiguousarray(starts, dtype=np.uint8))
        out = os.path.join(folder, 'out')
        subprocess.run(['node', RUNNER, 'vad', model_path(model_id), os.path.join(folder, 'chunks.npy'), os.path.join(folder, 'starts.npy'), out], check=True)
        return np.load(os.path.join(out, 'state.npy')), np.load(os.path.join(out, 'prob.npy'))


def write_split(model_id, split, arrays):
    """Writes one split: a .npy for a single array, an .npz keyed by input name for several."""
    folder = os.path.join(DATA, model_id)
    os.makedirs(folder, exist_ok=True)
    for ext in ('npy', 'npz'):
        stale = os.path.join(folder, f'{split}.{ext}')
        if os.path.exists(stale):
            os.remove(stale)
    if len(arrays) == 1:
        path = os.path.join(folder, f'{split}.npy')
        np.save(path, np.ascontiguousarray(next(iter(arrays.values()))))
    else:
        path = os.path.join(folder, f'{split}.npz')
        np.savez(path, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    shapes = ', '.join(f'{k} {v.dtype}{list(v.shape)}' for k, v in arrays.items())
    print(f'  {os.path.relpath(path, ROOT)}: {shapes}')


def write_sets(model_id, calib, heldout, calib16=None):
    """calib / calib16 / heldout for a model; calib16 defaults to the first 16 calibration samples."""
    if calib16 is None:
        calib16 = {k: v[:CALIB16_COUNT] for k, v in calib.items()}
    write_split(model_id, 'calib', calib)
    write_split(model_id, 'calib16', calib16)
    write_split(model_id, 'heldout', heldout)


def take(items, count, what):
    if len(items) < count:
        raise SystemExit(f'{what}: only {len(items)} samples, {count} needed')
    return items[:count]
