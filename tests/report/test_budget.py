"""The budget study's figure reads each experiment's committed per-seed tables: IFND's share of
the oracle gain and its detection precision per budget, against hand-computed values."""

import json

import pandas as pd
import pytest
import yaml

from ifnd.cli import main

from .conftest import run_config


def _experiment(root, epochs, ifnd, oracle, precision, floor):
    """A results folder as the pipeline leaves it: per-seed tables, a run config, floors."""
    tables = root / "tables"
    tables.mkdir(parents=True)
    rows = [("diff:ifnd-simclr", "linear_top1_pct", s, v) for s, v in ifnd.items()]
    rows += [("diff:oracle-simclr", "linear_top1_pct", s, v) for s, v in oracle.items()]
    pd.DataFrame(rows, columns=["row", "column", "seed", "value"]).assign(label="").to_csv(
        tables / "table1_linear_per_seed.csv", index=False)
    pd.DataFrame([("main:ifnd", "fn_precision_pct", s, v) for s, v in precision.items()],
                 columns=["row", "column", "seed", "value"]).assign(label="").to_csv(
        tables / "table4_fn_stats_per_seed.csv", index=False)
    cfg = run_config("simclr", 0)
    cfg["train"]["epochs"] = epochs
    run = root / "runs/main/simclr/s0"
    run.mkdir(parents=True)
    (run / "config.resolved.yaml").write_text(yaml.safe_dump(cfg))
    (root / "reference/detect_floor").mkdir(parents=True)
    (root / "reference/detect_floor/s0.json").write_text(json.dumps(
        {"evaluation": "detect_floor", "rows": [{"space": "pixels", "rate": 1.0, "precision": floor, "recall": 0.5},
                                                {"space": "pixels", "rate": 0.5, "precision": 0.9, "recall": 0.1}]}))
    return root


def test_budget_rows_and_figure(tmp_path, capsys):
    # 15 epochs: IFND gains 1 and 2 of the oracle's 4 and 4 points (shares 25% and 50%);
    # 40 epochs: 3 of 4 at both seeds (75%)
    short = _experiment(tmp_path / "budget-e15", 15, {0: 1.0, 1: 2.0}, {0: 4.0, 1: 4.0}, {0: 40.0, 1: 44.0}, 0.2)
    long = _experiment(tmp_path / "budget-e40", 40, {0: 3.0, 1: 3.0}, {0: 4.0, 1: 4.0}, {0: 50.0, 1: 52.0}, 0.2)
    out = tmp_path / "budget"
    assert main(["budget", "--results", str(long), str(short), "--out", str(out)]) == 0
    frame = pd.read_csv(out / "budget.csv")
    assert frame["epochs"].tolist() == [15, 40]                      # sorted by the budget
    assert frame["share_mean"].tolist() == pytest.approx([0.375, 0.75])
    assert frame["ifnd_precision_mean"].tolist() == pytest.approx([42.0, 51.0])
    assert frame["pixel_floor_precision"].tolist() == pytest.approx([20.0, 20.0])   # at the largest rate
    assert (out / "budget.png").read_bytes().startswith(b"\x89PNG")
    assert "15, 40 epochs" in capsys.readouterr().out
    assert main(["budget", "--results", str(tmp_path / "nope"), "--out", str(out)]) == 2
