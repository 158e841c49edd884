"""`ifnd detect` on a tiny pretraining run that keeps encoders after some epochs."""

import pandas as pd


def test_detect_command_end_to_end(tmp_path, tiny_cfg):
    from ifnd.cli import main
    from ifnd.train import pretrain

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


def test_detect_without_a_run_is_one_error_line(tmp_path, capsys):
    from ifnd.cli import main

    assert main(["detect", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run folder not found" in err[0]
