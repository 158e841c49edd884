"""Tables 1-4: values checked against hand computations on the fake results tree."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ifnd.cli import main
from ifnd.report.collect import Results
from ifnd.report.tables import (LINEAR, config_changes, fmt_diff, fmt_value, markdown_table,
                                paired_difference, summarise, table1_linear, table3_ablations,
                                table4_fn_stats)

T_975_1 = 12.706204736174707   # t quantile 0.975 with 1 degree of freedom (statistics tables)


def test_summarise_by_hand():
    s = summarise({0: 0.70, 1: 0.72})
    assert s.n == 2 and s.mean == pytest.approx(0.71)
    assert s.std == pytest.approx(math.sqrt(((0.70 - 0.71) ** 2 + (0.72 - 0.71) ** 2) / 1))
    one = summarise([0.5])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.std) and math.isnan(one.ci_low)
    assert summarise([]).n == 0


def test_paired_difference_by_hand():
    # differences 0.03 and 0.02: mean 0.025, sd 0.0070711, se 0.005
    d = paired_difference({0: 0.73, 1: 0.74, 2: 0.99}, {0: 0.70, 1: 0.72})   # seed 2 unmatched
    assert d.n == 2 and d.mean == pytest.approx(0.025)
    half = T_975_1 * 0.005
    assert (d.ci_low, d.ci_high) == (pytest.approx(0.025 - half), pytest.approx(0.025 + half))
    assert fmt_diff(d, LINEAR) == "+2.50 [-3.85, +8.85]"
    assert "n/a" in fmt_diff(paired_difference({0: 0.73}, {0: 0.70}), LINEAR)


def test_formatting():
    assert fmt_value(summarise([0.70, 0.72]), LINEAR, 2) == "71.00 ± 1.41"
    assert fmt_value(summarise([0.70]), LINEAR, 2) == "70.00 (n=1)"
    assert fmt_value(None, LINEAR) == "–"
    md = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_table1_values(results_dir):
    t = table1_linear(Results(results_dir))
    df = t.frame.set_index("row")
    assert df.loc["simclr", "linear_top1_pct_mean"] == pytest.approx(71.0)
    assert df.loc["simclr", "linear_top1_pct_std"] == pytest.approx(100 * math.sqrt(2e-4))
    assert df.loc["simclr", "linear_top1_pct_n"] == 2
    diff = df.loc["diff:ifnd-simclr"]
    assert diff["linear_top1_pct_mean"] == pytest.approx(2.5)
    assert diff["linear_top1_pct_ci_low"] == pytest.approx(2.5 - T_975_1 * 0.5)
    assert diff["linear_top1_pct_ci_high"] == pytest.approx(2.5 + T_975_1 * 0.5)
    assert df.loc["diff:oracle-simclr", "knn_top1_pct_mean"] == pytest.approx(9.0)
    assert df.loc["ref:supervised", "linear_top1_pct_mean"] == pytest.approx(91.0)
    assert df.loc["ref:rawpixels", "knn_top1_pct_mean"] == pytest.approx(75.7)
    assert df.loc["ref:random_init", "linear_top1_pct_mean"] == pytest.approx(64.5)
    assert df.loc["ref:random_init", "linear_top1_pct_n"] == 2
    floor = df.loc["diff:simclr-random_init"]               # paired: 70 - 65 and 72 - 64
    assert floor["linear_top1_pct_mean"] == pytest.approx(6.5)
    assert floor["linear_top1_pct_ci_low"] == pytest.approx(6.5 - T_975_1 * 1.5)
    assert "linear_top5_pct_mean" not in df.columns      # no top-5 anywhere: column dropped
    md = t.markdown()
    assert "| SimCLR | 2 | 71.00 ± 1.41 | 61.00 ± 1.41 |" in md
    assert "| IFND − SimCLR | 2 | +2.50 [-3.85, +8.85] | +1.50 [-4.85, +7.85] |" in md
    assert "without that standardisation gives 70.00% (against 75.70%)" in md


def test_table1_unmatched_seed_gives_na(results_dir):
    (results_dir / "evals/main/ifnd/s1/linear.json").unlink()
    md = table1_linear(Results(results_dir)).markdown()
    assert "73.00 (n=1)" in md                         # IFND linear from one seed, kNN from two
    assert "+3.00 (CI n/a, n=1)" in md                  # paired over the one matched seed


def test_table3_ablations(results_dir):
    t = table3_ablations(Results(results_dir))
    df = t.frame.set_index("row")
    assert df.loc["ifnd", "linear_top1_pct_mean"] == pytest.approx(73.0)   # default restricted to seed 0
    row = df.loc["ablation:attraction"]
    assert row["delta_linear_top1_pct_mean"] == pytest.approx(-2.0)
    assert row["delta_knn_top1_pct_mean"] == pytest.approx(-1.0)
    assert row["fn_precision_pct_mean"] == pytest.approx(45.0)
    assert row["delta_fn_per_anchor_mean"] == pytest.approx(-10.0)
    assert row["changed_setting"] == "method.removal: elim → attr"
    assert df.loc["ablation:all_at_once", "changed_setting"] == "fnd.schedule: linear → all"
    assert df.loc["ablation:all_at_once", "linear_top1_pct_n"] == 0    # no evaluations yet
    assert "-2.00 (CI n/a, n=1)" in t.markdown()


def test_changed_settings_shorten_paths_only():
    control = {"method": {"name": "oracle_matched"}, "fnd": {"levels": [10], "control": {
        "targets": "results/{experiment}/runs/main/ifnd/s{seed}/fn_stats.csv", "errors": "random"}}}
    default = {"method": {"name": "ifnd"}, "fnd": {"levels": [10]}}
    assert config_changes(control, default) == (
        "fnd.control.errors: <absent> → random; fnd.control.targets: <absent> → "
        "…/ifnd/s{seed}/fn_stats.csv; method.name: ifnd → oracle_matched")
    assert config_changes({"fnd": {"levels": [20]}}, {"fnd": {"levels": [10, 20, 40]}}) == \
        "fnd.levels: [10, 20, 40] → [20]"


def test_table4_fn_stats(results_dir):
    t = table4_fn_stats(Results(results_dir))
    df = t.frame.set_index("row")
    ifnd = df.loc["main:ifnd"]
    assert ifnd["fn_per_anchor_mean"] == pytest.approx(110.0)
    assert ifnd["fn_per_anchor_std"] == pytest.approx(math.sqrt(200.0))
    assert ifnd["fn_precision_pct_mean"] == pytest.approx(45.0)
    assert ifnd["fn_recall_pct_mean"] == pytest.approx(55.0)
    assert ifnd["true_fn_per_anchor_mean"] == pytest.approx(90.0)
    assert ifnd["final_epoch"] == 3
    assert df.loc["main:simclr", "fn_precision_pct_n"] == 0        # NaN precision left out
    level = df.loc["level:10"]
    assert level["nmi_mean"] == pytest.approx(0.605)               # (0.60 + 0.61) / 2 at epoch 3
    assert level["purity_accepted_pct_mean"] == pytest.approx(75.0)
    assert set(df["section"]) == {"in-batch", "per level (main IFND)"}


def test_tables_command_writes_csv_and_md(results_dir, tmp_path):
    out = tmp_path / "tables"
    assert main(["tables", "--results", str(results_dir), "--out", str(out)]) == 0
    for name in ("table1_linear", "table2_semisup", "table3_ablations", "table4_fn_stats"):
        assert (out / f"{name}.csv").stat().st_size > 0
        text = (out / f"{name}.md").read_text()
        assert text.startswith("### Table") and "|---|" in text
    t1 = pd.read_csv(out / "table1_linear.csv")
    assert t1.loc[t1["row"] == "ifnd", "linear_top1_pct_mean"].item() == pytest.approx(73.5)  # full precision
    t2 = (out / "table2_semisup.md").read_text()
    assert "| SimCLR | 2 | 51.00 ± 1.41 | 61.00 ± 1.41 | – |" in t2
    assert "| Random init, fine-tuned | 2 | 45.50 ± 0.71 | 59.50 ± 1.41 | – |" in t2
    # paired over seeds: 1.5 points at both seeds, so the interval is that point
    assert "| SimCLR − random init | 2 | +5.50 [-0.85, +11.85] | +1.50 [+1.50, +1.50] | – |" in t2
    assert "Raw pixels, linear on the labelled images | 1 | – | 70.20 |" in t2


def test_tables_without_references_or_sweep(results_dir, tmp_path):
    import shutil
    shutil.rmtree(results_dir / "reference")
    shutil.rmtree(results_dir / "runs/ablation")
    res = Results(results_dir)
    assert "rawpixels.json" in res.missing["reference"]
    # evaluations without their run folder still count (the run folder is noted as missing)
    assert res.missing["run folder"] == ["ablation/attraction/s0"]
    assert res.metric("ablation", "attraction", "linear") == {0: 0.71}
    shutil.rmtree(results_dir / "evals/ablation")
    res = Results(results_dir)
    rows = set(table1_linear(res).frame["row"])
    assert rows == {"simclr", "ifnd", "oracle", "diff:ifnd-simclr", "diff:oracle-simclr"}
    t3 = table3_ablations(res)
    assert "No ablation runs were found." in t3.markdown()


def test_malformed_json_exits_2(results_dir, tmp_path, capsys):
    (results_dir / "evals/main/simclr/s0/linear.json").write_text('{"top1": 0.7')
    assert main(["tables", "--results", str(results_dir), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ifnd tables: error:") and "linear.json" in err[0]


def test_flat_metric_files_hold_the_table_means(results_dir, tmp_path):
    """`ifnd tables --metrics DIR`: one small JSON per method, ablation and reference with the
    means of Tables 1-4 (the files `dvc metrics show` lists)."""
    import json

    from ifnd.cli import main

    metrics = tmp_path / "metrics"
    (metrics).mkdir()
    (metrics / "stale.json").write_text("{}")
    assert main(["tables", "--results", str(results_dir), "--metrics", str(metrics)]) == 0
    names = sorted(p.stem for p in metrics.glob("*.json"))
    assert names == ["ablation_all_at_once", "ablation_attraction", "ifnd", "oracle", "random_init",
                     "rawpixels", "simclr", "supervised"]
    simclr = json.loads((metrics / "simclr.json").read_text())
    assert simclr["linear_top1"] == pytest.approx(71.0) and simclr["knn_top1"] == pytest.approx(61.0)
    assert simclr["semisup_10_top1"] == pytest.approx(61.0) and simclr["seeds"] == 2
    assert json.loads((metrics / "rawpixels.json").read_text())["linear_top1"] == pytest.approx(78.0)
    assert json.loads((metrics / "ablation_attraction.json").read_text())["linear_top1"] == pytest.approx(71.0)
    assert all(isinstance(v, (int, float)) for p in metrics.glob("*.json")
               for v in json.loads(p.read_text()).values())


def test_every_interval_is_recomputed_from_the_per_seed_csv(results_dir, tmp_path):
    """Each table has <name>_per_seed.csv: the per-seed values (of methods, references and
    paired differences) from which a reader recomputes the table's mean and interval."""
    import pandas as pd
    from scipy import stats

    from ifnd.report.collect import Results
    from ifnd.report.tables import build_tables, write_tables

    write_tables(build_tables(Results(results_dir)), tmp_path)
    table = pd.read_csv(tmp_path / "table1_linear.csv")
    seeds = pd.read_csv(tmp_path / "table1_linear_per_seed.csv")
    assert not any(c.endswith("_per_seed") for c in table.columns)
    checked = 0
    for (row, column), part in seeds.groupby(["row", "column"]):
        x = part["value"].to_numpy()
        rec = table[table["row"] == row].iloc[0]
        assert rec[f"{column}_mean"] == pytest.approx(x.mean())
        if len(x) > 1:
            half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / len(x) ** 0.5
            assert rec[f"{column}_ci_low"] == pytest.approx(x.mean() - half)
            checked += 1
    # the fixture: IFND − SimCLR linear is 3 and 2 points at seeds 0 and 1
    diff = seeds[(seeds["row"] == "diff:ifnd-simclr") & (seeds["column"] == "linear_top1_pct")]
    assert diff.set_index("seed")["value"].round(6).to_dict() == {0: 3.0, 1: 2.0}
    assert checked >= 4
    for name in ("table2_semisup", "table3_ablations", "table4_fn_stats"):
        assert (tmp_path / f"{name}_per_seed.csv").is_file()


def test_table4_shows_the_detection_floors(results_dir):
    """The detector on raw pixels and on the random-init encoder, at IFND's final acceptance
    rate, stands beside IFND's own detection precision and recall (mean over the seeds)."""
    from ifnd.report.collect import Results
    from ifnd.report.tables import table4_fn_stats

    from .conftest import write_json

    for seed, prec in ((0, 0.20), (1, 0.30)):
        write_json(results_dir / f"reference/detect_floor/s{seed}.json", {"evaluation": "detect_floor", "rows": [
            {"space": "pixels", "rate": 1.0, "precision": prec, "recall": 0.5},
            {"space": "pixels", "rate": 0.5, "precision": 0.9, "recall": 0.1}]})
    table = table4_fn_stats(Results(results_dir))
    row = table.frame[table.frame["row"] == "floor:pixels"].iloc[0]
    assert row["fn_precision_pct_mean"] == pytest.approx(25.0)
    assert row["fn_recall_pct_mean"] == pytest.approx(50.0)
    assert "floor: the detector on raw pixels, rate 1" in table.markdown()


def test_power_of_every_comparison_from_the_per_seed_values(results_dir, tmp_path):
    """IFND − SimCLR linear is 3 and 2 points (sd 0.707, n 2): it can detect only
    (12.706 + 1.376) x 0.707 / sqrt(2) = 7.04 points, more than its own mean 2.5: underpowered;
    with that spread 3 seeds would detect (4.303 + 1.061) x 0.707 / sqrt(3) = 2.19 <= 2.5."""
    import pandas as pd

    from ifnd.report.collect import Results
    from ifnd.report.tables import build_tables, write_tables

    write_tables(build_tables(Results(results_dir)), tmp_path)
    power = pd.read_csv(tmp_path / "power.csv")
    row = power[(power["row"] == "diff:ifnd-simclr") & (power["column"] == "linear_top1_pct")].iloc[0]
    assert row["seeds"] == 2 and row["detectable"] == pytest.approx(7.04, abs=0.01)
    assert bool(row["underpowered"]) and row["ifnd_gain"] == pytest.approx(2.5)
    assert row["seeds_to_detect_ifnd_gain"] == 3
    assert (tmp_path / "power.md").read_text().startswith("### Power")
