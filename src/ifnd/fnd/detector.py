"""Incremental false-negative detection (docs/method.md: Clustering step, False negatives of
anchor a). The detector only sees embeddings computed by the caller; it holds no model code.

Typical use in a training loop::

    det = build_detector(cfg["method"]["name"], cfg["fnd"], run_seed, train_labels)
    for epoch in range(epochs):
        if det is not None and det.is_cluster_epoch(epoch):
            stats = det.update(embed_all(model), epoch, true_labels=train_labels)
        for x, indexes in loader:
            masks = det.level_masks(indexes) if det is not None else None   # (L, 2B, 2B)/None
            loss = ifnd_loss(z, torch.cat([indexes, indexes]), tau, masks, removal, combine)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from .masks import false_negative_mask
from .schedule import acceptance_rate, is_cluster_epoch
from .stats import cluster_quality
from .step import accept, cluster

__all__ = ["FalseNegativeDetector", "OracleDetector"]


class _MaskMixin:
    """Shared: device cache of the pseudo-labels and the in-batch masks."""

    pseudo_labels: Tensor | None
    _device_labels: Tensor | None = None

    def _invalidate(self) -> None:
        self._device_labels = None

    def labels_on(self, device: torch.device | str) -> Tensor | None:
        """``pseudo_labels`` on ``device`` (copied once per clustering, then cached)."""
        if self.pseudo_labels is None:
            return None
        device = torch.device(device)
        cached = self._device_labels
        if cached is None or cached.device != device:
            cached = self.pseudo_labels.to(device, non_blocking=False)
            self._device_labels = cached
        return cached

    def level_masks(self, indexes: Tensor) -> Tensor | None:
        """(L, 2B, 2B) bool false-negative masks for the batch rows ``indexes`` (2B,), or None
        when there are no pseudo-labels yet."""
        labels = self.labels_on(indexes.device)
        if labels is None:
            return None
        return false_negative_mask(indexes, labels)


class FalseNegativeDetector(_MaskMixin):
    """IFND: hierarchical spherical k-means + confidence-ranked incremental acceptance.

    Built from the ``fnd:`` config section and the run seed. Level ``m`` uses
    ``fnd.levels[m]`` clusters and the k-means seed ``fnd.kmeans_seeds[m] + run_seed``.

    Attributes:
        pseudo_labels: None before the first clustering; then int64 (L, N) CPU tensor with the
            cluster id of accepted samples and -1 for rejected ones.
        rate: acceptance rate in force (the one of the last clustering; 0 before).
        last_epoch: epoch of the last clustering, or None.
    """

    kind = "ifnd"

    def __init__(self, fnd_cfg: Mapping, run_seed: int = 0) -> None:
        self.cfg = dict(fnd_cfg)
        self.levels = [int(k) for k in self.cfg["levels"]]
        seeds = [int(s) for s in self.cfg["kmeans_seeds"]]
        if not self.levels:
            raise UserError("fnd.levels must list at least one number of clusters")
        if len(seeds) != len(self.levels):
            raise UserError(f"fnd.kmeans_seeds needs one seed per level: {len(self.levels)} "
                            f"levels {self.levels} but {len(seeds)} seeds {seeds}")
        self.run_seed = int(run_seed)
        self.seeds = [s + self.run_seed for s in seeds]
        self.pseudo_labels: Tensor | None = None
        self.rate: float = 0.0
        self.last_epoch: int | None = None

    @property
    def num_levels(self) -> int:
        return len(self.levels)

    def is_cluster_epoch(self, epoch: int) -> bool:
        """Whether :meth:`update` is due at the start of 0-based ``epoch``."""
        return is_cluster_epoch(epoch, self.cfg)

    def rate_at(self, epoch: int) -> float:
        return acceptance_rate(epoch, self.cfg)

    def update(self, embeddings: np.ndarray, epoch: int,
               true_labels: np.ndarray | None = None) -> list[dict]:
        """Recompute the pseudo-labels from the embeddings of all N training samples.

        Args:
            embeddings: (N, d) float32 (normalised here), in dataset index order.
            epoch: the 0-based epoch about to start (sets the acceptance rate).
            true_labels: (N,) ground truth, used ONLY for the returned statistics.

        Returns one dict per level: ``level``, ``k``, ``seed``, ``epoch``, ``rate``,
        ``n_accepted``, ``accepted_fraction``, ``mean_confidence``, and with ``true_labels`` the
        keys of :func:`cluster_quality`.
        """
        x = np.ascontiguousarray(embeddings, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"embeddings must be (N, d), got shape {x.shape}")
        n = x.shape[0]
        if true_labels is not None:
            true_labels = np.asarray(true_labels).reshape(-1)
            if true_labels.shape[0] != n:
                raise ValueError(f"true_labels has {true_labels.shape[0]} entries, "
                                 f"embeddings {n}")
        rate = self.rate_at(epoch)
        out = np.full((self.num_levels, n), -1, dtype=np.int64)
        stats = []
        for m, (k, seed) in enumerate(zip(self.levels, self.seeds)):
            labels, centroids = cluster(x, k, seed, self.cfg)
            acc, conf = accept(x, labels, centroids, rate, self.cfg)
            out[m, acc] = labels[acc]
            st = {"level": m, "k": k, "seed": seed, "epoch": int(epoch), "rate": rate,
                  "n_accepted": int(acc.sum()), "accepted_fraction": float(acc.mean()),
                  "mean_confidence": float(conf.mean()) if n else float("nan")}
            if true_labels is not None:
                st.update(cluster_quality(labels, acc, true_labels))
            stats.append(st)
        self.pseudo_labels = torch.from_numpy(out)
        self._invalidate()
        self.rate = rate
        self.last_epoch = int(epoch)
        return stats

    def state_dict(self) -> dict:
        return {
            "kind": self.kind,
            "levels": list(self.levels),
            "seeds": list(self.seeds),
            "pseudo_labels": None if self.pseudo_labels is None else self.pseudo_labels.clone(),
            "rate": float(self.rate),
            "last_epoch": self.last_epoch,
        }

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("kind") != self.kind:
            raise UserError(f"checkpoint holds a {state.get('kind')!r} detector, "
                            f"this run uses {self.kind!r}")
        if list(state["levels"]) != self.levels:
            raise UserError(f"checkpoint detector levels {list(state['levels'])} differ from "
                            f"the config's {self.levels}")
        pl = state["pseudo_labels"]
        if pl is not None:
            pl = torch.as_tensor(pl).to("cpu", torch.int64).clone()
            if pl.dim() != 2 or pl.shape[0] != self.num_levels:
                raise UserError(f"checkpoint pseudo-labels have shape {tuple(pl.shape)}, "
                                f"expected ({self.num_levels}, N)")
        self.pseudo_labels = pl
        self.rate = float(state["rate"])
        self.last_epoch = state["last_epoch"]
        self._invalidate()


class OracleDetector(_MaskMixin):
    """Upper bound: the ground-truth labels as pseudo-labels, one level, all accepted, from the
    first epoch on. NOT self-supervised (it uses the training labels); for Figure 1 / Table 1's
    oracle row only. Same interface as :class:`FalseNegativeDetector`."""

    kind = "oracle"

    def __init__(self, true_labels: np.ndarray | Tensor, fnd_cfg: Mapping | None = None,
                 run_seed: int = 0) -> None:
        t = torch.as_tensor(np.asarray(true_labels), dtype=torch.int64).reshape(1, -1)
        self.pseudo_labels: Tensor | None = t.clone()
        self.rate = 1.0
        self.last_epoch: int | None = None
        self.levels = [int(torch.unique(t[t >= 0]).numel())]
        self.cfg = dict(fnd_cfg) if fnd_cfg is not None else {}
        self.run_seed = int(run_seed)

    num_levels = 1

    def is_cluster_epoch(self, epoch: int) -> bool:
        """Never: the oracle labels are fixed."""
        return False

    def rate_at(self, epoch: int) -> float:
        return 1.0

    def update(self, embeddings: np.ndarray | None, epoch: int,
               true_labels: np.ndarray | None = None) -> list[dict]:
        """Nothing to recompute; returns the level statistics in the same format."""
        assert self.pseudo_labels is not None
        y = self.pseudo_labels[0].numpy()
        acc = y >= 0
        st = {"level": 0, "k": self.levels[0], "seed": None, "epoch": int(epoch), "rate": 1.0,
              "n_accepted": int(acc.sum()), "accepted_fraction": float(acc.mean()),
              "mean_confidence": 1.0}
        if true_labels is not None:
            st.update(cluster_quality(y, acc, true_labels))
        return [st]

    def state_dict(self) -> dict:
        return {"kind": self.kind, "levels": list(self.levels),
                "pseudo_labels": self.pseudo_labels.clone(), "rate": 1.0,
                "last_epoch": self.last_epoch}

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("kind") != self.kind:
            raise UserError(f"checkpoint holds a {state.get('kind')!r} detector, "
                            f"this run uses {self.kind!r}")
        pl = torch.as_tensor(state["pseudo_labels"]).to("cpu", torch.int64).reshape(1, -1)
        if self.pseudo_labels is not None and not torch.equal(pl, self.pseudo_labels):
            raise UserError("checkpoint oracle labels differ from this dataset's labels")
        self.pseudo_labels = pl.clone()
        self.last_epoch = state.get("last_epoch")
        self._invalidate()
