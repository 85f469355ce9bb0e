"""Inputs for the nine faceplugin-face-recognition-js models, built the way the package's lib/fr_*.js
builds them: fr_detect finds the face in a camera frame, each other model gets its own crop of the
face box (fr_eye and fr_feature from the 68 points fr_landmark puts on the face).

Deliberate difference from the package: the package reads canvases as RGBA and then calls
cvtColor(BGR2RGB) / (BGR2GRAY), which swaps red and blue for fr_detect and fr_pose and weighs the
grey of fr_landmark / fr_eye with swapped coefficients. The models were trained on RGB and true
luminance (their PyTorch origins use cv2 BGR→RGB), so RGB and luminance are fed here."""
import numpy as np

from data_common import CALIB_COUNT, HELDOUT_COUNT, rng, run_each, take, write_sets
from data_images import FACE_PHOTOS, augment, chw, cv_resize, grey, load_named, photo_pool, random_crop, roi
from skimage import data as skdata
from skimage import transform

DETECT_W, DETECT_H = 320, 240
FRAMES_PER_PHOTO = {'calib': 95, 'heldout': 170}
NON_FACE_FRAMES = 70
LFW_AUGMENTATIONS = 2
REFERENCE_POINTS = np.array([[38.29459953, 51.69630051], [73.53179932, 51.50139999], [56.02519989, 71.73660278]])
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# --- fr_detect ------------------------------------------------------------------------------

def detect_input(frame):
    resized = cv_resize(frame, DETECT_H, DETECT_W).astype(np.float32)
    return chw((resized - 127) / 128)


def package_nms(boxes, scores, threshold=0.4):
    """The package's cpuNMS: boxes ordered by bottom edge, overlap measured against the other box's area."""
    found = [(b, s) for b, s in zip(boxes, scores) if b[2] - b[0] > 0 and b[3] - b[1] > 0]
    found.sort(key=lambda f: f[0][3])
    picked = []
    while found:
        last = found[0]
        picked.append(last)
        keep = []
        for box, score in found[1:]:
            w = max(0.0, min(box[2], last[0][2]) - max(box[0], last[0][0]) + 1)
            h = max(0.0, min(box[3], last[0][3]) - max(box[1], last[0][1]) + 1)
            if w * h / ((box[2] - box[0]) * (box[3] - box[1])) < threshold:
                keep.append((box, score))
        found = keep
    return picked


def detected_faces(scores, boxes, confidence=0.65, top_k=750):
    """Face boxes in model pixels (320×240) with scores, decoded as lib/fr_detect.js does."""
    s = scores[:, 1]
    chosen = np.nonzero(s >= confidence)[0]
    chosen = chosen[np.argsort(-s[chosen], kind='stable')][:top_k]
    return package_nms(boxes[chosen] * [DETECT_W, DETECT_H, DETECT_W, DETECT_H], s[chosen])


def square_box(box, frame):
    """The package's scaleResult: back to frame pixels, made square on the box height."""
    H, W = frame.shape[:2]
    x1, y1, x2, y2 = box[0] * W / DETECT_W, box[1] * H / DETECT_H, box[2] * W / DETECT_W, box[3] * H / DETECT_H
    size, cx, cy = y2 - y1, (x1 + x2) / 2, (y1 + y2) / 2
    return int(max(0, cx - size / 2)), int(max(0, cy - size / 2)), int(min(W - 1, cx + size / 2)), int(min(H - 1, cy + size / 2))


def best_face(frames):
    """The highest-scoring face box of each frame (None where none is found)."""
    out = run_each('fr_detect', np.stack([detect_input(f) for f in frames]))
    result = []
    for frame, scores, boxes in zip(frames, out['scores'], out['boxes']):
        faces = detected_faces(scores, boxes)
        result.append(square_box(max(faces, key=lambda f: f[1])[0], frame) if faces else None)
    return result


# --- camera frames with faces -----------------------------------------------------------------

def photo_frames(split):
    """Crops (4:3) of the split's face photographs around the face, flipped, rotated, colour-jittered."""
    r = rng(f'faces-{split}')
    photos = [load_named(n) for n in FACE_PHOTOS[split]]
    frames = []
    for photo, box in zip(photos, best_face(photos)):
        x1, y1, x2, y2 = box
        centre = ((x1 + x2) / 2, (y1 + y2) / 2, 0.7 * (x2 - x1))
        for _ in range(FRAMES_PER_PHOTO[split]):
            frames.append(augment(random_crop(photo, r, 0.45, aspect=4 / 3, must_contain=centre), r, rotate=10))
    return frames


def lfw_faces(split):
    """skimage's lfw_subset: 100 Labeled Faces in the Wild crops (25×25 grey), 50 per split, as 100×100 frames whose box is the whole frame."""
    r = rng(f'lfw-{split}')
    faces = np.load(skdata.__path__[0] + '/lfw_subset.npy')[:100]
    faces = faces[:50] if split == 'calib' else faces[50:]
    out = []
    for face in faces:
        for _ in range(LFW_AUGMENTATIONS):
            frame = cv_resize(np.stack([np.round(face * 255)] * 3, axis=-1).astype(np.uint8), 100, 100)
            out.append((augment(frame, r), (0, 0, 99, 99)))
    return out


def faces_of(split):
    """(frame, square face box) pairs: detected in the photo frames, given for the LFW crops."""
    frames = photo_frames(split)
    found = [(f, b) for f, b in zip(frames, best_face(frames)) if b is not None]
    print(f'  faces {split}: {len(found)} of {len(frames)} photo frames have a detected face, + {LFW_AUGMENTATIONS * 50} LFW crops')
    return frames, found + lfw_faces(split)


# --- per-model crops, as lib/fr_*.js --------------------------------------------------------

def widened(frame, box, scale, size):
    """alignLivenessImage / alignGenderImage / alignLandmarkImage: the box grown by `scale` about its centre, shifted inside the frame."""
    H, W = frame.shape[:2]
    x, y, bw, bh = box[0], box[1], abs(box[2] - box[0]), abs(box[3] - box[1])
    s = min((H - 1) / bh, (W - 1) / bw, scale)
    nw, nh, cx, cy = bw * s, bh * s, bw / 2 + x, bh / 2 + y
    l, t, r, b = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if l < 0:
        r, l = r - l, 0
    if t < 0:
        b, t = b - t, 0
    if r > W - 1:
        l, r = l - (r - W + 1), W - 1
    if b > H - 1:
        t, b = t - (b - H + 1), H - 1
    crop = roi(frame, max(int(l), 0), max(int(t), 0), min(int(r - l), W - 1), min(int(b - t), H - 1))
    return None if crop is None else cv_resize(crop, size, size)


def imagenet(image):
    return chw((image.astype(np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD)


def liveness_input(frame, box):
    crop = widened(frame, box, 2.7, 128)
    return None if crop is None else chw(crop.astype(np.float32))


def expression_input(frame, box):
    H, W = frame.shape[:2]
    w, h = abs(box[2] - box[0]), abs(box[3] - box[1])
    crop = roi(frame, box[0], box[1], min(int(w * 1.2), W - 1), min(int(h * 1.2), H - 1))
    return None if crop is None else chw(cv_resize(crop, 224, 224).astype(np.float32) / 255)


def pose_input(frame, box):
    H, W = frame.shape[:2]
    w, h = abs(box[2] - box[0]), abs(box[3] - box[1])
    x1, y1, x2, y2 = int(box[0] - w / 4), int(box[1] - h / 4), int(box[2] + w / 4), int(box[3] + h / 4)
    crop = roi(frame, max(x1, 0), max(y1, 0), min(x2 - x1, W), min(y2 - y1, H))
    return None if crop is None else imagenet(cv_resize(crop, 224, 224))


def age_gender_input(frame, box):
    crop = widened(frame, box, 1.4, 64)
    return None if crop is None else imagenet(crop)


def landmark_input(frame, box):
    crop = widened(frame, box, 1.0, 64)
    return None if crop is None else (grey(crop).astype(np.float32) / 256)[None]


def landmarks_in_frame(output, box):
    """fr_landmark's 136 values (0..1 of the box) as integer frame pixels, as predictLandmarkImage does."""
    w, h = abs(box[2] - box[0]), abs(box[3] - box[1])
    points = output.astype(np.float64).copy()
    points[0::2] = np.trunc(points[0::2] * w + box[0])
    points[1::2] = np.trunc(points[1::2] * h + box[1])
    return points


def eye_inputs(frame, lm):
    """getEyeBBox + alignEyeImage: a square around each eye, 1.6 × its corner-to-corner width."""
    H, W = frame.shape[:2]
    out = []
    for centre_x, centre_y, corners in (((74, 76, 80, 82), (75, 77, 81, 83), (72, 78)), ((86, 88, 92, 94), (87, 89, 93, 95), (84, 90))):
        cx = int(sum(lm[i] for i in centre_x) / 4)
        cy = int(sum(lm[i] for i in centre_y) / 4)
        size = int((lm[corners[1]] - lm[corners[0]]) * 1.6)
        x, y = max(0, int(cx - size / 2)), max(0, int(cy - size / 2))
        if x + size >= W:
            size = W - x - 1
        if y + size >= H:
            size = H - y - 1
        crop = roi(frame, x, y, size, size) if size > 1 else None
        if crop is not None:
            out.append((grey(cv_resize(crop, 24, 24)).astype(np.float32) / 255)[None])
    return out


def feature_input(frame, lm):
    """convert68pts5pts + warpAndCropFace: the affine map taking both eye centres and the nose tip to the reference points."""
    left = [(lm[74] + lm[76] + lm[80] + lm[82]) / 4, (lm[75] + lm[77] + lm[81] + lm[83]) / 4]
    right = [(lm[86] + lm[88] + lm[92] + lm[94]) / 4, (lm[87] + lm[89] + lm[93] + lm[95]) / 4]
    nose = [lm[60], lm[61]]
    tform = transform.AffineTransform()
    if not tform.estimate(np.array([left, right, nose]), REFERENCE_POINTS):
        return None
    warped = transform.warp(frame.astype(np.float64), tform.inverse, output_shape=(112, 112), order=1, mode='constant', cval=0, preserve_range=True)
    return chw((np.clip(np.round(warped), 0, 255).astype(np.float32) - 127) / 128)


def split_inputs(split):
    """Every face model's inputs for one split (lists, in a fixed shuffled order)."""
    frames, faces = faces_of(split)
    order = rng(f'order-{split}').permutation(len(faces))
    faces = [faces[i] for i in order]
    inputs = {k: [] for k in ('fr_liveness', 'fr_expression', 'fr_pose', 'fr_gender', 'fr_age', 'fr_landmark', 'fr_eye', 'fr_feature')}
    crops = {'fr_liveness': liveness_input, 'fr_expression': expression_input, 'fr_pose': pose_input, 'fr_gender': age_gender_input, 'fr_age': age_gender_input}
    for frame, box in faces:
        for model, crop in crops.items():
            x = crop(frame, box)
            if x is not None:
                inputs[model].append(x)
    located = [(frame, box, landmark_input(frame, box)) for frame, box in faces]
    located = [item for item in located if item[2] is not None]
    outputs = run_each('fr_landmark', np.stack([x for _, _, x in located]))['output']
    for (frame, box, x), out in zip(located, outputs):
        inputs['fr_landmark'].append(x)
        lm = landmarks_in_frame(out, box)
        inputs['fr_eye'].extend(eye_inputs(frame, lm))
        aligned = feature_input(frame, lm)
        if aligned is not None:
            inputs['fr_feature'].append(aligned)
    non_face = detection_frames_without_faces(split)
    detect = [detect_input(f) for f in frames] + [detect_input(f) for f in non_face]
    inputs['fr_detect'] = [detect[i] for i in rng(f'detect-{split}').permutation(len(detect))]
    return inputs


def detection_frames_without_faces(split):
    """4:3 crops of the split's other photographs (no faces): what a detector sees most of the time."""
    r = rng(f'nonface-{split}')
    pool = photo_pool(split)
    return [augment(random_crop(pool[i % len(pool)][1], r, 0.4, aspect=4 / 3), r) for i in range(NON_FACE_FRAMES)]


def build():
    per_split = {split: split_inputs(split) for split in ('calib', 'heldout')}
    for model in per_split['calib']:
        calib = np.stack(take(per_split['calib'][model], CALIB_COUNT, f'{model} calib')).astype(np.float32)
        heldout = np.stack(take(per_split['heldout'][model], HELDOUT_COUNT, f'{model} heldout')).astype(np.float32)
        write_sets(model, {'input': calib}, {'input': heldout})
