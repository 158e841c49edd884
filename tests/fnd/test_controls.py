"""Attribution controls: the schedule-matched oracle follows IFND's warm-up, ramp and ranking
with true classes; the degraded oracle reaches its target pair precision and recall, with
random or confusion-shaped errors."""

import json

import numpy as np
import pytest

from ifnd.errors import UserError
from ifnd.fnd.controls import NoisyOracleDetector, ScheduledOracleDetector, degrade_labels
from ifnd.fnd.detector import build_detector
from ifnd.fnd.study import pair_counts, true_pairs
from ifnd.vocabulary import METHODS

FND = {"levels": [4, 8], "kmeans_niter": 5, "kmeans_nredo": 1, "kmeans_seeds": [0, 1],
       "warmup_epochs": 2, "cluster_every": 1, "features": "projection", "confidence": "cosine",
       "schedule": "linear", "rate_start": 0.25, "rate_max": 1.0, "ramp_end_epoch": 6,
       "ranking": "per_cluster", "combine": "union", "embed_batch_size": 64}


def _data(n_per=50, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(classes), n_per)
    x = np.eye(16)[truth] * 3 + rng.normal(0, 1.0, (len(truth), 16))
    return truth, x.astype(np.float32)


def test_every_method_builds_its_detector():
    truth, _ = _data()
    kinds = {name: type(build_detector(name, FND, 0, truth)).__name__ for name in METHODS}
    assert kinds == {"simclr": "NoneType", "ifnd": "FalseNegativeDetector",
                     "oracle": "OracleDetector", "oracle_scheduled": "ScheduledOracleDetector",
                     "oracle_noisy": "NoisyOracleDetector"}


def test_scheduled_oracle_follows_the_schedule_with_true_classes():
    truth, x = _data()
    det = ScheduledOracleDetector(truth, FND, run_seed=0)
    assert not det.is_cluster_epoch(1) and det.is_cluster_epoch(2)
    det.update(x, epoch=2)  # rate_start 0.25: the 13 most confident of each 50 (ceil)
    labels = det.pseudo_labels[0].numpy()
    acc = labels >= 0
    assert np.bincount(truth[acc]).tolist() == [13, 13, 13, 13]
    assert np.array_equal(labels[acc], truth[acc])  # accepted labels are the true classes
    # the accepted ones are the closest to their class centroid
    for c in range(4):
        members = np.flatnonzero(truth == c)
        centre = x[members] / np.linalg.norm(x[members], axis=1, keepdims=True)
        mu = centre.sum(0) / np.linalg.norm(centre.sum(0))
        order = members[np.argsort(-(centre @ mu), kind="stable")]
        assert set(order[:13]) == set(np.flatnonzero(acc & (truth == c)))
    det.update(x, epoch=6)  # end of the ramp: everything accepted
    assert np.array_equal(det.pseudo_labels[0].numpy(), truth)


@pytest.mark.parametrize("precision,recall", [(0.8, 0.3), (0.6, 0.5), (0.9, 0.8)])
def test_degraded_labels_reach_the_target(precision, recall):
    truth = np.repeat(np.arange(10), 300)
    labels, reached = degrade_labels(truth, precision, recall, seed=1)
    det, cor = pair_counts(labels, truth)
    assert reached["precision"] == pytest.approx(cor / det)
    assert reached["recall"] == pytest.approx(cor / true_pairs(truth))
    assert abs(reached["precision"] - precision) < 0.01 and abs(reached["recall"] - recall) < 0.01


def test_unreachable_recall_is_capped_at_the_precision_s_frontier():
    """Random errors at precision 0.47 over 10 classes leave a recall of about 0.47 at most
    (moving a fraction e of samples keeps about (1 - e)^2 of the right pairs): the target
    precision is met and the recall capped there, with nothing rejected."""
    truth = np.repeat(np.arange(10), 300)
    _, reached = degrade_labels(truth, 0.47, 0.55, seed=1)
    assert abs(reached["precision"] - 0.47) < 0.01
    assert reached["rejected_fraction"] == 0.0 and 0.4 < reached["recall"] < 0.55


def test_structured_errors_follow_the_confusion(tmp_path):
    truth = np.repeat(np.arange(4), 400)
    matrix = np.zeros((4, 4))
    matrix[0, 1] = matrix[1, 0] = 1.0  # 0 and 1 are confused with each other only
    matrix[2, 3] = matrix[3, 2] = 1.0
    path = tmp_path / "confusion.json"
    path.write_text(json.dumps({"matrix": matrix.tolist()}))
    fnd = {**FND, "control": {"precision": 0.6, "recall": 0.5, "errors": "structured",
                              "confusion": str(path)}}
    det = NoisyOracleDetector(truth, fnd, run_seed=0)
    labels = det.pseudo_labels[0].numpy()
    moved = (labels >= 0) & (labels != truth)
    assert moved.any()
    pairs = set(zip(truth[moved].tolist(), labels[moved].tolist()))
    assert pairs <= {(0, 1), (1, 0), (2, 3), (3, 2)}
    assert abs(det.reached["precision"] - 0.6) < 0.01
    with pytest.raises(UserError, match="fnd.control.confusion"):
        NoisyOracleDetector(truth, {**FND, "control": {"errors": "structured"}})
    path.write_text(json.dumps({"matrix": [[0, 1], [1, 0]]}))
    with pytest.raises(UserError, match=r"\(2, 2\) matrix.*4 classes"):
        NoisyOracleDetector(truth, fnd)
