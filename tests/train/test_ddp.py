"""DDP pretraining with 2 gloo ranks on the CPU, spawned inside the tests.

Two ranks at a per-rank batch of B/2 run the same experiment as one process at batch B: the
same images and views per step, the loss over the gathered global batch, BatchNorm over the
global batch, the clustering on the gathered embeddings. The float results agree within
LOSS_TOL and WEIGHT_TOL (two processes sum in another order); everything decided from them
(pseudo-labels, accepted sets, false-negative counts) agrees exactly.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from ifnd.cli import main
from ifnd.errors import UserError
from ifnd.pretrain import pretrain

from .conftest import TINY

# At TINY's learning rate the tiny model trains at the edge of stability: a one-ulp change of
# its weights grows about tenfold per step (measured in one process: channels-last against
# channels-first, which sum in another order, differ by 1e-2 in the loss after 3 epochs), so no
# two runs that round differently can agree there, in one process or in two. At lr 0.001 the
# dynamics are stable: a 1e-7 perturbation stays at 1e-6 in the loss while the weights move by
# 1e-2, and the comparison below means something.
STABLE = {**TINY, "train.lr": 0.001, "train.epochs": 2}
# Measured differences between 2 ranks and 1 process on STABLE (2 epochs): 2.4e-4 in the epoch
# losses (about 4.6, so 5e-5 relative), 1e-4 in the weights; the tolerances leave 5-10x.
LOSS_TOL = dict(rtol=5e-4, atol=0.0)
WEIGHT_TOL = dict(rtol=0.0, atol=5e-4)
WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank, world, port, cfg, out, state_dir, stop_after):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    pretrain(cfg, out, state_dir=state_dir, stop_after=stop_after)


def run_ranks(cfg, out, state_dir=None, stop_after=None, world=WORLD):
    """pretrain() in ``world`` spawned processes joined by a gloo process group."""
    mp.spawn(_rank, args=(world, _free_port(), cfg, str(out), state_dir and str(state_dir), stop_after),
             nprocs=world, join=True)
    return Path(out)


def _weights(run_dir):
    return torch.load(Path(run_dir) / "model.pt", weights_only=True)["model"]


def _state(state_dir):
    return torch.load(Path(state_dir) / "last.pt", weights_only=True)


@pytest.fixture(scope="module")
def cfg():
    from ifnd.config import load_config
    return load_config("config/config.yaml", dict(STABLE))


@pytest.fixture(scope="module")
def runs(cfg, tmp_path_factory):
    """One process at batch 32, two ranks at 16 each (uninterrupted), and two ranks stopped
    after epoch 1 (state only)."""
    root = tmp_path_factory.mktemp("ddp")
    single = pretrain(cfg, root / "single", state_dir=root / "single_state")
    ddp = run_ranks(cfg, root / "ddp", state_dir=root / "ddp_state")
    run_ranks(cfg, root / "stopped", state_dir=root / "stopped_state", stop_after=1)
    return {"root": root, "single": single, "single_state": root / "single_state",
            "ddp": ddp, "ddp_state": root / "ddp_state", "stopped_state": root / "stopped_state"}


def test_two_ranks_at_half_batch_equal_one_process(runs, cfg):
    single, ddp = runs["single"], runs["ddp"]
    log1, log2 = pd.read_csv(single / "train_log.csv"), pd.read_csv(ddp / "train_log.csv")
    assert len(log1) == len(log2) == STABLE["train.epochs"]
    np.testing.assert_allclose(log2["loss"], log1["loss"], **LOSS_TOL)
    assert log2["lr"].tolist() == log1["lr"].tolist()
    # the online kNN monitor: at most one of the 64 queries may flip on a float tie
    assert (abs(log2["knn_top1"] - log1["knn_top1"]) <= 1 / 64 + 1e-9).all()
    a, b = _weights(single), _weights(ddp)
    assert a.keys() == b.keys()  # plain BatchNorm keys: the checkpoint loads anywhere
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(b[key], a[key], **WEIGHT_TOL, msg=key)
        else:
            assert torch.equal(a[key], b[key]), key
    # the weights moved from their initialisation by far more than the tolerance
    from ifnd.train import Pretrainer
    init = Pretrainer(cfg).model.state_dict()
    moved = max((a[k] - init[k]).abs().max().item() for k in a if a[k].is_floating_point())
    assert moved > 10 * WEIGHT_TOL["atol"], moved


def test_two_ranks_give_the_same_pseudo_labels_and_fn_statistics(runs):
    s1, s2 = _state(runs["single_state"]), _state(runs["ddp_state"])
    assert s2["world_size"] == 2 and s1["world_size"] == 1
    p1, p2 = s1["detector"]["pseudo_labels"], s2["detector"]["pseudo_labels"]
    assert p1 is not None and p1.shape == (2, STABLE["data.train_subset"])
    assert (p1 >= 0).any() and torch.equal(p1, p2)
    fn1 = pd.read_csv(runs["single"] / "fn_stats.csv")
    fn2 = pd.read_csv(runs["ddp"] / "fn_stats.csv")
    # counts of detected and true false negatives in the global batches, and cluster quality
    pd.testing.assert_frame_equal(fn1, fn2)
    batch = fn1[fn1["level"] == "batch"].set_index("epoch")
    assert batch.loc[2, "fn_per_anchor"] > 0


def test_only_rank_0_writes_and_meta_records_the_processes(runs):
    import json
    meta = json.loads((runs["ddp"] / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["backend"] == "gloo" and meta["sync_batchnorm"] is True
    assert [d["rank"] for d in meta["devices"]] == [0, 1]
    assert all(d["device"] == "cpu" for d in meta["devices"])
    one = json.loads((runs["single"] / "meta.json").read_text())
    assert one["world_size"] == 1 and one["backend"] is None and one["sync_batchnorm"] is False
    assert sorted(p.name for p in runs["ddp"].iterdir()) == sorted(
        ["model.pt", "train_log.csv", "fn_stats.csv", "config.resolved.yaml", "meta.json", "epochs"])
    assert [p.name for p in (runs["ddp"] / "epochs").iterdir()] == ["epoch_001.pt"]  # train.save_epochs


def test_resume_under_two_ranks_is_bitwise_identical(runs, cfg, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(runs["stopped_state"], state)
    assert _state(state)["epoch"] == 1
    resumed = run_ranks(cfg, tmp_path / "resumed", state_dir=state)
    a, b = _weights(runs["ddp"]), _weights(resumed)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log_a = pd.read_csv(runs["ddp"] / "train_log.csv")
    log_b = pd.read_csv(resumed / "train_log.csv")
    assert log_a["loss"].tolist() == log_b["loss"].tolist()
    assert pd.read_csv(runs["ddp"] / "fn_stats.csv").equals(pd.read_csv(resumed / "fn_stats.csv"))
    assert torch.equal(_state(state)["detector"]["pseudo_labels"],
                       _state(runs["ddp_state"])["detector"]["pseudo_labels"])


def test_resuming_at_another_world_size_is_one_clear_error(runs, cfg, tmp_path, capsys):
    state = tmp_path / "state"
    shutil.copytree(runs["stopped_state"], state)
    before = (state / "last.pt").read_bytes()
    with pytest.raises(UserError, match="made by 2 process.*this run has 1"):
        pretrain(cfg, tmp_path / "run", state_dir=state)
    args = ["pretrain", "--config", "config/config.yaml"]
    for key, value in STABLE.items():
        args += ["--set", f"{key}={value}"]
    rc = main(args + ["--out", str(tmp_path / "run"), "--state-dir", str(state)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "made by 2 process" in lines[0], err
    assert (state / "last.pt").read_bytes() == before


def test_without_sync_batchnorm_the_ranks_normalise_their_own_half(cfg, runs, tmp_path):
    """The switch matters: per-rank BatchNorm statistics are another experiment."""
    import copy
    off = copy.deepcopy(cfg)  # an optional key: set it as an override file would
    off["train"].update(sync_batchnorm=False, epochs=1)
    run = run_ranks(off, tmp_path / "off")
    loss_off = pd.read_csv(run / "train_log.csv")["loss"].iloc[0]
    loss_single = pd.read_csv(runs["single"] / "train_log.csv")["loss"].iloc[0]
    assert abs(loss_off - loss_single) > 10 * LOSS_TOL["rtol"] * loss_single  # measured: 0.08
    assert __import__("json").loads((run / "meta.json").read_text())["sync_batchnorm"] is False


def test_batch_must_split_evenly_over_the_ranks(cfg, tmp_path):
    from ifnd.config import apply_overrides
    odd = apply_overrides(cfg, {"train.batch_size": 31, "data.train_subset": 124})
    with pytest.raises(mp.ProcessRaisedException, match="does not split evenly over 2 processes"):
        run_ranks(odd, tmp_path / "odd")


@pytest.mark.slow
def test_torchrun_writes_a_complete_run_folder(tmp_path):
    """The command the README documents, on the test config."""
    torchrun = Path(sys.executable).with_name("torchrun")
    ifnd = Path(sys.executable).with_name("ifnd")
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", str(ifnd), "pretrain",
                           "--config", "config/config.yaml", "config/test.yaml",
                           "--set", "train.device=cpu", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["backend"] == "gloo"
    assert {"model.pt", "train_log.csv", "fn_stats.csv", "config.resolved.yaml"} <= {
        p.name for p in (tmp_path / "run").iterdir()}


def test_moco_two_ranks_equal_one_process(tmp_path):
    """MoCo v2 + IFND under 2 gloo ranks: each rank's keys are gathered before they enter the
    queue (so every rank holds the same queue) and BatchNorm is synchronised; one process with
    one BatchNorm group (bn_splits 1) sees the same global batch, so the runs agree as SimCLR's do."""
    from ifnd.config import load_config

    moco = {**STABLE, "method.name": "ifnd", "train.framework": "moco",
            "train.moco": {"queue_size": 64, "momentum": 0.9, "bn_splits": 1}}
    cfg = load_config("config/config.yaml", moco)
    single = pretrain(cfg, tmp_path / "single", state_dir=tmp_path / "s1")
    ddp = run_ranks(cfg, tmp_path / "ddp", state_dir=tmp_path / "s2")
    log1, log2 = pd.read_csv(single / "train_log.csv"), pd.read_csv(ddp / "train_log.csv")
    np.testing.assert_allclose(log2["loss"], log1["loss"], **LOSS_TOL)
    a, b = _weights(single), _weights(ddp)
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(b[key], a[key], **WEIGHT_TOL, msg=key)
    q1, q2 = _state(tmp_path / "s1")["queue"], _state(tmp_path / "s2")["queue"]
    assert torch.equal(q1["indexes"], q2["indexes"]) and q1["ptr"] == q2["ptr"]
    torch.testing.assert_close(q2["keys"], q1["keys"], **WEIGHT_TOL)
    fn1, fn2 = pd.read_csv(single / "fn_stats.csv"), pd.read_csv(ddp / "fn_stats.csv")
    per_anchor = [f.query("level == 'batch'")["fn_per_anchor"].tolist() for f in (fn1, fn2)]
    assert per_anchor[0] == per_anchor[1]
