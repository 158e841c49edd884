"""A procedural, deterministic image dataset for tests and smoke runs.

Every class has its own pattern: a base colour, oriented sinusoidal stripes (orientation and
frequency chosen so that a horizontal flip does not turn one class into another) and a
per-image random phase, brightness and pixel noise. A small network separates the classes
after a few epochs; generating 2000 32x32 images takes a few tens of milliseconds.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import UserError
from .base import ArrayDataset

NUM_CLASSES = 10
MAX_CLASS_ID = 999
DEFAULT_SIZE = {"train": 2000, "val": 500, "test": 500}


def class_pattern(c: int) -> tuple[np.ndarray, float, float]:
    """(RGB colour in [0, 1], stripe angle in [0, pi/2], stripe cycles per image) of class c."""
    angle = (c % 5) * (math.pi / 2) / 4  # 0, 22.5, 45, 67.5, 90 degrees: distinct under flips
    cycles = (2.0, 4.5)[(c // 5) % 2]
    rng = np.random.default_rng([c, 12345])
    hue = (c * 0.618034) % 1.0
    colour = np.array([0.5 + 0.4 * math.cos(2 * math.pi * (hue + k / 3)) for k in range(3)])
    colour = np.clip(colour + rng.uniform(-0.05, 0.05, 3), 0.05, 0.95)
    return colour, angle, cycles


def make_synthetic(data_cfg: dict, split: str) -> ArrayDataset:
    classes = data_cfg.get("classes")
    ids = list(range(NUM_CLASSES)) if classes is None else [int(c) for c in classes]
    bad = [c for c in ids if not 0 <= c <= MAX_CLASS_ID]
    if bad:
        raise UserError(f"data.classes: class id(s) {bad} do not exist in the synthetic dataset "
                        f"(ids 0..{MAX_CLASS_ID})")
    k = len(ids)
    # generated, so the validation split is its own draw (stream 2) rather than carved out
    n = data_cfg.get(f"{split}_subset") or DEFAULT_SIZE[split]
    size = int(data_cfg.get("image_size") or 32)
    stream = {"train": 0, "test": 1, "val": 2}[split]
    rng = np.random.default_rng([int(data_cfg.get("subset_seed") or 0), stream, 7])

    labels = np.arange(n) % k  # as class-balanced as possible
    rng.shuffle(labels)
    patterns = [class_pattern(c) for c in ids]
    colour = np.stack([p[0] for p in patterns]).astype(np.float32)[labels]  # (n, 3)
    angle = np.array([p[1] for p in patterns])[labels] + rng.normal(0, 0.05, n)
    cycles = np.array([p[2] for p in patterns])[labels] * rng.uniform(0.9, 1.1, n)
    phase = rng.uniform(0, 2 * math.pi, n)
    angle, cycles, phase = (a.astype(np.float32) for a in (angle, cycles, phase))
    gain = rng.uniform(0.8, 1.2, n).astype(np.float32)

    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    chunk = max(1, (1 << 22) // (size * size))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        proj = (np.cos(angle[s:e])[:, None, None] * xx + np.sin(angle[s:e])[:, None, None] * yy)
        wave = np.sin(np.float32(2 * math.pi) * cycles[s:e, None, None] * proj + phase[s:e, None, None])
        shade = (0.55 + 0.45 * wave)[:, None] * gain[s:e, None, None, None]  # (b, 1, S, S)
        img = colour[s:e, :, None, None] * shade
        img = img + 0.06 * rng.standard_normal(img.shape, dtype=np.float32)
        images[s:e] = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return ArrayDataset(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels.astype(np.int64)),
        num_classes=k,
        name="synthetic",
        class_names=[f"pattern-{c}" for c in ids],
    )
