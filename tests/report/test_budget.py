"""The budget study's figure reads each experiment's committed per-seed tables: IFND's share of
the oracle gain and its detection precision per budget, against hand-computed values."""

import json

import pandas as pd
import pytest
import yaml

from ifnd.cli import main

from .conftest import run_config


def _experiment(root, epochs, ifnd, oracle, precision, floor, scheduled=None, rate_max=None):
    """A results folder as the pipeline leaves it: per-seed tables, a run config, floors.
    SimCLR's linear top-1 is 80 at every seed; ``scheduled``: the schedule-matched oracle's."""
    tables = root / "tables"
    tables.mkdir(parents=True)
    rows = [("diff:ifnd-simclr", "linear_top1_pct", s, v) for s, v in ifnd.items()]
    rows += [("diff:oracle-simclr", "linear_top1_pct", s, v) for s, v in oracle.items()]
    rows += [("simclr", "linear_top1_pct", s, 80.0) for s in ifnd]
    pd.DataFrame(rows, columns=["row", "column", "seed", "value"]).assign(label="").to_csv(
        tables / "table1_linear_per_seed.csv", index=False)
    if scheduled is not None:
        pd.DataFrame([("ablation:schedule_matched_oracle", "linear_top1_pct", s, v) for s, v in scheduled.items()],
                     columns=["row", "column", "seed", "value"]).assign(label="").to_csv(
            tables / "table3_ablations_per_seed.csv", index=False)
    pd.DataFrame([("main:ifnd", "fn_precision_pct", s, v) for s, v in precision.items()],
                 columns=["row", "column", "seed", "value"]).assign(label="").to_csv(
        tables / "table4_fn_stats_per_seed.csv", index=False)
    cfg = run_config("simclr", 0)
    cfg["train"]["epochs"] = epochs
    if rate_max is not None:
        cfg["fnd"]["rate_max"] = rate_max
    run = root / "runs/main/simclr/s0"
    run.mkdir(parents=True)
    (run / "config.resolved.yaml").write_text(yaml.safe_dump(cfg))
    (root / "reference/detect_floor").mkdir(parents=True)
    for seed in ifnd:
        rows = [{"space": "pixels", "rate": 1.0, "precision": floor, "recall": 0.5},
                {"space": "pixels", "rate": 0.5, "precision": 0.9, "recall": 0.1}]
        record = {"evaluation": "detect_floor", "rows": rows}
        (root / f"reference/detect_floor/s{seed}.json").write_text(json.dumps(record))
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
    assert frame["pixel_floor_precision_mean"].tolist() == pytest.approx([20.0, 20.0])   # at rate_max 1
    assert frame["scheduled_gain_mean"].isna().all()                  # no schedule-matched oracle ran
    assert (out / "budget.png").read_bytes().startswith(b"\x89PNG")
    assert "15, 40 epochs" in capsys.readouterr().out
    assert main(["budget", "--results", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_budget_pools_the_chunks_of_one_budget(tmp_path, capsys):
    # the 40-epoch budget in two chunks (seeds 0-1, seed 2): shares 50%, 50% and 100% pool into
    # one row of 3 seeds, mean 2/3; the schedule-matched oracle (81, 82, 83 against SimCLR's 80)
    # gains 1, 2, 3; the floor is read at IFND's final acceptance rate (0.5: 90%)
    first = _experiment(tmp_path / "budget-e40-s01", 40, {0: 2.0, 1: 2.0}, {0: 4.0, 1: 4.0}, {0: 50.0, 1: 52.0},
                        0.2, scheduled={0: 81.0, 1: 82.0}, rate_max=0.5)
    second = _experiment(tmp_path / "budget-e40-s2", 40, {2: 4.0}, {2: 4.0}, {2: 54.0}, 0.2,
                         scheduled={2: 83.0}, rate_max=0.5)
    out = tmp_path / "budget"
    assert main(["budget", "--results", str(first), str(second), "--out", str(out)]) == 0
    frame = pd.read_csv(out / "budget.csv")
    assert frame["experiment"].tolist() == ["budget-e40-s01+budget-e40-s2"]
    assert frame["seeds"].tolist() == [3]
    assert frame["share_mean"].tolist() == pytest.approx([2 / 3], abs=1e-4)     # written to 4 decimals
    assert frame["scheduled_gain_mean"].tolist() == pytest.approx([2.0])
    assert frame["ifnd_precision_mean"].tolist() == pytest.approx([52.0])
    assert frame["pixel_floor_precision_mean"].tolist() == pytest.approx([90.0])
    # a seed given twice for one budget is one clear error, not a silently doubled seed
    again = _experiment(tmp_path / "budget-e40-again", 40, {2: 1.0}, {2: 4.0}, {2: 54.0}, 0.2, rate_max=0.5)
    capsys.readouterr()
    assert main(["budget", "--results", str(first), str(second), str(again), "--out", str(out)]) == 2
    assert "seed(s) [2] of the 40-epoch budget appear in more than one" in capsys.readouterr().err
    # a folder of the same budget with other settings is not a chunk of it
    other = _experiment(tmp_path / "budget-e40-other", 40, {3: 1.0}, {3: 4.0}, {3: 54.0}, 0.2, rate_max=1.0)
    assert main(["budget", "--results", str(first), str(other), "--out", str(out)]) == 2
    assert "both train 40 epochs but with other settings" in capsys.readouterr().err


def test_budget_verdicts_by_hand(tmp_path):
    # IFND − SimCLR at 10 epochs 1, 2, 3 (mean 2, sd 1: t = 2√3 on 2 dof, p = 1 − 2√3/√14 = 0.0742)
    # and at 40 epochs 4, 4.5, 5 (mean 4.5, sd 0.5: t = 9√3, p = 1 − 9√3/√245 = 0.00409). Holm over
    # the two budgets: 40 epochs 2 × 0.00409 = 0.00818, held (IFND pays); 10 epochs max(0.00818,
    # 0.0742) = 0.0742, not held, beside its detectable effect (t_.975 + t_.8 on 2 dof) · 1/√3 =
    # (4.303 + 1.061) / √3 = 3.10. The gain's trend: (4.5 − 2) over log2(40/10) = 2 doublings, 1.25
    # per doubling; the precision's (52 − 42) / 2 = 5.
    ten = _experiment(tmp_path / "budget-e10", 10, {0: 1.0, 1: 2.0, 2: 3.0}, {0: 5.0, 1: 5.0, 2: 5.0},
                      {0: 41.0, 1: 42.0, 2: 43.0}, 0.2)
    forty = _experiment(tmp_path / "budget-e40", 40, {0: 4.0, 1: 4.5, 2: 5.0}, {0: 6.0, 1: 6.0, 2: 6.0},
                        {0: 51.0, 1: 52.0, 2: 53.0}, 0.2)
    out = tmp_path / "budget"
    assert main(["budget", "--results", str(ten), str(forty), "--out", str(out)]) == 0
    text = (out / "budget.md").read_text()
    assert ("10 epochs (3 seeds): IFND − SimCLR +2.00 [-0.48, +4.48] points of linear top-1, "
            "Holm-adjusted p = 0.0742: not resolved (detectable: 3.10 points, against the oracle's +5.00)") in text
    assert "40 epochs (3 seeds): IFND − SimCLR +4.50 [+3.26, +5.74] points of linear top-1, " \
           "Holm-adjusted p = 0.00818: IFND pays." in text
    assert "- IFND pays at 40 epochs." in text
    assert "IFND − SimCLR (points of linear top-1): +1.25 [" in text
    assert "IFND's detection precision (%): +5.00 [" in text
    assert "oracle − SimCLR (points): +0.50 [+0.50, +0.50]" in text   # no spread about the line
    # one budget: no trend, and one seed no verdict
    single = _experiment(tmp_path / "budget-e5", 5, {0: -1.0}, {0: 2.0}, {0: 40.0}, 0.2)
    assert main(["budget", "--results", str(single), "--out", str(out)]) == 0
    text = (out / "budget.md").read_text()
    assert "5 epochs (1 seed): IFND − SimCLR -1.00 (CI n/a, n=1) points of linear top-1: one seed: no verdict." in text
    assert "- One budget: no trend." in text and "pays at none" not in text
