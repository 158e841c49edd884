"""`ifnd pretrain --run PATH` trains exactly the run the workflow's old command line trained
(variant flags, seed, run folder, state folder computed in the same process): the same resolved
config and bitwise the same weights."""

from pathlib import Path

import pytest
import torch

from ifnd.cli import main
from ifnd.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [str(REPO / "config/config.yaml"), str(REPO / "config/test.yaml")]


def _weights(run_dir):
    return torch.load(Path(run_dir) / "model.pt", map_location="cpu", weights_only=True)["model"]


@pytest.mark.parametrize("run,flags", [
    ("ablation/attraction/s0", ["--ablation", "attraction", "--set", "train.seed=0"]),
    ("classes/simclr/c2/s0", ["--set", "method.name=simclr", "--classes", "2", "--set", "train.seed=0"]),
])
def test_run_path_trains_what_the_flags_trained(tmp_path, monkeypatch, run, flags):
    monkeypatch.chdir(tmp_path)
    assert main(["pretrain", "--config", *CONFIGS, "--run", run]) == 0
    pipe = Pipeline.from_files(CONFIGS)
    new = Path(pipe.run_dir(pipe.find_run(run)))
    assert (Path(pipe.state_dir(pipe.find_run(run))) / "last.pt").is_file()   # its state folder
    assert main(["pretrain", "--config", *CONFIGS, *flags, "--out", "old", "--state-dir", "old_state"]) == 0
    assert (new / "config.resolved.yaml").read_text() == Path("old/config.resolved.yaml").read_text()
    a, b = _weights(new), _weights("old")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_path_errors_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["pretrain", "--config", *CONFIGS, "--run", "main/nope/s0"]) == 2
    assert "is not a run of experiment 'test'" in capsys.readouterr().err
    assert main(["pretrain", "--config", *CONFIGS, "--run", "main/ifnd/s0", "--ablation", "x"]) == 2
    assert main(["pretrain", "--config", *CONFIGS]) == 2
    assert "needs --out" in capsys.readouterr().err
