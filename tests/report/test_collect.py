"""Reading the results tree: discovery, missing files noted, malformed files rejected."""

from __future__ import annotations

import json
import math

import pytest

from ifnd.errors import UserError
from ifnd.report.collect import Results
from ifnd.runspec import RunSpec
from ifnd.report.tables import table1_linear

from .conftest import CONFIG, EPOCHS, run_config, write_json, write_run


def test_discovers_every_run(results_dir):
    res = Results(results_dir)
    assert res.names("main") == ["simclr", "ifnd", "oracle"]
    assert res.names("ablation") == ["attraction", "all_at_once"]
    assert res.class_counts("simclr") == [2, 5]
    assert RunSpec("classes", "oracle", 0, 5) in res.runs
    assert res.full_class_count() == 10
    assert res.metric("main", "ifnd", "linear") == {0: 0.73, 1: 0.74}
    assert res.metric("classes", "simclr", "linear", classes=2) == {0: 0.95}


def test_fn_stats_split_into_batch_and_levels(results_dir):
    run = Results(results_dir).runs[RunSpec("main", "ifnd", 1)]
    assert list(run.fn_batch["epoch"]) == [1, 2, 3]
    assert run.final_batch()["fn_per_anchor"] == 120.0
    levels = run.final_levels()
    assert list(levels["level"]) == [10, 20] and set(levels["epoch"]) == {3}
    simclr = Results(results_dir).runs[RunSpec("main", "simclr", 0)]
    assert math.isnan(simclr.final_batch()["fn_precision"])
    assert simclr.fn_levels.empty


def test_knn_monitor_gaps_are_nan(results_dir):
    log = Results(results_dir).runs[RunSpec("main", "simclr", 0)].train_log
    assert math.isnan(log.loc[log["epoch"] == 2, "knn_top1"].iloc[0])


def test_missing_files_are_noted_not_fatal(results_dir):
    (results_dir / "evals/main/oracle/s1/semisup_1.json").unlink()
    (results_dir / "runs/main/simclr/s1/fn_stats.csv").unlink()
    res = Results(results_dir)
    assert "main/oracle/s1" in res.missing["semisup_1.json"]
    assert "main/simclr/s1" in res.missing["fn_stats.csv"]
    # the ablation without evaluations is noted for the evaluations it is expected to have
    assert "ablation/all_at_once/s0" in res.missing["linear.json"]
    # semi-supervised evaluations are optional for the class sweep: not noted
    assert not any(w.startswith("classes/") for w in res.missing.get("semisup_1.json", []))
    assert res.metric("main", "oracle", "semisup_1") == {0: pytest.approx(0.60)}


def test_unfinished_run_is_remarked(results_dir):
    log = results_dir / "runs/main/ifnd/s0/train_log.csv"
    log.write_text("\n".join(log.read_text().splitlines()[:-1]) + "\n")
    res = Results(results_dir)
    assert any("main/ifnd/s0" in n and "did not finish" in n for n in res.notes)


@pytest.mark.parametrize("text", ["{not json", "[0.5]", '{"top1": "high"}', '{"top1": 71.0}',
                                  '{"evaluation": "knn"}'])
def test_malformed_evaluation_is_a_user_error(results_dir, text):
    (results_dir / "evals/main/ifnd/s0/knn.json").write_text(text)
    with pytest.raises(UserError, match="knn.json"):
        Results(results_dir)


def test_malformed_csv_is_a_user_error(results_dir):
    path = results_dir / "runs/main/ifnd/s0/fn_stats.csv"
    path.write_text(path.read_text().replace("batch,", "batch,oops", 1))
    with pytest.raises(UserError, match="fn_stats.csv"):
        Results(results_dir)
    path.write_text("epoch,level\n1,batch\n")
    with pytest.raises(UserError, match="lacks the column"):
        Results(results_dir)


def test_missing_results_folder(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Results(tmp_path / "nope")


# --------------------------------------------------------------------------- one experiment's files
def _config(**workflow) -> dict:
    from ifnd.config import load_config

    cfg = load_config(CONFIG)
    cfg["train"]["epochs"] = EPOCHS
    cfg["workflow"].update(workflow)
    if "seeds" in workflow and "ablation_seeds" not in workflow:
        # the matched controls read IFND's run of their own seed: ablation seeds are main seeds
        cfg["workflow"]["ablation_seeds"] = [s for s in cfg["workflow"]["ablation_seeds"] if s in workflow["seeds"]]
    return cfg


def test_with_a_config_only_its_runs_and_seeds_are_read(results_dir):
    """Folders of seeds or runs the config does not plan (another experiment's leftovers) are
    not read, references included; planned references that are absent are listed."""
    write_run(results_dir, "main/simclr/s7", "simclr", 7, run_config("simclr", 7), {"linear": 0.1})
    write_json(results_dir / "reference/random_init/s7/linear.json", {"evaluation": "linear", "top1": 0.1})
    write_json(results_dir / "reference/supervised/s7.json", {"evaluation": "supervised", "top1": 0.1})
    res = Results(results_dir, _config(seeds=[0, 1, 2]))
    assert sorted(res.metric("main", "simclr", "linear")) == [0, 1]
    assert sorted(res.reference("random_init", "linear")) == [0, 1]
    assert sorted(res.references["supervised"]) == [0, 1]
    assert "random_init/s2/linear.json" in res.missing["reference"]
    assert "supervised/s2.json" in res.missing["reference"]
    # without a config every folder found is read
    assert 7 in Results(results_dir).metric("main", "simclr", "linear")


def test_reference_of_another_dataset_is_refused(results_dir):
    cfg = _config(seeds=[0, 1])
    recorded = {k: v for k, v in cfg.items() if k != "workflow"}
    recorded = {**recorded, "data": {**recorded["data"], "name": "synthetic"}}
    write_json(results_dir / "reference/rawpixels.json",
               {"knn_top1": 0.5, "linear_top1": 0.5, "inputs": {"config": recorded}})
    with pytest.raises(UserError, match=r"rawpixels.json: a reference for 'synthetic', but the "
                                        r"config's dataset is 'fashion-mnist'"):
        Results(results_dir, cfg)


def test_reference_made_with_other_settings_is_refused(results_dir):
    cfg = _config(seeds=[0, 1])
    recorded = {**cfg, "train": {**cfg["train"], "seed": 1}}   # the supervised run of seed 1
    write_json(results_dir / "reference/supervised/s1.json",
               {"evaluation": "supervised", "top1": 0.9, "inputs": {"config": recorded}})
    Results(results_dir, cfg)                                  # agrees: read as it is
    recorded["eval"] = {**cfg["eval"], "supervised": {**cfg["eval"]["supervised"], "epochs": 99}}
    write_json(results_dir / "reference/supervised/s1.json",
               {"evaluation": "supervised", "top1": 0.9, "inputs": {"config": recorded}})
    with pytest.raises(UserError, match=r"supervised/s1.json: made with another config "
                                        r"\(eval.supervised.epochs: 99 -> 15\)"):
        Results(results_dir, cfg)


def test_a_metrics_file_of_the_other_split_is_refused(results_dir):
    """An experiment that evaluates on the validation split (config/selection.yaml) refuses a
    test-split metrics file (written before the split existed: no ``evaluated_on``), and the
    reverse; without a config the files must agree among themselves."""
    with pytest.raises(UserError, match=r"main/simclr/s0/knn.json: scored the test split, but this "
                                        r"experiment evaluates on val"):
        Results(results_dir, _config(seeds=[0, 1], evaluate_on="val"))
    assert Results(results_dir, _config(seeds=[0, 1])).split_name == "test"
    path = results_dir / "evals/main/ifnd/s1/linear.json"
    write_json(path, {"evaluation": "linear", "top1": 0.74, "evaluated_on": "val"})
    with pytest.raises(UserError, match=r"ifnd/s1/linear.json: scored the val split, but this "
                                        r"experiment evaluates on test"):
        Results(results_dir, _config(seeds=[0, 1]))
    with pytest.raises(UserError, match="mix the test and validation splits"):
        _ = Results(results_dir).scored_split
    for path in (results_dir / "evals").rglob("*.json"):
        write_json(path, {**json.loads(path.read_text()), "evaluated_on": "val"})
    for path in (results_dir / "reference").rglob("*.json"):
        write_json(path, {**json.loads(path.read_text()), "evaluated_on": "val"})
    results = Results(results_dir, _config(seeds=[0, 1], evaluate_on="val"))
    assert results.split_name == "validation" and Results(results_dir).scored_split == "val"
    assert "validation top-1" in table1_linear(results).title
