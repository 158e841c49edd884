"""Bad input: exit status 2 and one line on stderr, no traceback."""

import pytest

from ifnd.cli import main


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert all(n in err[0] for n in needles), err[0]


@pytest.mark.parametrize("command", [["linear"], ["semisup", "--fraction", "0.1"], ["knn"]])
def test_run_folder_without_checkpoint(tmp_path, capsys, command):
    empty = tmp_path / "run"
    empty.mkdir()
    assert main([command[0], str(empty), *command[1:]]) == 2
    _one_error_line(capsys, "model.pt")


def test_missing_run_folder(tmp_path, capsys):
    assert main(["linear", str(tmp_path / "nope")]) == 2
    _one_error_line(capsys, "run folder not found")


@pytest.mark.parametrize("fraction", ["0", "1.5"])
def test_bad_fraction(make_run, tmp_path, capsys, config_path, fraction):
    run = make_run()
    assert main(["semisup", str(run), "--fraction", fraction]) == 2
    _one_error_line(capsys, "fraction", "(0, 1]")
    assert main(["splits", "--config", str(config_path), "--set", "data.name=synthetic",
                 "--fraction", fraction, "--seed", "0", "--out", str(tmp_path / "s.json")]) == 2
    _one_error_line(capsys, "fraction", "(0, 1]")
    assert not (tmp_path / "s.json").exists()


def test_bad_config_override(tmp_path, capsys, config_path):
    assert main(["rawpixels", "--config", str(config_path), "--set", "data.nope=1",
                 "--out", str(tmp_path / "r.json")]) == 2
    _one_error_line(capsys, "unknown config key")


def test_set_without_config_changes_the_run_eval_settings(make_run, tmp_path, capsys):
    """`--set eval.*` alone overrides the run's stored eval section (it used to be ignored
    without --config); a pretraining key is refused with one line and nothing written."""
    import json

    run = make_run()
    out = tmp_path / "knn.json"
    assert main(["knn", str(run), "--set", "eval.knn_k=3", "--set", "train.progress=false",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["k"] == 3
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    assert main(["knn", str(run), "--set", "model.width=8", "--out", str(bad)]) == 2
    _one_error_line(capsys, "model.width", "eval.*")
    assert not bad.exists()


def test_knn_on_the_validation_split(make_run, capsys):
    """`--on val` scores the validation images (data.val_subset) into knn_val.json, recorded as
    such; without a validation split it is one error line."""
    import json

    from ifnd.evaluate.common import datasets_of

    run = make_run(["data.val_subset=60"])
    assert main(["knn", str(run), "--on", "val", "--set", "train.progress=false"]) == 0
    record = json.loads((run / "eval" / "knn_val.json").read_text())
    assert record["evaluated_on"] == "val" and not (run / "eval" / "knn.json").exists()
    data = {"name": "synthetic", "train_subset": 200, "val_subset": 60, "test_subset": 100,
            "classes": None, "image_size": 16, "subset_seed": 0}
    train, val = datasets_of({"data": data}, "val")
    assert len(val) == 60 and len(train) == 200
    capsys.readouterr()
    bare = make_run(["data.val_subset=null"], name="bare")
    assert main(["knn", str(bare), "--on", "val"]) == 2
    _one_error_line(capsys, "data.val_subset")
