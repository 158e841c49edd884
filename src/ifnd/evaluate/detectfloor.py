"""The detection floors: IFND's clustering and acceptance on inputs no training has touched.

    ifnd detect-floor --config FILE... --out F.json [--rates 0.1 0.25 ...]

Runs the detector's own setting (``fnd.levels``, ``fnd.kmeans_*``, ``fnd.confidence``,
``fnd.ranking``, ``fnd.combine``, seeds offset by ``train.seed`` as in a run) on the training
split embedded three ways, and scores the detected false negatives against the true labels with
the detection study's pair precision and recall (:mod:`ifnd.fnd.study`):

- ``pixels``: the standardised model inputs (un-augmented, at ``data.image_size``), flattened;
- ``random_init_projection`` and ``random_init_backbone``: the pretraining architecture at the
  seeded random initialisation that the ``--random-init`` evaluations use.

An encoder's detection is worth something only above these floors (docs/method.md, Floors). The
random-init rows use the same embedding path as a run (``fnd.embed_batch_size``, the resolved
precision and memory format).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..augment import normalize
from ..data import load_dataset
from ..detect import DEFAULT_RATES, run_setting
from ..errors import UserError
from ..features import embed_both
from ..fnd.study import DetectionStudy
from ..hardware import resolve_execution
from ..models import build_model
from ..runinfo import resolve_device, set_threads
from ..cliargs import add_config_arguments, config_from_args
from .common import write_metrics
from .rawpixels import pixel_features

SPACES = ("pixels", "random_init_projection", "random_init_backbone")


def floor_embeddings(cfg: dict, train, device) -> dict[str, np.ndarray]:
    """The three floor spaces of :data:`SPACES` for the training images ``train``."""
    pixels = normalize(pixel_features(train, cfg["data"]["image_size"])).flatten(1)
    torch.manual_seed(int(cfg["train"]["seed"]))
    model = build_model(cfg, train.channels)
    ex = resolve_execution(cfg["train"], device)
    model = ex.prepare(model.to(device))
    feats, projs = embed_both(model, train, cfg["data"]["image_size"], device,
                              batch_size=cfg["fnd"]["embed_batch_size"], precision=ex.precision,
                              channels_last=ex.channels_last)
    return {"pixels": pixels.numpy(), "random_init_projection": projs.float().cpu().numpy(),
            "random_init_backbone": feats.float().cpu().numpy()}


def floor_rows(embeddings: dict[str, np.ndarray], truth: np.ndarray, fnd: dict, seed: int,
               rates) -> list[dict]:
    """One row per (space, rate): the run's detection setting scored on that space."""
    study = DetectionStudy(embeddings, truth)
    base = run_setting(fnd, seed)
    combine = base.pop("combine")
    base.pop("features")
    rows = []
    for space in embeddings:
        for rate in rates:
            score = study.score(combine, **base, features=space, rate=float(rate))
            rows.append({"space": space, "rate": float(rate), **score})
    return rows


def add_arguments(parser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--out", required=True, help="metrics file to write (JSON)")
    parser.add_argument("--rates", type=float, nargs="+", default=list(DEFAULT_RATES),
                        help=f"acceptance rates scored (default {' '.join(map(str, DEFAULT_RATES))})")
    parser.add_argument("--device", default=None, help="override train.device (auto|cpu|cuda)")


def run(args) -> int:
    started = time.time()
    bad = [r for r in args.rates if not 0.0 < r <= 1.0]
    if bad:
        raise UserError(f"--rates must lie in (0, 1], got {bad}")
    cfg = config_from_args(args)
    device = resolve_device(args.device or cfg["train"]["device"])
    set_threads(cfg["train"]["threads"])
    train = load_dataset(cfg["data"], "train")
    rows = floor_rows(floor_embeddings(cfg, train, device), train.labels.numpy(), cfg["fnd"],
                      int(cfg["train"]["seed"]), args.rates)
    write_metrics(args.out, "detect_floor", {"rows": rows}, cfg=cfg, started=started)
    at_one = {r["space"]: r for r in rows if r["rate"] == max(args.rates)}
    summary = ", ".join(f"{space} {100 * r['precision']:.1f}% / {100 * r['recall']:.1f}%"
                        for space, r in at_one.items())
    print(f"detection floors at rate {max(args.rates):g} (pair precision / recall): {summary} -> {args.out}")
    return 0
