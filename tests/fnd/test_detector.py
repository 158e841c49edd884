import io

import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

from ifnd.errors import UserError
from ifnd.fnd import FalseNegativeDetector, OracleDetector, build_detector
from ifnd.fnd.masks import false_negative_mask
from ifnd.losses import ifnd_loss


def fnd_cfg(**kw):
    c = {"levels": [4, 8], "kmeans_niter": 20, "kmeans_nredo": 2, "kmeans_seeds": [0, 1],
         "warmup_epochs": 1, "cluster_every": 1, "features": "projection",
         "confidence": "cosine", "schedule": "linear", "rate_start": 0.0, "rate_max": 1.0,
         "ramp_end_epoch": 5, "ranking": "per_cluster", "combine": "union",
         "embed_batch_size": 1024}
    c.update(kw)
    return c


def test_update_on_blobs(blobs):
    x, y = blobs
    det = FalseNegativeDetector(fnd_cfg(), run_seed=0)
    assert det.pseudo_labels is None and det.level_masks(torch.arange(4)) is None
    assert not det.is_cluster_epoch(0) and det.is_cluster_epoch(1)
    stats = det.update(x, epoch=3, true_labels=y)  # rate (3-1)/(5-1) = 0.5
    pl = det.pseudo_labels
    assert pl.dtype == torch.int64 and pl.shape == (2, 400)
    assert det.rate == 0.5 and det.last_epoch == 3
    assert [s["k"] for s in stats] == [4, 8] and [s["seed"] for s in stats] == [0, 1]
    # level 0: 4 clusters of 100 -> exactly 50 accepted per cluster
    acc0 = pl[0] >= 0
    assert int(acc0.sum()) == 200 and stats[0]["accepted_fraction"] == 0.5
    assert (pl[0][~acc0] == -1).all()
    assert normalized_mutual_info_score(y[acc0.numpy()], pl[0][acc0].numpy()) == pytest.approx(1.0)
    assert stats[0]["nmi"] == pytest.approx(1.0) and stats[0]["purity_accepted"] == 1.0
    # level 1: per-cluster ceil -> between rate*N and rate*N + k accepted
    n1 = int((pl[1] >= 0).sum())
    assert 200 <= n1 <= 208 and stats[1]["n_accepted"] == n1
    # the true labels only feed the statistics
    det2 = FalseNegativeDetector(fnd_cfg(), run_seed=0)
    stats2 = det2.update(x, epoch=3)
    assert torch.equal(det2.pseudo_labels, pl) and "nmi" not in stats2[0]
    # in-batch masks are the pseudo-label masks
    idx = torch.tensor([0, 1, 150, 399, 0, 1, 150, 399])
    assert torch.equal(det.level_masks(idx), false_negative_mask(idx, pl))


def test_rate_zero_and_global(blobs):
    x, y = blobs
    det = FalseNegativeDetector(fnd_cfg(), run_seed=0)
    det.update(x, epoch=1)  # rate_start 0 at the end of warm-up
    assert det.rate == 0.0 and (det.pseudo_labels == -1).all()
    det = FalseNegativeDetector(fnd_cfg(ranking="global", schedule="all", rate_max=0.3), 0)
    stats = det.update(x, epoch=1, true_labels=y)
    assert [int((det.pseudo_labels[m] >= 0).sum()) for m in range(2)] == [120, 120]
    assert stats[0]["accepted_fraction"] == pytest.approx(0.3)


def test_run_seed_shifts_kmeans_seeds():
    det = FalseNegativeDetector(fnd_cfg(), run_seed=5)
    assert det.seeds == [5, 6]
    with pytest.raises(UserError):
        FalseNegativeDetector(fnd_cfg(kmeans_seeds=[0]), 0)


def test_state_dict_round_trip(blobs):
    x, y = blobs
    det = FalseNegativeDetector(fnd_cfg(), run_seed=1)
    empty = FalseNegativeDetector(fnd_cfg(), run_seed=1)
    empty.load_state_dict(det.state_dict())
    assert empty.pseudo_labels is None and empty.rate == 0.0
    det.update(x, epoch=2)
    buf = io.BytesIO()
    torch.save(det.state_dict(), buf)
    buf.seek(0)
    new = FalseNegativeDetector(fnd_cfg(), run_seed=1)
    new.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(new.pseudo_labels, det.pseudo_labels)
    assert new.rate == det.rate == 0.25 and new.last_epoch == 2
    idx = torch.arange(10).repeat(2)
    assert torch.equal(new.level_masks(idx), det.level_masks(idx))
    with pytest.raises(UserError):
        FalseNegativeDetector(fnd_cfg(levels=[4], kmeans_seeds=[0]), 1).load_state_dict(
            det.state_dict())


def test_oracle(blobs):
    x, y = blobs
    det = build_detector("oracle", fnd_cfg(), 0, y)
    assert isinstance(det, OracleDetector)
    assert det.pseudo_labels.shape == (1, 400) and torch.equal(det.pseudo_labels[0],
                                                               torch.from_numpy(y))
    assert not det.is_cluster_epoch(1) and det.rate == 1.0
    idx = torch.tensor([0, 1, 399, 0, 1, 399])
    m = det.level_masks(idx)
    assert m.shape == (1, 6, 6) and m[0, 0, 1] and not m[0, 0, 2] and not m[0, 0, 3]
    stats = det.update(None, epoch=0, true_labels=y)
    assert stats[0]["nmi"] == pytest.approx(1.0) and stats[0]["accepted_fraction"] == 1.0
    other = OracleDetector(y)
    other.load_state_dict(det.state_dict())
    assert torch.equal(other.pseudo_labels, det.pseudo_labels)
    assert build_detector("simclr", fnd_cfg(), 0) is None
    assert isinstance(build_detector("ifnd", fnd_cfg(), 0), FalseNegativeDetector)
    with pytest.raises(ValueError):
        build_detector("oracle", fnd_cfg(), 0)


def test_detector_feeds_loss(blobs):
    x, y = blobs
    det = FalseNegativeDetector(fnd_cfg(schedule="all"), 0)
    det.update(x, epoch=1)
    ids = torch.tensor([0, 5, 120, 250, 399])
    idx = torch.cat([ids, ids])
    z = torch.nn.functional.normalize(torch.from_numpy(x[idx.numpy()]) + 0.1, dim=1)
    masks = det.level_masks(idx)
    for removal in ("elim", "attr"):
        for combine in ("union", "average"):
            assert torch.isfinite(ifnd_loss(z, idx, 0.2, masks, removal, combine))
    # images 0 and 5 are in the same blob, 120 in another: level 0 (k = 4 = #blobs) sees it
    assert masks[0, 0, 1] and masks[0, 5, 6] and not masks[0, 0, 2]
