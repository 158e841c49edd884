"""One detection step, shared by IFND's detector and the attribution controls: score every
sample's confidence in its cluster and accept the scheduled share (docs/method.md, Clustering
step). The clusters come from k-means (:func:`cluster`) or, for the controls, from labels whose
centroids are the mean directions of their members (:func:`label_centroids`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .confidence import cluster_confidence
from .kmeans import l2_normalize, spherical_kmeans
from .select import accepted_mask

__all__ = ["cluster", "label_centroids", "accept"]


def cluster(x: np.ndarray, k: int, seed: int, cfg: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centroids) of spherical k-means with the config's effort (``fnd.kmeans_*``)."""
    return spherical_kmeans(x, k, niter=int(cfg["kmeans_niter"]), nredo=int(cfg["kmeans_nredo"]), seed=seed)


def label_centroids(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k, d) unit mean directions of the rows of ``x`` with each label (-1 rows left out)."""
    have = labels >= 0
    centroids = np.zeros((k, x.shape[1]), dtype=np.float32)
    np.add.at(centroids, labels[have], x[have])
    return l2_normalize(centroids + 1e-12)


def accept(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, rate: float,
           cfg: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """(accepted mask, confidence): ``fnd.confidence`` of every labelled sample (-1 = never
    accepted) and the scheduled ``rate`` of them accepted by ``fnd.ranking``."""
    have = labels >= 0
    safe = np.where(have, labels, 0)
    conf = cluster_confidence(x, centroids, safe, kind=cfg["confidence"])
    acc = np.zeros(labels.shape[0], dtype=bool)
    acc[have] = accepted_mask(conf[have], labels[have], rate, ranking=cfg["ranking"])
    return acc, conf
