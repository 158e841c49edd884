"""`ifnd detect` on a tiny pretraining run that keeps encoders after some epochs."""

import pandas as pd


def test_detect_command_end_to_end(tmp_path, tiny_cfg):
    from ifnd.cli import main
    from ifnd.pretrain import pretrain

    run = pretrain(tiny_cfg(train__epochs=3, train__save_epochs=[1, 2]), tmp_path / "run")
    assert sorted(p.name for p in (run / "epochs").iterdir()) == ["epoch_001.pt", "epoch_002.pt"]
    assert main(["detect", str(run), "--quick", "--rates", "0.5", "1.0"]) == 0
    frame = pd.read_csv(run / "detect" / "detect.csv")
    assert sorted(frame["epoch"].unique()) == [1, 2, 3]
    mine = frame[frame["run_setting"]]
    # the run's setting (projection, cosine, per cluster, union of levels 4+8, no gate) per epoch and rate
    assert len(mine) == 3 * 2 and set(mine["levels"]) == {"4+8"} and set(mine["combine"]) == {"union"}
    assert frame["precision"].between(0, 1).all() and frame["recall"].between(0, 1).all()
    assert (run / "detect" / "detect_pr.png").stat().st_size > 1000
    assert "The run's setting" in (run / "detect" / "detect.md").read_text()
    import json
    import numpy as np
    matrix = np.array(json.loads((run / "detect" / "confusion.json").read_text())["matrix"])
    assert matrix.shape == (10, 10) and (np.diag(matrix) == 0).all() and (matrix == matrix.T).all()


def test_detect_refuses_an_encoder_kept_by_another_run(tmp_path, tiny_cfg, capsys):
    """model.pt of one run beside epochs/ of another (a DVC or hand restore of model.pt alone):
    one error line naming the foreign encoder and the config key that differs, no study."""
    import shutil

    from ifnd.cli import main
    from ifnd.pretrain import pretrain

    cfg = tiny_cfg(train__epochs=2, train__save_epochs=[1])
    run = pretrain(cfg, tmp_path / "run")
    other = pretrain(tiny_cfg(train__epochs=2, train__save_epochs=[1], train__lr=0.5), tmp_path / "other")
    shutil.copyfile(other / "epochs" / "epoch_001.pt", run / "epochs" / "epoch_001.pt")
    capsys.readouterr()  # the pretraining's progress lines
    assert main(["detect", str(run), "--quick", "--rates", "1.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "epoch_001.pt was not kept by the run" in err[0] and "train.lr" in err[0]
    assert not (run / "detect").exists()


def test_a_run_without_kept_encoders_has_an_empty_epochs_folder(tmp_path, tiny_cfg):
    """epochs/ is a declared output of the pretraining job: it exists even when
    train.save_epochs keeps nothing, and the study then scores the final encoder alone."""
    from ifnd.detect import checkpoints
    from ifnd.pretrain import pretrain

    run = pretrain(tiny_cfg(train__epochs=1, train__save_epochs=[]), tmp_path / "run")
    assert (run / "epochs").is_dir() and not list((run / "epochs").iterdir())
    assert checkpoints(run) == [(1, run / "model.pt")]


def test_detect_without_a_run_is_one_error_line(tmp_path, capsys):
    from ifnd.cli import main

    assert main(["detect", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run folder not found" in err[0]
