"""Faults while writing: one error line, exit status 2, and nothing finished is lost.

The full-disk and read-only cases mount a small tmpfs (root only, as in CI); elsewhere they are
skipped with the reason.
"""

import contextlib
import hashlib
import os
import subprocess
import uuid

import pytest
import torch

from ifnd.cli import main
from ifnd.config import load_config
from ifnd.pretrain import pretrain

TINY_SETS = ["data.name=synthetic", "data.train_subset=128", "data.val_subset=64", "data.test_subset=64",
             "data.image_size=16", "model.width=4", "model.proj_hidden=32", "model.proj_dim=16",
             "train.batch_size=32", "train.epochs=2", "train.warmup_epochs=0", "train.progress=false",
             "train.threads=1", "train.precision=fp32", "fnd.levels=[4]", "fnd.kmeans_seeds=[0]",
             "fnd.warmup_epochs=1", "fnd.ramp_end_epoch=2", "fnd.embed_batch_size=64"]


def pretrain_args(out, state_dir=None):
    args = ["pretrain", "--config", "config/config.yaml"]
    for item in TINY_SETS:
        args += ["--set", item]
    args += ["--out", str(out)]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    return args


def one_error_line(capsys, *needles):
    """stderr has no traceback and exactly one error line, which names the problem (progress
    lines such as "epoch 1: ..." or "resuming from ..." may precede it)."""
    text = capsys.readouterr().err
    assert "Traceback" not in text, text
    err = [line for line in text.splitlines() if ": error: " in line]
    assert len(err) == 1, text
    assert all(n in err[0] for n in needles), err[0]
    return err[0]


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def tmpfs(path, size_kib, read_only=False):
    """A small tmpfs at ``path`` (root only); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for a full or read-only disk needs root")
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size_kib}k" + (",ro" if read_only else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, f"ifnd-test-{uuid.uuid4().hex[:8]}",
                           str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder, leave_bytes):
    """Fill the file system of ``folder`` until about ``leave_bytes`` are free."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(folder / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_bytes))


def test_out_below_a_regular_file_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    assert main(pretrain_args(blocker / "run")) == 2
    one_error_line(capsys, "cannot write", str(blocker), "is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_read_only_results_folder(tmp_path, capsys):
    with tmpfs(tmp_path / "ro", 1024, read_only=True) as ro:
        assert main(pretrain_args(ro / "run")) == 2
        one_error_line(capsys, "cannot write", "not writable")


def test_full_disk_keeps_the_good_state_and_the_rerun_finishes(tmp_path, capsys):
    reference = tmp_path / "reference"
    assert main(pretrain_args(reference)) == 0  # the same run with room to spare
    capsys.readouterr()

    with tmpfs(tmp_path / "disk", 4096) as disk:
        state_dir, out = disk / "state", disk / "run"
        cfg = load_config("config/config.yaml", TINY_SETS)
        pretrain(cfg, out, state_dir, stop_after=1)          # epoch 1 done, state written
        state = state_dir / "last.pt"
        good = sha256(state)

        fill(disk, leave_bytes=16 << 10)                      # the epoch-2 state cannot fit
        assert main(pretrain_args(out, state_dir)) == 2
        one_error_line(capsys, "cannot write", "last.pt", "no space left")
        assert sha256(state) == good                          # the good state was not replaced
        # no temporary left (epochs/ holds the encoder kept after epoch 1: train.save_epochs)
        assert sorted(p.name for p in state_dir.iterdir()) == ["epochs", "last.pt"]
        assert [p.name for p in (state_dir / "epochs").iterdir()] == ["epoch_001.pt"]
        assert not (out / "model.pt").exists()

        (disk / "filler").unlink()                            # room again: resume and finish
        assert main(pretrain_args(out, state_dir)) == 0
        resumed = torch.load(out / "model.pt", weights_only=True)["model"]
    uninterrupted = torch.load(reference / "model.pt", weights_only=True)["model"]
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], v) for k, v in uninterrupted.items())  # bitwise


def test_full_disk_while_writing_outputs_keeps_the_finished_training(tmp_path, capsys):
    with tmpfs(tmp_path / "disk", 4096) as disk:
        state_dir, out = tmp_path / "state", disk / "run"   # state on a roomy disk, outputs not
        out.mkdir()
        fill(disk, leave_bytes=8 << 10)
        assert main(pretrain_args(out, state_dir)) == 2
        one_error_line(capsys, "cannot write", "no space left")
        assert not (out / "model.pt").exists()
        (disk / "filler").unlink()
        assert main(pretrain_args(out, state_dir)) == 0      # resumes after the last epoch
        assert "resuming" in capsys.readouterr().err
        assert (out / "model.pt").is_file()
