import math

import pandas as pd
import pytest
import torch

from ifnd.cli import main
from ifnd.errors import UserError
from ifnd.optim import learning_rate, scaled_lr
from ifnd.pretrain import pretrain

RUN_FILES = {"model.pt", "train_log.csv", "fn_stats.csv", "config.resolved.yaml", "meta.json"}


def _weights(run_dir):
    return torch.load(run_dir / "model.pt", weights_only=True)["model"]


@pytest.mark.parametrize("method,removal", [("simclr", "elim"), ("ifnd", "elim"), ("ifnd", "attr"),
                                            ("oracle", "elim")])
def test_one_epoch_of_each_mode_writes_a_complete_run(tmp_path, tiny_cfg, method, removal):
    cfg = tiny_cfg(method__name=method, method__removal=removal, train__epochs=2)
    out = pretrain(cfg, tmp_path / "run")
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    log = pd.read_csv(out / "train_log.csv")
    assert list(log["epoch"]) == [1, 2] and log["loss"].map(math.isfinite).all()
    assert log["knn_top1"].between(0, 1).all()
    fn = pd.read_csv(out / "fn_stats.csv")
    batch = fn[fn["level"] == "batch"].set_index("epoch")
    assert (batch["true_fn_per_anchor"] > 0).all()
    if method == "simclr":
        assert (batch["fn_per_anchor"] == 0).all() and (batch["fn_recall"] == 0).all()
    elif method == "oracle":
        # the oracle's detections are the true false negatives: precision = recall = 1
        assert (batch["fn_precision"] == 1).all() and (batch["fn_recall"] == 1).all()
        assert batch["fn_per_anchor"].equals(batch["true_fn_per_anchor"])
    else:
        assert batch.loc[1, "fn_per_anchor"] == 0  # before the first clustering
        assert batch.loc[2, "fn_per_anchor"] > 0
        assert 0 <= batch.loc[2, "fn_precision"] <= 1 and 0 < batch.loc[2, "fn_recall"] <= 1
        levels = fn[(fn["level"] != "batch") & (fn["epoch"] == 2)]
        assert sorted(levels["level"].astype(int)) == [4, 8]
        assert (levels["acceptance_rate"] == 0.5).all()
        assert levels["nmi"].between(0, 1).all()


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, tiny_cfg):
    cfg = tiny_cfg()
    straight = pretrain(cfg, tmp_path / "straight")
    for stop in (1, 2):
        pretrain(cfg, tmp_path / "resumed", state_dir=tmp_path / "state", stop_after=stop)
        assert not (tmp_path / "resumed" / "model.pt").exists()
    resumed = pretrain(cfg, tmp_path / "resumed", state_dir=tmp_path / "state")
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log_a = pd.read_csv(straight / "train_log.csv")
    log_b = pd.read_csv(resumed / "train_log.csv")
    assert log_a["loss"].tolist() == log_b["loss"].tolist()
    assert pd.read_csv(straight / "fn_stats.csv").equals(pd.read_csv(resumed / "fn_stats.csv"))


def test_meta_records_the_commits_a_resumed_run_trained_under(tmp_path, tiny_cfg, monkeypatch):
    """meta.json takes the commit as each process starts, not as it ends: a run started at one
    commit and resumed at another lists both, first the one that made the early epochs; a state
    of older code (no record of its commits) leaves only this process's."""
    import json

    import ifnd.train as train

    cfg = tiny_cfg(train__epochs=2)
    monkeypatch.setattr(train, "code_version", lambda: "aaa111")
    pretrain(cfg, tmp_path / "run", state_dir=tmp_path / "state", stop_after=1)
    monkeypatch.setattr(train, "code_version", lambda: "bbb222")
    meta = json.loads((pretrain(cfg, tmp_path / "run", state_dir=tmp_path / "state") / "meta.json").read_text())
    assert meta["code_versions"] == ["aaa111", "bbb222"] and meta["code_version"] == "bbb222"

    pretrain(cfg, tmp_path / "old", state_dir=tmp_path / "old_state", stop_after=1)
    state = torch.load(tmp_path / "old_state" / "last.pt", weights_only=True)
    del state["code_versions"]
    torch.save(state, tmp_path / "old_state" / "last.pt")
    monkeypatch.setattr(train, "code_version", lambda: "ccc333")
    meta = json.loads((pretrain(cfg, tmp_path / "old", state_dir=tmp_path / "old_state") / "meta.json").read_text())
    assert meta["code_versions"] == ["ccc333"]


def test_resume_refuses_a_state_made_with_another_config(tmp_path, tiny_cfg):
    pretrain(tiny_cfg(), tmp_path / "run", state_dir=tmp_path / "state", stop_after=1)
    state = tmp_path / "state" / "last.pt"
    before = state.read_bytes()
    with pytest.raises(UserError, match="another config.*train.temperature"):
        pretrain(tiny_cfg(train__temperature=0.5), tmp_path / "run", state_dir=tmp_path / "state")
    assert state.read_bytes() == before


def test_corrupt_state_gives_one_error_line_and_is_kept(tmp_path, tiny_cfg, capsys):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "last.pt").write_bytes(b"not a checkpoint")
    rc = main(["pretrain", "--set", "data.name=synthetic", "--set", "data.train_subset=64",
               "--set", "train.batch_size=32", "--out", str(tmp_path / "run"), "--state-dir", str(state_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unreadable" in err[0]
    assert (state_dir / "last.pt").read_bytes() == b"not a checkpoint"


@pytest.mark.parametrize("override,message", [
    ("data.name=imagenet", "data.name"),
    ("method.name=moco", "method.name"),
    ("train.lr=fast", "train.lr"),
    ("train.nonsense=1", "unknown config key: train.nonsense"),
])
def test_bad_config_gives_one_error_line(tmp_path, capsys, override, message):
    rc = main(["pretrain", "--set", override, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0]


def test_missing_data_folder_is_reported(tmp_path, capsys):
    rc = main(["pretrain", "--set", f"data.root={tmp_path / 'nowhere'}", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "nowhere" in err


def test_learning_rate_schedule_by_hand():
    # warm-up: 10 steps to 1.0, then cosine over 90 steps
    assert learning_rate(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert learning_rate(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert learning_rate(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert learning_rate(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert learning_rate(100, 100, 10, 1.0) == pytest.approx(0.0)
    assert scaled_lr({"lr": 0.3, "batch_size": 512}) == pytest.approx(0.6)


def test_online_monitor_watches_the_validation_split(tmp_path, tiny_cfg):
    """With data.val_subset the kNN monitor queries validation images, never test images; the
    run's meta.json says which."""
    import json

    from ifnd.train import Pretrainer

    trainer = Pretrainer(tiny_cfg(train__knn_monitor_images=None))
    assert trainer.monitor_split == "val" and len(trainer.monitor_set) == 64
    val = trainer.monitor_set.images
    from ifnd.data import load_dataset
    assert torch.equal(val, load_dataset(trainer.cfg["data"], "val").images)
    assert not torch.equal(val, load_dataset(trainer.cfg["data"], "test").images)
    out = pretrain(tiny_cfg(train__epochs=1), tmp_path / "run")
    assert json.loads((out / "meta.json").read_text())["monitor_split"] == "val"
    assert Pretrainer(tiny_cfg(data__val_subset=None)).monitor_split == "test"


def test_a_log_file_gets_one_plain_line_per_epoch(tmp_path, tiny_cfg, capfd):
    """With train.progress on but stderr not a terminal (a Snakemake log), no progress bar is
    drawn: no carriage return or escape, one greppable line per epoch."""
    pretrain(tiny_cfg(train__progress=True, method__name="ifnd"), tmp_path / "run")
    err = capfd.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    lines = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "rate 0.00 fn_precision -" in lines[0] and "fn_precision 0." in lines[1]
    assert all(" knn 0." in line and line.endswith("s") for line in lines)
