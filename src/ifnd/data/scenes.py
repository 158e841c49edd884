"""Fashion-MNIST scenes: garments pasted onto natural-photograph backgrounds (a testbed).

On plain Fashion-MNIST the pixels already cluster nearly as well as any encoder a 2-core budget
trains (docs/method.md, Regime), so IFND's premise, an encoder far more semantic than its
input, cannot be tested there. Here pixel similarity stops predicting the class: each image is
one Fashion-MNIST garment, in a random light colour, at a random size and position, over a
random window of one of the two photographs that scikit-learn ships (``china.jpg``,
``flower.jpg``), darkened and given a random colour cast. The class is the garment's.

Everything is generated from the Fashion-MNIST files and the packaged photographs,
deterministically from ``data.scenes.seed`` (nothing is downloaded). Generating the 60,000
training scenes takes about 11 s on one core, so each (dial, split) is kept once as a ``.npy``
file under the cache folder (``$IFND_CACHE``, else ``~/.cache/ifnd``; ``IFND_CACHE=off`` turns it
off): the key hashes the dial, the split, the garments, the decoded photographs,
:data:`CACHE_VERSION` and the torch and torchvision versions, so a change to any of them
generates again. Training and
validation scenes use the left part of each photograph (``TRAIN_WIDTH`` of its width) and
Fashion-MNIST's training garments; test scenes the right part and the test garments, so no
background pixel is shared between training and test images.

The difficulty dial is ``data.scenes`` (see :data:`DEFAULTS`): ``garment_size`` (side in
pixels, drawn uniformly), ``window`` (side of the photograph window that is shrunk to the
image: larger is smoother), ``darken`` (background brightness factor), ``cast`` (the largest
per-channel colour cast of the background), ``colour`` (the lowest channel value of the
garment's colour: 1 is white, lower admits darker colours) and ``opacity``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .base import ArrayDataset
from .fashion_mnist import CLASS_NAMES, load_fashion_mnist

SIZE = 32
TRAIN_WIDTH = 0.6
PHOTOS = ("china.jpg", "flower.jpg")
CACHE_VERSION = 1  # raise whenever compose() draws or computes differently
DEFAULTS = {"garment_size": [24, 30], "window": [96, 160], "darken": 0.5, "cast": 0.2,
            "colour": 0.5, "opacity": 1.0, "seed": 0}


def scene_settings(data_cfg: dict) -> dict:
    """``data.scenes`` over :data:`DEFAULTS`, checked."""
    given = data_cfg.get("scenes") or {}
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise UserError(f"data.scenes: unknown key(s) {unknown}; known: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **given}
    lo, hi = (int(v) for v in s["garment_size"])
    if not 4 <= lo <= hi <= SIZE:
        raise UserError(f"data.scenes.garment_size must be [lo, hi] with 4 <= lo <= hi <= {SIZE}, "
                        f"got {s['garment_size']}")
    wlo, whi = (int(v) for v in s["window"])
    if not SIZE <= wlo <= whi:
        raise UserError(f"data.scenes.window must be [lo, hi] with {SIZE} <= lo <= hi, got {s['window']}")
    for key in ("darken", "cast", "colour", "opacity"):
        if not 0.0 <= float(s[key]) <= 1.0:
            raise UserError(f"data.scenes.{key} must lie in [0, 1], got {s[key]}")
    return s


def photographs() -> list[torch.Tensor]:
    """The packaged photographs as float (3, H, W) tensors in [0, 1]."""
    try:
        import sklearn.datasets
        from PIL import Image
    except ImportError as err:  # both are requirements; a broken venv says so
        raise UserError(f"the scenes dataset needs scikit-learn and Pillow ({err})") from None
    folder = Path(sklearn.datasets.__file__).parent / "images"
    out = []
    for name in PHOTOS:
        path = folder / name
        if not path.is_file():
            raise UserError(f"the scenes dataset needs scikit-learn's sample photograph {path}")
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(arr).permute(2, 0, 1).contiguous())
    return out


def _backgrounds(photos, n: int, source: str, s: dict, rng: np.random.Generator) -> torch.Tensor:
    """(n, 3, SIZE, SIZE) windows of the photographs' ``source`` part, shrunk, darkened and cast."""
    from torchvision.ops import roi_align

    which = rng.integers(0, len(photos), n)
    side = rng.integers(int(s["window"][0]), int(s["window"][1]) + 1, n).astype(np.float64)
    out = torch.empty(n, 3, SIZE, SIZE)
    for p, photo in enumerate(photos):
        rows = np.flatnonzero(which == p)
        if not len(rows):
            continue
        _, h, w = photo.shape
        cut = int(w * TRAIN_WIDTH)
        x_lo, x_hi = (0, cut) if source == "train" else (cut, w)
        size = np.minimum(side[rows], min(h, x_hi - x_lo))
        x0 = x_lo + rng.random(len(rows)) * (x_hi - x_lo - size)
        y0 = rng.random(len(rows)) * (h - size)
        boxes = torch.tensor(np.stack([np.zeros(len(rows)), x0, y0, x0 + size, y0 + size], 1),
                             dtype=torch.float32)
        out[torch.from_numpy(rows)] = roi_align(photo[None], boxes, SIZE, spatial_scale=1.0,
                                                sampling_ratio=2, aligned=True)
    cast = 1.0 + float(s["cast"]) * (2 * torch.from_numpy(rng.random((n, 3, 1, 1))).float() - 1)
    return (out * float(s["darken"]) * cast).clamp(0, 1)


def _place(garments: torch.Tensor, s: dict, rng: np.random.Generator) -> torch.Tensor:
    """(n, 1, SIZE, SIZE) garment masks in [0, 1]: each 28x28 garment scaled to a random side
    and moved to a random position inside the image."""
    n = garments.shape[0]
    side = rng.integers(int(s["garment_size"][0]), int(s["garment_size"][1]) + 1, n)
    # top-left corner in pixels, the whole garment inside the image
    x0 = rng.random(n) * (SIZE - side)
    y0 = rng.random(n) * (SIZE - side)
    scale = SIZE / side  # output normalised coordinates -> garment normalised coordinates
    cx = (x0 + side / 2) / SIZE * 2 - 1  # garment centre in output normalised coordinates
    cy = (y0 + side / 2) / SIZE * 2 - 1
    theta = np.zeros((n, 2, 3), dtype=np.float32)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = -cx * scale
    theta[:, 1, 2] = -cy * scale
    grid = F.affine_grid(torch.from_numpy(theta), [n, 1, SIZE, SIZE], align_corners=False)
    return F.grid_sample(garments, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def compose(garments: torch.Tensor, photos, source: str, s: dict, seed_key) -> torch.Tensor:
    """uint8 (n, 3, SIZE, SIZE) scenes of the uint8 (n, 1, 28, 28) garments (one random draw
    per image from the seed stream ``seed_key``)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed_key))
    n = garments.shape[0]
    out = torch.empty(n, 3, SIZE, SIZE, dtype=torch.uint8)
    chunk = 8192
    for start in range(0, n, chunk):
        g = garments[start:start + chunk].float() / 255.0
        m = g.shape[0]
        back = _backgrounds(photos, m, source, s, rng)
        mask = _place(g, s, rng).clamp(0, 1)
        lo = float(s["colour"])
        colour = torch.from_numpy(lo + (1 - lo) * rng.random((m, 3, 1, 1))).float()
        alpha = (mask * float(s["opacity"]) * 1.5).clamp(0, 1)  # the garment's body is opaque
        fore = colour * (0.4 + 0.6 * mask)  # keep the garment's own texture
        img = alpha * fore + (1 - alpha) * back
        out[start:start + m] = (img * 255).round().clamp(0, 255).to(torch.uint8)
    return out


def cache_folder() -> Path | None:
    """Where generated scenes are kept: ``$IFND_CACHE``, else ``~/.cache/ifnd``; None when off."""
    env = os.environ.get("IFND_CACHE", "")
    if env.lower() in ("off", "0", "none"):
        return None
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ifnd"


def cache_key(garments: torch.Tensor, photos: list[torch.Tensor], source: str, s: dict) -> str:
    """Everything the scenes are computed from: the dial, the split, the garments, the decoded
    photographs, the generator's version and the torch and torchvision versions."""
    import torchvision

    digest = hashlib.sha256(json.dumps({"settings": s, "source": source, "version": CACHE_VERSION,
                                        "torch": torch.__version__.split("+")[0],
                                        "torchvision": torchvision.__version__.split("+")[0]},
                                       sort_keys=True).encode())
    for array in [garments, *photos]:
        digest.update(array.numpy().tobytes())
    return digest.hexdigest()[:24]


def cached_compose(garments: torch.Tensor, source: str, s: dict) -> torch.Tensor:
    """:func:`compose` of one split, read from the cache when it holds it, else generated and
    written there (atomically: parallel jobs may race, none reads a half-written file). A cache
    that cannot be written, or a file of the wrong shape, only costs the generation."""
    folder, photos = cache_folder(), photographs()
    path = folder / "scenes" / f"{source}-{cache_key(garments, photos, source, s)}.npy" if folder else None
    shape = (garments.shape[0], 3, SIZE, SIZE)
    if path is not None and path.is_file():
        try:
            arr = np.load(path, allow_pickle=False)
            if arr.shape == shape and arr.dtype == np.uint8:
                return torch.from_numpy(arr)
        except (OSError, ValueError):
            pass
    images = compose(garments, photos, source, s, [int(s["seed"]), 0 if source == "train" else 1])
    if path is not None:
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(tmp, images.numpy(), allow_pickle=False)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
    return images


def load_scenes(data_cfg: dict, source: str) -> ArrayDataset:
    """The scenes of Fashion-MNIST's ``source`` ("train" or "test") garments, all of them
    (class selection and subsets are applied by the caller)."""
    s = scene_settings(data_cfg)
    base = load_fashion_mnist(data_cfg, source)
    images = cached_compose(base.images, source, s)
    return ArrayDataset(images=images, labels=base.labels, num_classes=10, name="fashion-scenes",
                        class_names=list(CLASS_NAMES))
