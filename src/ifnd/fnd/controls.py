"""Attribution controls: oracles that separate what IFND loses to its schedule from what it
loses to imperfect detection (docs/method.md: Attribution controls). Both read the training
labels, so neither is self-supervised; they exist to explain the gap between IFND and the
oracle.

* :class:`ScheduledOracleDetector` (``oracle_scheduled``): the true classes as the one level's
  clusters, on IFND's schedule: nothing during ``fnd.warmup_epochs``, then the scheduled
  acceptance rate, ranked by the same confidence (cosine or margin to the class centroids of the
  current embeddings) and the same ranking. What a perfect clustering gives on IFND's schedule.
* :class:`NoisyOracleDetector` (``oracle_noisy``): the true classes degraded to a chosen pair
  precision and recall (``fnd.control.precision`` / ``recall``) from the first epoch on, as the
  oracle: a fraction of samples is moved to a wrong class (wrong pairs) and a fraction rejected
  (right pairs dropped). ``fnd.control.errors``: ``random`` (the wrong class drawn uniformly) or
  ``structured`` (drawn from a class confusion measured on an encoder's clusters,
  ``fnd.control.confusion``: the confusion.json of ``ifnd detect``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .confidence import cluster_confidence
from .detector import FalseNegativeDetector, OracleDetector
from .kmeans import l2_normalize
from .select import accepted_mask
from .stats import cluster_quality
from .study import pair_counts, true_pairs

__all__ = ["ScheduledOracleDetector", "NoisyOracleDetector", "degrade_labels", "read_confusion",
           "with_experiment",
           "CONTROL_DEFAULTS"]

CONTROL_DEFAULTS = {"precision": 0.47, "recall": 0.55, "errors": "random", "confusion": None}


class ScheduledOracleDetector(FalseNegativeDetector):
    """The true labels on IFND's warm-up, acceptance ramp, confidence and ranking."""

    kind = "oracle_scheduled"

    def __init__(self, true_labels: np.ndarray, fnd_cfg: Mapping, run_seed: int = 0) -> None:
        self.truth = np.asarray(true_labels, dtype=np.int64).reshape(-1)
        k = int(self.truth.max()) + 1 if self.truth.size else 1
        super().__init__({**fnd_cfg, "levels": [k], "kmeans_seeds": [0]}, run_seed)

    def update(self, embeddings: np.ndarray, epoch: int,
               true_labels: np.ndarray | None = None) -> list[dict]:
        x = l2_normalize(np.ascontiguousarray(embeddings, dtype=np.float32))
        if x.shape[0] != self.truth.shape[0]:
            raise ValueError(f"embeddings have {x.shape[0]} rows, the labels {self.truth.shape[0]}")
        k = self.levels[0]
        centroids = np.zeros((k, x.shape[1]), dtype=np.float32)
        np.add.at(centroids, self.truth, x)
        centroids = l2_normalize(centroids + 1e-12)
        rate = self.rate_at(epoch)
        conf = cluster_confidence(x, centroids, self.truth, kind=self.cfg["confidence"])
        acc = accepted_mask(conf, self.truth, rate, ranking=self.cfg["ranking"])
        out = np.full((1, x.shape[0]), -1, dtype=np.int64)
        out[0, acc] = self.truth[acc]
        st = {"level": 0, "k": k, "seed": None, "epoch": int(epoch), "rate": rate,
              "n_accepted": int(acc.sum()), "accepted_fraction": float(acc.mean()),
              "mean_confidence": float(conf.mean()) if conf.size else float("nan")}
        if true_labels is not None:
            st.update(cluster_quality(self.truth, acc, true_labels))
        self.pseudo_labels = torch.from_numpy(out)
        self._invalidate()
        self.rate, self.last_epoch = rate, int(epoch)
        return [st]


def with_experiment(fnd_cfg: Mapping, experiment: str) -> Mapping:
    """``fnd_cfg`` with ``{experiment}`` in ``fnd.control.confusion`` replaced by the experiment's
    name (``workflow.experiment``), so that one config entry points each experiment at its own
    detection study: ``results/{experiment}/detect/main/simclr/s0/confusion.json``."""
    control = fnd_cfg.get("control") or {}
    confusion = control.get("confusion")
    if not isinstance(confusion, str) or "{experiment}" not in confusion:
        return fnd_cfg
    return {**fnd_cfg, "control": {**control, "confusion": confusion.replace("{experiment}", experiment)}}


def read_confusion(path: str | Path, num_classes: int) -> np.ndarray:
    """The (C, C) class confusion of a confusion.json (``ifnd detect``), diagonal zeroed."""
    try:
        record = json.loads(Path(path).read_text())
        matrix = np.asarray(record["matrix"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"fnd.control.confusion: cannot read a confusion matrix from {path} "
                        f"({type(exc).__name__})") from None
    if matrix.shape != (num_classes, num_classes):
        raise UserError(f"fnd.control.confusion: {path} holds a {matrix.shape} matrix, the "
                        f"dataset has {num_classes} classes")
    np.fill_diagonal(matrix, 0.0)
    return matrix


def _wrong_classes(truth: np.ndarray, num_classes: int, rng: np.random.Generator,
                   confusion: np.ndarray | None) -> np.ndarray:
    """One wrong class per sample: uniform over the other classes, or by ``confusion[c]``."""
    n = truth.shape[0]
    if confusion is None:
        shift = rng.integers(1, num_classes, n)
        return (truth + shift) % num_classes
    out = np.empty(n, dtype=np.int64)
    u = rng.random(n)
    for c in range(num_classes):
        rows = np.flatnonzero(truth == c)
        weights = confusion[c].copy()
        weights[c] = 0.0
        if weights.sum() <= 0:  # never confused: fall back to uniform
            weights = np.ones(num_classes)
            weights[c] = 0.0
        cdf = np.cumsum(weights / weights.sum())
        out[rows] = np.minimum(np.searchsorted(cdf, u[rows], side="right"), num_classes - 1)
    return out


def degrade_labels(truth: np.ndarray, precision: float, recall: float, seed: int,
                   confusion: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """True labels degraded to about the target pair ``precision`` and ``recall``.

    Every sample draws ``u_err``, ``u_rej`` and a wrong class once; ``u_err < e`` moves it to
    its wrong class and ``u_rej < q`` rejects it (-1). ``e`` is found by bisection for the
    precision (rejection at random leaves precision unchanged in expectation), then ``q`` for
    the recall, twice over. Returns the labels and the reached precision and recall (a recall
    above what the precision allows is capped there).
    """
    truth = np.asarray(truth, dtype=np.int64).reshape(-1)
    num_classes = int(truth.max()) + 1
    rng = np.random.default_rng(seed)
    u_err, u_rej = rng.random(truth.shape[0]), rng.random(truth.shape[0])
    wrong = _wrong_classes(truth, num_classes, rng, confusion)
    total = true_pairs(truth)

    def labels(e: float, q: float) -> np.ndarray:
        y = np.where(u_err < e, wrong, truth)
        return np.where(u_rej < q, -1, y)

    def measure(e: float, q: float) -> tuple[float, float]:
        det, cor = pair_counts(labels(e, q), truth)
        return (cor / det if det else 1.0), (cor / total if total else 0.0)

    def bisect(f, target: float, lo: float = 0.0, hi: float = 1.0) -> float:
        for _ in range(30):  # f decreases from lo to hi
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
        return (lo + hi) / 2

    e, q = 0.0, 0.0
    for _ in range(2):
        e = bisect(lambda v: measure(v, q)[0], precision)
        q = bisect(lambda v: measure(e, v)[1], recall) if measure(e, 0.0)[1] > recall else 0.0
    p_hat, r_hat = measure(e, q)
    return labels(e, q), {"precision": p_hat, "recall": r_hat, "error_fraction": e,
                          "rejected_fraction": q}


class NoisyOracleDetector(OracleDetector):
    """Fixed degraded true labels from the first epoch on (see :func:`degrade_labels`)."""

    kind = "oracle_noisy"

    def __init__(self, true_labels: np.ndarray, fnd_cfg: Mapping, run_seed: int = 0) -> None:
        truth = np.asarray(true_labels, dtype=np.int64).reshape(-1)
        control = {**CONTROL_DEFAULTS, **(fnd_cfg.get("control") or {})}
        confusion = None
        if control["errors"] == "structured":
            if not control["confusion"]:
                raise UserError("fnd.control.errors: structured needs fnd.control.confusion, the "
                                "confusion.json that `ifnd detect` writes for an encoder")
            confusion = read_confusion(control["confusion"], int(truth.max()) + 1)
        elif control["errors"] != "random":
            raise UserError(f"fnd.control.errors must be random or structured, got {control['errors']!r}")
        labels, self.reached = degrade_labels(truth, float(control["precision"]),
                                              float(control["recall"]), run_seed, confusion)
        if self.reached["recall"] < float(control["recall"]) - 0.01:
            print(f"note: oracle_noisy: recall {control['recall']:g} is out of reach at precision "
                  f"{control['precision']:g} with {control['errors']} errors; it trains at recall "
                  f"{self.reached['recall']:.3f} (meta.json: control_reached)", file=sys.stderr)
        super().__init__(labels, fnd_cfg, run_seed)
        self.levels = [int(truth.max()) + 1]
