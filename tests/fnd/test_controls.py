"""Attribution controls: the schedule-matched oracle follows IFND's warm-up, ramp and ranking
with true classes; the degraded oracle reaches its target pair precision and recall, with
random or confusion-shaped errors."""

import json

import numpy as np
import pytest

from ifnd.errors import UserError
from ifnd.fnd.controls import (MatchedOracleDetector, NoisyOracleDetector, ScheduledOracleDetector,
                               degrade_labels, degrade_levels, read_targets, with_experiment)
from ifnd.fnd.build import DETECTORS, build_detector
from ifnd.fnd.study import combined_counts, pair_counts, true_pairs
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


def test_the_registry_and_the_schema_name_the_same_methods():
    """Adding a method is one registry entry (vocabulary.METHODS) and, if it detects with a new
    kind, one class in DETECTORS: the config schema's method names must follow."""
    from importlib import resources

    import yaml

    schema = yaml.safe_load(resources.files("ifnd").joinpath("config.schema.yaml").read_text())
    props = schema["properties"]
    assert props["method"]["properties"]["name"]["enum"] == list(METHODS)
    assert props["workflow"]["properties"]["methods"]["items"]["enum"] == list(METHODS)
    assert {m.detector for m in METHODS.values()} - {None} == set(DETECTORS)


def test_every_method_builds_its_detector():
    truth, _ = _data()
    kinds = {name: type(build_detector(name, FND, 0, truth)).__name__ for name in METHODS}
    assert kinds == {"simclr": "NoneType", "ifnd": "FalseNegativeDetector",
                     "oracle": "OracleDetector", "oracle_scheduled": "ScheduledOracleDetector",
                     "oracle_noisy": "NoisyOracleDetector", "oracle_matched": "MatchedOracleDetector"}


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


def _fn_stats(path, precision, recall):
    """A fn_stats.csv whose last in-batch row holds ``precision`` and ``recall``."""
    path.write_text("epoch,level,fn_precision,fn_recall\n1,batch,0.9,0.9\n1,0,,\n"
                    f"2,batch,{precision},{recall}\n2,0,,\n")
    return path


def test_targets_are_read_from_the_run_of_the_same_seed(tmp_path):
    (tmp_path / "s3").mkdir()
    _fn_stats(tmp_path / "s3" / "fn_stats.csv", 0.5, 0.6)
    assert read_targets(tmp_path / "s3" / "fn_stats.csv") == (0.5, 0.6)
    cfg = {**FND, "control": {"targets": str(tmp_path / "s{seed}" / "fn_stats.csv"), "errors": "random"}}
    truth, _ = _data()
    det = MatchedOracleDetector(truth, cfg, run_seed=3)
    assert det.reached["target_precision"] == 0.5 and det.reached["target_recall"] == 0.6
    with pytest.raises(UserError, match="fn_stats.csv"):
        MatchedOracleDetector(truth, cfg, run_seed=4)          # no run of seed 4
    named = with_experiment({"control": {"targets": "results/{experiment}/x", "confusion": None}}, "e1")
    assert named["control"]["targets"] == "results/e1/x"


def test_two_levels_reach_a_recall_that_relabelling_cannot():
    """At precision 0.5 with 4 balanced classes, relabelling (one level) caps the recall near
    0.6; the union of a true level and relabelled ones keeps the right pairs and reaches 0.9
    (one relabelled level adds too few wrong pairs with 4 classes: precision stays near 0.6,
    so a second one is drawn)."""
    truth = np.repeat(np.arange(4), 250)
    one, reached_one = degrade_labels(truth, 0.5, 0.9, seed=0)
    assert reached_one["recall"] < 0.8
    levels, reached = degrade_levels(truth, 0.5, 0.9, seed=0)
    assert levels.shape == (3, 1000) and reached["levels"] == 3
    det, cor = combined_counts(levels, truth, "union")
    assert cor / det == pytest.approx(0.5, abs=0.01)
    assert cor / true_pairs(truth) == pytest.approx(0.9, abs=0.01)
    # reachable targets keep the one-level construction
    assert degrade_levels(truth, 0.7, 0.3, seed=0)[0].shape == (1, 1000)


def test_matched_oracle_accepts_on_ifnd_s_schedule_and_ends_at_the_targets(tmp_path):
    truth, x = _data(n_per=100)
    cfg = {**FND, "control": {"targets": str(_fn_stats(tmp_path / "f.csv", 0.5, 0.9)), "errors": "random"}}
    det = MatchedOracleDetector(truth, cfg, run_seed=0)
    assert not det.is_cluster_epoch(1) and det.is_cluster_epoch(2)
    det.update(x, 2)                        # first clustering: rate_start of each level's labels
    labels = det.pseudo_labels.numpy()
    have = det.degraded >= 0
    assert np.allclose((labels >= 0).sum(1), np.ceil(0.25 * have.sum(1)), atol=det.levels[0])
    assert np.all(labels[labels >= 0] == det.degraded[labels >= 0])   # accepted labels are the degraded ones
    det.update(x, 6)                        # end of the ramp: everything the levels label
    assert np.array_equal(det.pseudo_labels.numpy(), det.degraded)
    got_det, got_cor = combined_counts(det.pseudo_labels.numpy(), truth, "union")
    assert got_cor / got_det == pytest.approx(0.5, abs=0.02)
    assert got_cor / true_pairs(truth) == pytest.approx(0.9, abs=0.02)


def test_matched_oracle_under_a_rate_max_accepts_every_degraded_label_at_the_end(tmp_path):
    """IFND's targets are its accepted pseudo-labels at its final rate (``fnd.rate_max`` 0.5
    here), so the matched control's ramp is IFND's over rate_max: 0.25 / 0.5 of each level's
    labels at the first clustering, all of them from the ramp's end; the degraded labels are not
    filtered a second time (the scheduled oracle, on the true labels, keeps rate_max)."""
    truth, x = _data(n_per=100)
    fnd = {**FND, "rate_max": 0.5}
    cfg = {**fnd, "control": {"targets": str(_fn_stats(tmp_path / "f.csv", 0.5, 0.9)), "errors": "random"}}
    det = MatchedOracleDetector(truth, cfg, run_seed=0)
    assert [det.rate_at(e) for e in (1, 2, 4, 6, 9)] == [0.0, 0.5, 0.75, 1.0, 1.0]
    det.update(x, 6)
    assert np.array_equal(det.pseudo_labels.numpy(), det.degraded)
    got_det, got_cor = combined_counts(det.pseudo_labels.numpy(), truth, "union")
    assert got_cor / got_det == pytest.approx(0.5, abs=0.02)
    assert got_cor / true_pairs(truth) == pytest.approx(0.9, abs=0.02)
    scheduled = ScheduledOracleDetector(truth, fnd, run_seed=0)
    assert scheduled.rate_at(6) == 0.5
