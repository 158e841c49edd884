import numpy as np
import pytest

from ifnd.fnd import acceptance_rate, accepted_mask, is_cluster_epoch


def cfg(**kw):
    c = {"warmup_epochs": 2, "cluster_every": 1, "schedule": "linear", "rate_start": 0.0,
         "rate_max": 1.0, "ramp_end_epoch": 10}
    c.update(kw)
    return c


def test_linear():
    c = cfg()
    assert [acceptance_rate(e, c) for e in (0, 1, 2, 6, 10, 30)] == [0, 0, 0, 0.5, 1.0, 1.0]
    assert acceptance_rate(3, c) == pytest.approx(1 / 8)
    c = cfg(rate_start=0.2, rate_max=0.8)
    assert acceptance_rate(1, c) == 0.0
    assert acceptance_rate(2, c) == pytest.approx(0.2)
    assert acceptance_rate(4, c) == pytest.approx(0.2 + 0.6 * 2 / 8)
    assert acceptance_rate(12, c) == pytest.approx(0.8)
    # ramp end at or before the warm-up: rate_max at once
    assert acceptance_rate(2, cfg(ramp_end_epoch=2)) == 1.0
    assert acceptance_rate(1, cfg(ramp_end_epoch=2)) == 0.0


def test_step():
    c = cfg(schedule="step", rate_max=0.8, rate_start=0.5)  # rate_start unused
    got = [acceptance_rate(e, c) for e in range(12)]
    want = [0, 0, 0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 0.8, 0.8, 0.8, 0.8]
    assert got == pytest.approx(want)
    c = cfg(schedule="step", warmup_epochs=0, ramp_end_epoch=6)  # quarters of 1.5 epochs
    assert [acceptance_rate(e, c) for e in range(7)] == [0.25, 0.25, 0.5, 0.75, 0.75, 1.0, 1.0]


def test_all_and_unknown():
    c = cfg(schedule="all", rate_max=0.7)
    assert [acceptance_rate(e, c) for e in (0, 1, 2, 5)] == [0, 0, 0.7, 0.7]
    with pytest.raises(ValueError):
        acceptance_rate(3, cfg(schedule="cosine"))


def test_is_cluster_epoch():
    c = cfg(cluster_every=3)
    assert [e for e in range(10) if is_cluster_epoch(e, c)] == [2, 5, 8]
    assert [e for e in range(5) if is_cluster_epoch(e, cfg(warmup_epochs=0))] == [0, 1, 2, 3, 4]


CONF = np.array([0.9, 0.5, 0.7, 0.2, 0.8, 0.1])
LAB = np.array([0, 0, 0, 1, 1, 2])


def test_accepted_per_cluster():
    # rate 0.5: cluster 0 (3) keeps ceil(1.5)=2, cluster 1 (2) keeps 1, cluster 2 (1) keeps 1
    got = accepted_mask(CONF, LAB, 0.5, "per_cluster")
    assert got.tolist() == [True, False, True, False, True, True]
    got = accepted_mask(CONF, LAB, 0.2, "per_cluster")  # ceil(0.6)=1, ceil(0.4)=1, ceil(0.2)=1
    assert got.tolist() == [True, False, False, False, True, True]
    assert not accepted_mask(CONF, LAB, 0.0).any()
    assert accepted_mask(CONF, LAB, 1.0).all()


def test_accepted_global():
    # rate 0.5 of N=6 -> the 3 most confident: 0.9, 0.8, 0.7
    got = accepted_mask(CONF, LAB, 0.5, "global")
    assert got.tolist() == [True, False, True, False, True, False]
    assert accepted_mask(CONF, LAB, 0.25, "global").tolist() == [True, False, False, False, True, False]  # round(1.5)=2
    assert not accepted_mask(CONF, LAB, 0.0, "global").any()
    assert accepted_mask(CONF, LAB, 1.0, "global").all()


def test_ties_and_float_noise():
    conf = np.full(4, 0.5)
    assert accepted_mask(conf, np.zeros(4), 0.5, "global").tolist() == [True, True, False, False]
    assert accepted_mask(conf, np.array([1, 0, 1, 0]), 0.5).tolist() == [True, True, False, False]
    # 0.1 * 30 = 3.0000000000000004 in floating point: still 3, not 4
    assert accepted_mask(np.linspace(1, 0, 30), np.zeros(30), 0.1).sum() == 3
    with pytest.raises(ValueError):
        accepted_mask(CONF, LAB, 1.5)
    with pytest.raises(ValueError):
        accepted_mask(CONF, LAB, 0.5, "random")
