"""False-negative detection: clustering, confidence, schedule, selection, statistics."""

from .confidence import CONFIDENCE_KINDS, cluster_confidence
from .build import build_detector
from .detector import FalseNegativeDetector, OracleDetector
from .kmeans import ClusteringError, l2_normalize, spherical_kmeans
from .masks import false_negative_mask
from .schedule import SCHEDULES, acceptance_rate, is_cluster_epoch
from .select import RANKINGS, accepted_mask
from .stats import COUNT_KEYS, FNCounter, batch_fn_counts, cluster_quality

__all__ = [
    "CONFIDENCE_KINDS",
    "COUNT_KEYS",
    "RANKINGS",
    "SCHEDULES",
    "ClusteringError",
    "FNCounter",
    "cluster_quality",
    "FalseNegativeDetector",
    "OracleDetector",
    "acceptance_rate",
    "accepted_mask",
    "batch_fn_counts",
    "build_detector",
    "cluster_confidence",
    "false_negative_mask",
    "is_cluster_epoch",
    "l2_normalize",
    "spherical_kmeans",
]
