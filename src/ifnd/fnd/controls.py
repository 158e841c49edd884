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

  Two keys complete the attribution chain. ``fnd.control.targets`` (a path template with
  ``{experiment}`` and ``{seed}``) reads the target precision and recall from a run's
  fn_stats.csv, IFND's own end-of-training in-batch detection of the same seed, instead of typed
  numbers. The ``oracle_matched`` method accepts the degraded labels on IFND's warm-up and
  acceptance ramp, ranked by the same confidence and ranking (:class:`MatchedOracleDetector`):
  IFND's schedule *and* IFND's detection quality, with true labels underneath. Where relabelling
  cannot reach the recall at the target precision, the degraded labels are several levels (up
  to five) combined by union (:func:`degrade_levels`): the true classes, and copies of them with
  a fraction moved to wrong classes, which add wrong pairs on top of the right ones.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .detector import FalseNegativeDetector, OracleDetector
from .kmeans import l2_normalize
from .step import accept, label_centroids
from .stats import cluster_quality
from .study import combined_counts, pair_counts, true_pairs

__all__ = ["ScheduledOracleDetector", "NoisyOracleDetector", "MatchedOracleDetector",
           "degrade_labels", "degrade_levels", "read_confusion", "read_targets", "with_experiment",
           "CONTROL_DEFAULTS"]

CONTROL_DEFAULTS = {"precision": 0.47, "recall": 0.55, "errors": "random", "confusion": None,
                    "targets": None}


class ScheduledOracleDetector(FalseNegativeDetector):
    """The true labels on IFND's warm-up, acceptance ramp, confidence and ranking.

    ``self.degraded`` (L, N) holds the labels of each level (-1: a sample the level never
    labels); here the one level of the true classes, in :class:`MatchedOracleDetector` the
    degraded ones."""

    kind = "oracle_scheduled"

    def __init__(self, true_labels: np.ndarray, fnd_cfg: Mapping, run_seed: int = 0,
                 levels: np.ndarray | None = None) -> None:
        truth = np.asarray(true_labels, dtype=np.int64).reshape(-1)
        self.degraded = truth.reshape(1, -1) if levels is None else levels
        k = int(truth.max()) + 1 if truth.size else 1
        n_levels = self.degraded.shape[0]
        super().__init__({**fnd_cfg, "levels": [k] * n_levels, "kmeans_seeds": [0] * n_levels}, run_seed)

    def update(self, embeddings: np.ndarray, epoch: int,
               true_labels: np.ndarray | None = None) -> list[dict]:
        x = l2_normalize(np.ascontiguousarray(embeddings, dtype=np.float32))
        if x.shape[0] != self.degraded.shape[1]:
            raise ValueError(f"embeddings have {x.shape[0]} rows, the labels {self.degraded.shape[1]}")
        rate = self.rate_at(epoch)
        out = np.full(self.degraded.shape, -1, dtype=np.int64)
        stats = []
        for m, level in enumerate(self.degraded):
            k = self.levels[m]
            have = level >= 0
            # the scheduled share of the samples this level labels (a rejected one never enters)
            acc, conf = accept(x, level, label_centroids(x, level, k), rate, self.cfg)
            out[m, acc] = level[acc]
            st = {"level": m, "k": k, "seed": None, "epoch": int(epoch), "rate": rate,
                  "n_accepted": int(acc.sum()), "accepted_fraction": float(acc.mean()),
                  "mean_confidence": float(conf[have].mean()) if have.any() else float("nan")}
            if true_labels is not None:
                st.update(cluster_quality(np.where(have, level, 0), acc, true_labels))
            stats.append(st)
        self.pseudo_labels = torch.from_numpy(out)
        self._invalidate()
        self.rate, self.last_epoch = rate, int(epoch)
        return stats


def with_experiment(fnd_cfg: Mapping, experiment: str) -> Mapping:
    """``fnd_cfg`` with ``{experiment}`` in ``fnd.control.confusion`` replaced by the experiment's
    name (``workflow.experiment``), so that one config entry points each experiment at its own
    detection study: ``results/{experiment}/detect/main/simclr/s0/confusion.json``."""
    control = dict(fnd_cfg.get("control") or {})
    changed = False
    for key in ("confusion", "targets"):
        value = control.get(key)
        if isinstance(value, str) and "{experiment}" in value:
            control[key] = value.replace("{experiment}", experiment)
            changed = True
    return {**fnd_cfg, "control": control} if changed else fnd_cfg


def read_targets(path: str | Path) -> tuple[float, float]:
    """(precision, recall) of the last in-batch row of a run's fn_stats.csv: the detection
    quality a run reached at the end of training (IFND's, for the matched controls)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
        batch = frame[frame["level"].astype(str) == "batch"].sort_values("epoch")
        last = batch.iloc[-1]
        precision, recall = float(last["fn_precision"]), float(last["fn_recall"])
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise UserError(f"fnd.control.targets: cannot read the final in-batch precision and recall "
                        f"from {path} ({type(exc).__name__}); run that run's pretraining first") from None
    if not (0 < precision <= 1 and 0 < recall <= 1):
        raise UserError(f"fnd.control.targets: {path} ends with precision {precision} and recall "
                        f"{recall}; both must lie in (0, 1]")
    return precision, recall


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


def _bisect(f, target: float) -> float:
    """The point of [0, 1] where ``f`` (decreasing) crosses ``target``, to 30 halvings."""
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
    return (lo + hi) / 2


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

    e, q = 0.0, 0.0
    for _ in range(2):
        e = _bisect(lambda v: measure(v, q)[0], precision)
        q = _bisect(lambda v: measure(e, v)[1], recall) if measure(e, 0.0)[1] > recall else 0.0
    p_hat, r_hat = measure(e, q)
    return labels(e, q), {"precision": p_hat, "recall": r_hat, "error_fraction": e,
                          "rejected_fraction": q}


class NoisyOracleDetector(OracleDetector):
    """Fixed degraded true labels from the first epoch on (see :func:`degrade_labels`)."""

    kind = "oracle_noisy"

    def __init__(self, true_labels: np.ndarray, fnd_cfg: Mapping, run_seed: int = 0) -> None:
        truth = np.asarray(true_labels, dtype=np.int64).reshape(-1)
        control, precision, recall, confusion = control_targets(fnd_cfg, run_seed, int(truth.max()) + 1)
        labels, self.reached = degrade_labels(truth, precision, recall, run_seed, confusion)
        if self.reached["recall"] < recall - 0.01:
            print(f"note: oracle_noisy: recall {recall:g} is out of reach at precision "
                  f"{precision:g} with {control['errors']} errors; it trains at recall "
                  f"{self.reached['recall']:.3f} (meta.json: control_reached)", file=sys.stderr)
        super().__init__(labels, fnd_cfg, run_seed)
        self.levels = [int(truth.max()) + 1]


def degrade_levels(truth: np.ndarray, precision: float, recall: float, seed: int,
                   confusion: np.ndarray | None = None, max_levels: int = 5) -> tuple[np.ndarray, dict]:
    """(L, N) labels whose union reaches about the target pair ``precision`` and ``recall``.

    First :func:`degrade_labels` (one level: relabelled and rejected samples). Where its recall
    falls short of the target (relabelling to the target precision removes too many right
    pairs), several levels instead: level 0 the true classes with a fraction ``q`` rejected, and
    ``L - 1`` more levels, each the same with a fraction ``e`` of the kept samples moved to a
    wrong class of its own draw. Their union keeps every right pair of level 0 and adds the other
    levels' wrong pairs: ``e`` sets the precision, ``q`` the recall (bisection on both, twice
    over), and ``L`` grows until the precision is reachable (at most ``max_levels``).
    """
    labels, reached = degrade_labels(truth, precision, recall, seed, confusion)
    if reached["recall"] >= recall - 0.01:
        return labels.reshape(1, -1), {**reached, "levels": 1}
    truth = np.asarray(truth, dtype=np.int64).reshape(-1)
    num_classes = int(truth.max()) + 1
    total = true_pairs(truth)
    rng = np.random.default_rng([seed, 2])
    u_rej = rng.random(truth.shape[0])
    draws = [(rng.random(truth.shape[0]), _wrong_classes(truth, num_classes, rng, confusion))
             for _ in range(max_levels - 1)]

    for n_levels in range(2, max_levels + 1):
        def levels(e: float, q: float) -> np.ndarray:
            kept = np.where(u_rej < q, -1, truth)
            moved = [np.where((u < e) & (kept >= 0), wrong, kept) for u, wrong in draws[:n_levels - 1]]
            return np.stack([kept, *moved])

        def measure(e: float, q: float) -> tuple[float, float]:
            det, cor = combined_counts(levels(e, q), truth, "union")
            return (cor / det if det else 1.0), (cor / total if total else 0.0)

        e, q = 0.0, 0.0
        for _ in range(2):
            q = _bisect(lambda v: measure(e, v)[1], recall) if measure(e, 0.0)[1] > recall else 0.0
            e = _bisect(lambda v: measure(v, q)[0], precision) if measure(0.0, q)[0] > precision else 0.0
        p_hat, r_hat = measure(e, q)
        if p_hat <= precision + 0.01 or n_levels == max_levels:
            break
    return levels(e, q), {"precision": p_hat, "recall": r_hat, "error_fraction": e,
                          "rejected_fraction": q, "levels": n_levels}


def control_targets(fnd_cfg: Mapping, run_seed: int, num_classes: int):
    """(control settings over :data:`CONTROL_DEFAULTS`, target precision, target recall, the
    class confusion of structured errors or None). The targets are typed, or read from
    ``fnd.control.targets`` (``{seed}`` = the run seed); a bad setting is one UserError."""
    control = {**CONTROL_DEFAULTS, **(fnd_cfg.get("control") or {})}
    if control["targets"]:
        precision, recall = read_targets(str(control["targets"]).replace("{seed}", str(int(run_seed))))
    else:
        precision, recall = float(control["precision"]), float(control["recall"])
    if control["errors"] not in ("random", "structured"):
        raise UserError(f"fnd.control.errors must be random or structured, got {control['errors']!r}")
    confusion = None
    if control["errors"] == "structured":
        if not control["confusion"]:
            raise UserError("fnd.control.errors: structured needs fnd.control.confusion, the "
                            "confusion.json that `ifnd detect` writes for an encoder")
        confusion = read_confusion(control["confusion"], num_classes)
    return control, precision, recall, confusion


class MatchedOracleDetector(ScheduledOracleDetector):
    """True labels degraded to IFND's precision and recall (:func:`degrade_levels`), accepted on
    IFND's schedule: nothing during the warm-up, then the scheduled rate (over ``fnd.rate_max``:
    :meth:`rate_at`) of each level's samples,
    ranked by the same confidence (to the centroids of the degraded classes in the current
    embedding) and the same ranking as IFND."""

    kind = "oracle_matched"

    def __init__(self, true_labels: np.ndarray, fnd_cfg: Mapping, run_seed: int = 0) -> None:
        truth = np.asarray(true_labels, dtype=np.int64).reshape(-1)
        if fnd_cfg.get("combine", "union") != "union":
            raise UserError("the oracle_matched control needs fnd.combine: union (its levels are "
                            "built to reach the targets as a union)")
        _, precision, recall, confusion = control_targets(fnd_cfg, run_seed, int(truth.max()) + 1)
        degraded, self.reached = degrade_levels(truth, precision, recall, run_seed, confusion)
        self.reached = {**self.reached, "target_precision": precision, "target_recall": recall}
        super().__init__(truth, fnd_cfg, run_seed, levels=degraded)

    def rate_at(self, epoch: int) -> float:
        """IFND's scheduled rate divided by ``fnd.rate_max``: the same warm-up and ramp, ending
        with every degraded label accepted. The targets are IFND's accepted pseudo-labels at its
        final rate, so the degraded labels already hold that precision and recall; accepting
        only ``rate_max`` of them again would filter them twice (keeping the most confident, the
        right ones: a higher precision and a lower recall than IFND's)."""
        rate_max = float(self.cfg["rate_max"])
        return min(1.0, super().rate_at(epoch) / rate_max) if rate_max > 0 else 0.0
