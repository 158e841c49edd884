import math

import numpy as np
import pytest
import torch

from ifnd.fnd import FNCounter, batch_fn_counts, cluster_quality


def test_cluster_quality_by_hand():
    pseudo = np.array([0, 0, 0, 1, 1, 1])
    true = np.array([0, 0, 1, 1, 1, 1])
    acc = np.array([True, True, False, True, True, False])
    q = cluster_quality(pseudo, acc, true)
    assert q["n_clusters"] == 2
    assert q["purity_all"] == pytest.approx(5 / 6)  # majorities 2 + 3
    assert q["purity_accepted"] == pytest.approx(1.0)  # [0,0 | 1,1] vs [0,0 | 1,1]
    assert q["accepted_fraction"] == pytest.approx(4 / 6)
    # perfect up to renaming: NMI = ARI = 1; independent partition: NMI = 0
    q = cluster_quality(np.array([7, 7, 3, 3]), np.ones(4, bool), np.array([0, 0, 1, 1]))
    assert q["nmi"] == pytest.approx(1.0) and q["ari"] == pytest.approx(1.0)
    assert q["n_clusters"] == 2 and q["purity_all"] == 1.0
    q = cluster_quality(np.array([0, 1, 0, 1]), np.zeros(4, bool), np.array([0, 0, 1, 1]))
    assert q["nmi"] == pytest.approx(0.0, abs=1e-12)
    assert q["purity_all"] == pytest.approx(0.5)
    assert math.isnan(q["purity_accepted"]) and q["accepted_fraction"] == 0.0


def test_batch_counts_and_counter_by_hand():
    # B = 3: images 0, 1 share class 0, image 2 is class 1. Rows: img 0,1,2,0,1,2.
    idx = torch.tensor([0, 1, 2, 0, 1, 2])
    true = torch.tensor([0, 0, 1])
    # true same-class negatives: rows {0,3} x {1,4} both ways = 8 ordered pairs
    fn = torch.zeros(6, 6, dtype=torch.bool)
    fn[0, 1] = fn[0, 2] = fn[3, 4] = True   # 3 detected, 2 correct
    fn[0, 3] = fn[2, 2] = True              # positive and self: not counted
    c = batch_fn_counts(fn, idx, true)
    assert all(isinstance(v, torch.Tensor) for v in c.values())
    assert {k: int(v) for k, v in c.items()} == {
        "anchors": 6, "detected": 3, "correct": 2, "true_negatives_same_class": 8}
    counter = FNCounter()
    assert math.isnan(counter.summary()["precision"])
    counter.update(fn, idx, true)
    s = counter.summary()
    assert s["fn_per_anchor"] == pytest.approx(3 / 6)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 8)
    assert s["true_fn_per_anchor"] == pytest.approx(8 / 6)
    # a batch before the first clustering: nothing detected
    counter.add(batch_fn_counts(None, idx, true))
    s = counter.summary()
    assert (s["anchors"], s["detected"], s["correct"], s["true_negatives_same_class"]) == \
        (12, 3, 2, 16)
    assert s["recall"] == pytest.approx(2 / 16) and s["fn_per_anchor"] == pytest.approx(3 / 12)
    counter.reset()
    assert counter.totals()["anchors"] == 0
