"""`ifnd compare`: two experiments of one design, row by row of their per-seed tables, against
hand-computed paired differences, Holm's correction and the settings and hardware that differ."""

import json

import pandas as pd
import pytest
import yaml

from ifnd.cli import main

from .conftest import run_config


def _experiment(root, rows, precision, capability):
    """A results folder with per-seed tables (``rows``: (table, row, column) -> seed -> value)
    and the config and meta.json of one main run."""
    (root / "tables").mkdir(parents=True)
    for table in {t for t, _, _ in rows}:
        pd.DataFrame([(r, c, s, v) for (t, r, c), values in rows.items() if t == table for s, v in values.items()],
                     columns=["row", "column", "seed", "value"]).assign(label="").to_csv(
            root / "tables" / f"{table}_per_seed.csv", index=False)
    cfg = run_config("simclr", 0)
    cfg["train"]["precision"] = precision
    cfg.setdefault("workflow", {})["experiment"] = root.name
    run = root / "runs/main/simclr/s0"
    run.mkdir(parents=True)
    (run / "config.resolved.yaml").write_text(yaml.safe_dump(cfg))
    (run / "meta.json").write_text(json.dumps({"device": {"device": "cpu", "cpu_model": "AMD EPYC",
                                                          "cpu_capability": capability, "torch_threads": 1,
                                                          "precision": "bf16" if precision == "auto" else precision}}))
    return root


LINEAR = ("table1_linear", "simclr", "linear_top1_pct")
IFND = ("table1_linear", "ifnd", "linear_top1_pct")
GAIN = ("table1_linear", "diff:ifnd-simclr", "linear_top1_pct")
PRECISION = ("table4_fn_stats", "main:ifnd", "fn_precision_pct")
ABLATION = ("table4_fn_stats", "ablation:one_level", "fn_precision_pct")


def test_compare_pairs_each_row_by_seed(tmp_path, capsys):
    a = _experiment(tmp_path / "bf16", {LINEAR: {0: 80.0, 1: 82.0, 2: 81.0}, IFND: {0: 81.0, 1: 83.0, 2: 82.0},
                                        GAIN: {0: 1.0, 1: 1.0, 2: 1.0}, PRECISION: {0: 50.0, 1: 52.0, 2: 51.0},
                                        ABLATION: {0: 40.0, 1: 41.0, 2: 42.0}}, "auto", "AVX512")
    # seed 3 has no partner; Table 4 of the other lacks the main rows; IFND's linear is bitwise the same
    b = _experiment(tmp_path / "fp32", {LINEAR: {0: 81.0, 1: 82.0, 2: 83.0, 3: 90.0}, IFND: {0: 81.0, 1: 83.0, 2: 82.0},
                                        GAIN: {0: 3.0, 1: 3.1, 2: 2.9}, ABLATION: {0: 45.0, 1: 46.0, 2: 47.0}},
                    "fp32", "AVX2")
    out = tmp_path / "cmp"
    assert main(["compare", "--results", str(a), "--against", str(b), "--out", str(out)]) == 0
    frame = pd.read_csv(out / "compare.csv").set_index("row")
    assert sorted(frame.index) == ["diff:ifnd-simclr", "ifnd", "simclr"]     # no ablation rows of Table 4
    simclr = frame.loc["simclr"]
    # differences 1, 0, 2: mean 1, sd 1, half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321
    assert simclr["n"] == 3 and simclr["diff_mean"] == pytest.approx(1.0)
    assert (simclr["diff_ci_low"], simclr["diff_ci_high"]) == pytest.approx((1 - 2.4841, 1 + 2.4841), abs=1e-3)
    assert simclr["detectable"] == pytest.approx((4.3027 + 1.0607) / 3 ** 0.5, abs=1e-3)
    assert simclr["seed_std"] == pytest.approx(1.0)
    # raw p-values: t = sqrt(3) on 2 df (0.2254) and t = 2 / (0.1 / sqrt(3)) = 34.64 (0.000832);
    # Holm over the two rows that vary: 0.00166 and 0.2254
    gain = frame.loc["diff:ifnd-simclr"]
    assert gain["diff_mean"] == pytest.approx(2.0) and gain["p_holm"] == pytest.approx(2 * 0.000832, rel=0.01)
    assert bool(gain["resolved"]) and not bool(simclr["resolved"])
    assert simclr["p_holm"] == pytest.approx(0.2254, abs=1e-3)
    assert bool(frame.loc["ifnd", "identical"]) and pd.isna(frame.loc["ifnd", "p_holm"])
    text = (out / "compare.md").read_text()
    assert "cpu, AMD EPYC, AVX512, bf16, 1 thread (1 run)" in text and "cpu, AMD EPYC, AVX2, fp32, 1 thread" in text
    assert "`train.precision` auto → fp32." in text                  # the experiment's name is not a setting
    assert "identical on every common seed: 1; resolved after Holm: 1 of 2 tested" in text
    assert "`ifnd-simclr` in linear top-1: +1.00 in" in text and "+3.00 in" in text and "resolved after Holm." in text


def test_compare_bad_input_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", "--results", str(tmp_path / "nope"), "--against", str(empty), "--out", str(tmp_path)]) == 2
    assert "results folder not found" in capsys.readouterr().err
    assert main(["compare", "--results", str(empty), "--against", str(empty), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds no per-seed table" in err and len(err.strip().splitlines()) == 1
    a = _experiment(tmp_path / "a", {LINEAR: {0: 80.0}}, "auto", "AVX512")
    b = _experiment(tmp_path / "b", {LINEAR: {1: 80.0}}, "auto", "AVX512")
    assert main(["compare", "--results", str(a), "--against", str(b), "--out", str(tmp_path / "o")]) == 2
    assert "share no table row on a common seed" in capsys.readouterr().err
