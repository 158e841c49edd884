"""MoCo v2 in the trainer: it trains with IFND's masks over the queue, counts the queue's false
negatives, clusters the momentum encoder, and resumes bitwise with the queue and the momentum
encoder in the state."""

import pandas as pd
import torch

from ifnd.pretrain import pretrain
from ifnd.train import Pretrainer

MOCO = {"train.framework": "moco", "train.moco": {"queue_size": 96, "momentum": 0.9, "bn_splits": 2}}


def _weights(run_dir):
    return torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)["model"]


def test_moco_ifnd_trains_and_measures_the_queue_s_false_negatives(tmp_path, tiny_cfg):
    cfg = tiny_cfg(**MOCO, **{"method.name": "ifnd"})
    run = pretrain(cfg, tmp_path / "run")
    log = pd.read_csv(run / "train_log.csv")
    assert log["loss"].notna().all() and len(log) == 3
    batch = pd.read_csv(run / "fn_stats.csv").query("level == 'batch'")
    # after the first clustering (epoch 2 on), anchors meet detected false negatives in the queue
    assert (batch["fn_per_anchor"].iloc[1:] > 0).all()
    # and as many true same-class negatives as a queue of 96 (full, 10 classes) holds, ~9.6
    assert 5 < batch["true_fn_per_anchor"].iloc[-1] < 15


def test_moco_clusters_the_momentum_encoder_unless_told_otherwise(tiny_cfg):
    trainer = Pretrainer(tiny_cfg(**MOCO))
    assert trainer.cluster_model() is trainer.moco.key_model
    trainer = Pretrainer(tiny_cfg(**MOCO, **{"fnd.encoder": "online"}))
    assert trainer.cluster_model() is trainer.model


def test_moco_resume_is_bitwise_identical(tmp_path, tiny_cfg):
    cfg = tiny_cfg(**MOCO, **{"method.name": "ifnd"})
    straight = pretrain(cfg, tmp_path / "straight", state_dir=tmp_path / "s1")
    pretrain(cfg, tmp_path / "resumed", state_dir=tmp_path / "s2", stop_after=2)
    state = torch.load(tmp_path / "s2" / "last.pt", map_location="cpu", weights_only=True)
    assert int((state["queue"]["indexes"] >= 0).sum()) == 96 and "key_model" in state
    resumed = pretrain(cfg, tmp_path / "resumed", state_dir=tmp_path / "s2")
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert pd.read_csv(straight / "fn_stats.csv").equals(pd.read_csv(resumed / "fn_stats.csv"))
