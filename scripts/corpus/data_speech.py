"""Inputs for the Silero VAD models: 16 kHz speech cut into the chunks the packages feed
(64 samples of context from the previous chunk + 512 new samples), with the recurrent state the
original model carries into each chunk.

Recordings: pocketsphinx-testdata's WAV and raw files (real 16 kHz speech), and sentences spoken by
espeak-ng in varied voices, speeds and pitches, joined by pauses of digital silence."""
import glob
import os
import subprocess
import tempfile
import wave

import numpy as np

from data_common import CALIB16_COUNT, CALIB_COUNT, HELDOUT_COUNT, rng, run_vad, write_sets

RATE = 16000
CHUNK = 512
CONTEXT = 64
POCKETSPHINX = '/usr/share/pocketsphinx/test/data'

SENTENCES = {
    'calib': [
        ('en-us', 'The quick brown fox jumps over the lazy dog.'),
        ('en-us', 'Please call Stella and ask her to bring these things with her from the store.'),
        ('en-gb', 'Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.'),
        ('en-gb', 'We also need a small plastic snake and a big toy frog for the kids.'),
        ('en-us', 'She can scoop these things into three red bags, and we will go meet her Wednesday at the train station.'),
        ('de', 'Der Zug nach Hamburg fährt heute mit zwanzig Minuten Verspätung ab.'),
        ('fr-fr', 'Il fait beau aujourd\'hui, nous irons nous promener au bord de la rivière.'),
        ('en-us', 'Turn left at the second traffic light, then keep going until you reach the old bridge.'),
        ('es', 'Mañana por la mañana vamos a visitar a mis abuelos en el campo.'),
        ('en-gb', 'The meeting has been moved to half past three on Thursday afternoon.'),
        ('en-us', 'Can you hear me now? I think the connection is much better than before.'),
        ('it', 'La cena è pronta, venite a tavola prima che si raffreddi.'),
    ],
    'heldout': [
        ('en-us', 'A rainbow is a division of white light into many beautiful colors.'),
        ('en-gb', 'These take the shape of a long round arch, with its path high above, and its two ends apparently beyond the horizon.'),
        ('en-us', 'There is, according to legend, a boiling pot of gold at one end.'),
        ('de', 'Morgen früh stehen wir zeitig auf und wandern bis zum Gipfel des Berges.'),
        ('en-gb', 'Remember to water the plants while I am away for the weekend.'),
        ('fr-fr', 'Le musée ouvre ses portes à neuf heures et ferme à dix-huit heures.'),
        ('en-us', 'The committee will publish its final report at the end of next month.'),
        ('es', 'El perro corrió por todo el parque persiguiendo una pelota roja.'),
        ('en-us', 'Ninety nine bottles of water were delivered to the school this morning.'),
        ('it', 'Il treno per Roma parte dal binario sette tra dieci minuti.'),
        ('en-gb', 'Would you like a cup of tea, or shall I make some coffee instead?'),
        ('en-us', 'Scientists measured the temperature of the lake every hour for a week.'),
    ],
}
VARIANTS = {'calib': ['m1', 'f2', 'm3', 'f4', 'klatt', 'm7'], 'heldout': ['f1', 'm2', 'f3', 'm4', 'klatt2', 'f5']}
RECORDED = {
    'calib': [f'{POCKETSPHINX}/cards/00{i}.wav' for i in range(1, 6)] + [f'{POCKETSPHINX}/{n}.raw' for n in ('goforward', 'numbers', 'something')],
    # tidigits/dhd.2934z.raw is left out: it is 8 kHz audio.
    'heldout': sorted(glob.glob(f'{POCKETSPHINX}/librivox/*.wav')),
}


def read_recording(path):
    """float32 samples in −1..1; .raw files are headerless 16 kHz 16-bit little-endian mono."""
    if path.endswith('.raw'):
        pcm = np.fromfile(path, dtype='<i2')
    else:
        with wave.open(path) as w:
            if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise SystemExit(f'{path}: expected 16 kHz 16-bit mono')
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2')
    return pcm.astype(np.float32) / 32768


def speak(language, variant, speed, pitch, text):
    """espeak-ng at 22.05 kHz, resampled to 16 kHz by sox."""
    with tempfile.TemporaryDirectory() as folder:
        raw, out = os.path.join(folder, 'say.wav'), os.path.join(folder, 'say16k.wav')
        subprocess.run(['espeak-ng', '-v', f'{language}+{variant}', '-s', str(speed), '-p', str(pitch), '-w', raw, text], check=True)
        subprocess.run(['sox', raw, '-r', str(RATE), '-c', '1', '-b', '16', out], check=True)
        return read_recording(out)


def synthesised(split):
    """Recordings of two sentences each with pauses between and around them."""
    r = rng(f'speech-{split}')
    sentences, variants = SENTENCES[split], VARIANTS[split]
    recordings = []
    for i in range(0, len(sentences), 2):
        parts = [np.zeros(int(RATE * r.uniform(0.2, 0.8)), np.float32)]
        for language, text in sentences[i:i + 2]:
            voice = variants[len(recordings) % len(variants)]
            parts.append(speak(language, voice, int(r.uniform(120, 220)), int(r.uniform(25, 75)), text) * r.uniform(0.3, 1.0))
            parts.append(np.zeros(int(RATE * r.uniform(0.3, 1.2)), np.float32))
        recordings.append(np.concatenate(parts))
    return recordings


def framed(samples, size, context):
    """Frames of `size` new samples, each after `context` samples before it (zeros before the start); the last partial frame dropped."""
    count = len(samples) // size
    padded = np.concatenate([np.zeros(context, np.float32), samples])
    return np.stack([padded[i * size:i * size + context + size] for i in range(count)])


def chunks_of(recording):
    """Chunks with 64 samples of context."""
    return framed(recording, CHUNK, CONTEXT)


def recordings_of(split):
    recordings = [read_recording(p) for p in RECORDED[split]] + synthesised(split)
    chunks = [chunks_of(rec) for rec in recordings]
    starts = np.concatenate([np.eye(1, len(c), 0, dtype=np.uint8)[0] for c in chunks])
    return np.concatenate(chunks), starts, len(recordings)


def build():
    calib_chunks, calib_starts, calib_count = recordings_of('calib')
    held_chunks, held_starts, held_count = recordings_of('heldout')
    print(f'  speech: calib {calib_count} recordings, {len(calib_chunks)} chunks; heldout {held_count} recordings, {len(held_chunks)} chunks')
    if len(held_chunks) < HELDOUT_COUNT:
        raise SystemExit(f'held-out speech has {len(held_chunks)} chunks, {HELDOUT_COUNT} needed')
    chosen = np.sort(rng('speech-calib-chunks').choice(len(calib_chunks), CALIB_COUNT, replace=False))
    few = rng('speech-calib16').choice(CALIB_COUNT, CALIB16_COUNT, replace=False)
    for model in ('silero_v5', 'silero_op18'):
        calib_state, calib_prob = run_vad(model, calib_chunks, calib_starts)
        held_state, held_prob = run_vad(model, held_chunks, held_starts)
        calib = {'input': calib_chunks[chosen], 'state': calib_state[chosen], 'sr': np.full(CALIB_COUNT, RATE, np.int64)}
        heldout = {'input': held_chunks, 'state': held_state, 'sr': np.full(len(held_chunks), RATE, np.int64), 'start': held_starts}
        write_sets(model, calib, heldout, {k: v[few] for k, v in calib.items()})
        print(f'  {model}: speech (p ≥ 0.5) in {np.mean(calib_prob[chosen] >= 0.5):.0%} of calib chunks, {np.mean(held_prob >= 0.5):.0%} of held-out chunks')
