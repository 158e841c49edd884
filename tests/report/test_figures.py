"""Figures 1-6 are written as non-empty PNGs, also when some of their data is missing."""

from __future__ import annotations

import shutil

import pytest

from ifnd.cli import main
from ifnd.report.collect import Results
from ifnd.report.figures import DRAW, FIGURES, fig1_false_negative_effect

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ("fig1_false_negative_effect", "fig2_fn_over_epochs", "fig3_acceptance_quality",
         "fig4_knn_over_epochs", "fig5_gain_vs_detection", "fig6_attribution")


def _texts(fig) -> str:
    parts = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.texts]
    return " ".join(parts)


def test_stable_names():
    assert tuple(DRAW) == NAMES and tuple(FIGURES) == NAMES


def test_figures_command_writes_pngs(results_dir, tmp_path):
    out = tmp_path / "figs"
    assert main(["figures", "--results", str(results_dir), "--out", str(out)]) == 0
    for name in NAMES:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    assert not list(out.glob(".*"))          # no temp files left behind


def test_fig1_has_title_axes_and_points(results_dir):
    fig = fig1_false_negative_effect(Results(results_dir))
    text = _texts(fig)
    assert "false negatives" in text and "number of semantic classes" in text
    assert "Number of semantic classes" in text and "Linear top-1 (%)" in text
    linear_ax = fig.axes[0]
    xs = sorted({x for line in linear_ax.get_lines() for x in line.get_xdata()})
    assert xs == [2, 5, 10]                   # the sweep plus the full set from the main runs
    assert fig.legends                        # SimCLR vs oracle legend


def test_figures_with_missing_data_still_written(results_dir, tmp_path):
    shutil.rmtree(results_dir / "runs/classes")
    shutil.rmtree(results_dir / "evals/classes")
    shutil.rmtree(results_dir / "runs/main/ifnd")
    shutil.rmtree(results_dir / "evals/main/ifnd")
    out = tmp_path / "figs"
    assert main(["figures", "--results", str(results_dir), "--out", str(out)]) == 0
    for name in NAMES:
        assert (out / f"{name}.png").read_bytes().startswith(PNG)
    res = Results(results_dir)
    assert "No fn_stats.csv for IFND runs" not in _texts(DRAW["fig2_fn_over_epochs"](res))  # ablations remain
    shutil.rmtree(results_dir / "runs/ablation")
    shutil.rmtree(results_dir / "evals/ablation")
    res = Results(results_dir)
    assert "No fn_stats.csv for IFND runs" in _texts(DRAW["fig2_fn_over_epochs"](res))
    assert "No per-level cluster statistics" in _texts(DRAW["fig3_acceptance_quality"](res))


def test_fig5_points_are_seed_paired_gains_against_final_detection(results_dir):
    """IFND gains 3 and 2 points over SimCLR at seeds 0 and 1 with final precision 0.40 / 0.50
    and recall 0.50 / 0.60 (conftest); the oracle 10 and 9 points at precision and recall 1;
    the attraction ablation (seed 0 only) 1 point at 0.45 / 0.40. SimCLR removes nothing and
    the ablation without evaluations has no gain: neither is a point."""
    from ifnd.report.figures import detection_points

    points = {(p["group"], p["name"]): p for p in detection_points(Results(results_dir))}
    assert set(points) == {("main", "ifnd"), ("main", "oracle"), ("ablation", "attraction")}
    ifnd = points[("main", "ifnd")]
    assert ifnd["gain"].n == 2 and abs(ifnd["gain"].mean - 0.025) < 1e-12
    assert abs(ifnd["precision"] - 0.45) < 1e-12 and abs(ifnd["recall"] - 0.55) < 1e-12
    oracle = points[("main", "oracle")]
    assert abs(oracle["gain"].mean - 0.095) < 1e-12 and oracle["precision"] == oracle["recall"] == 1.0
    attraction = points[("ablation", "attraction")]
    assert attraction["gain"].n == 1 and abs(attraction["gain"].mean - 0.01) < 1e-12
    assert (attraction["precision"], attraction["recall"]) == (0.45, 0.40)
    text = _texts(DRAW["fig5_gain_vs_detection"](Results(results_dir)))
    assert "precision" in text and "recall" in text and "test split" in text


def test_every_run_of_the_selection_experiment_gets_its_own_colour():
    """Figure 4 and 5 tell methods and ablations apart by colour: no two share one, up to the
    selection experiment's count (its config's ablations, the most of any shipped config)."""
    from pathlib import Path

    from ifnd.config import load_config
    from ifnd.report.figures import _colors

    root = Path(__file__).resolve().parents[2] / "config"
    cfg = load_config(root / "config.yaml", extra_files=[root / "selection.yaml"])

    class Names:
        def names(self, group):
            return {"main": list(cfg["workflow"]["methods"]),
                    "ablation": list(cfg["workflow"]["ablations"])}[group]

    colours = _colors(Names())
    shown = [colours[n] for n in Names().names("main") + Names().names("ablation")]
    assert len(cfg["workflow"]["ablations"]) > 7 and len(set(shown)) == len(shown)


def test_figures_2_and_5_draw_the_detection_floors(results_dir):
    """The pixel floor's mean precision (20% and 30% at the two seeds: 25%) is a horizontal line
    in Figure 2's precision panel and a vertical one in Figure 5's precision panel."""
    from .conftest import write_json

    for seed, prec in ((0, 0.20), (1, 0.30)):
        write_json(results_dir / f"reference/detect_floor/s{seed}.json", {"evaluation": "detect_floor", "rows": [
            {"space": "pixels", "rate": 1.0, "precision": prec, "recall": 0.5}]})
    res = Results(results_dir)

    def floor_line(ax):
        return [line for line in ax.get_lines() if "floor: detector on raw pixels" in line.get_label()]

    (h,) = floor_line(DRAW["fig2_fn_over_epochs"](res).axes[1])
    assert list(h.get_ydata()) == [25.0, 25.0]
    (v,) = floor_line(DRAW["fig5_gain_vs_detection"](res).axes[0])
    assert list(v.get_xdata()) == [25.0, 25.0]


def test_fig6_waterfall_adds_up_to_ifnd_s_gain(results_dir):
    """Oracle 10 / 9 points over SimCLR (seeds 0, 1); schedule-matched oracle 2 points below the
    oracle; the matched control 3 points below that; IFND 2.5 below the control on average: the
    bars step down from +9.5 to IFND's +2.5, and the claim text states each step."""
    from ifnd.report.claims import attribution_chain, chain_text

    from .conftest import LINEAR, run_config, write_run

    for seed in (0, 1):
        oracle = LINEAR[("oracle", seed)]
        write_run(results_dir, f"ablation/schedule_matched_oracle/s{seed}", "oracle_scheduled", seed,
                  run_config("oracle_scheduled", seed), {"linear": oracle - 0.02, "knn": 0.6})
        write_run(results_dir, f"ablation/ifnd_matched_random/s{seed}", "oracle_matched", seed,
                  run_config("oracle_matched", seed), {"linear": oracle - 0.05, "knn": 0.6})
    res = Results(results_dir)
    steps = dict(attribution_chain(res))
    assert round(100 * steps["gain"].mean, 6) == 9.5
    assert round(100 * steps["schedule"].mean, 6) == 2.0
    assert round(100 * steps["detection"].mean, 6) == 3.0
    assert round(100 * steps["ifnd"].mean, 6) == 2.0     # control 75 / 76 − IFND 73 / 74
    assert round(100 * steps["ifnd_gain"].mean, 6) == 2.5
    fig = DRAW["fig6_attribution"](res)
    bars = fig.axes[0].patches
    assert [round(b.get_height(), 6) for b in bars] == [9.5, 2.0, 3.0, 2.0, 2.5]
    assert round(bars[3].get_y(), 6) == 2.5                # the last loss ends at IFND's gain
    assert "The attribution controls (structured errors) have not all run" in _texts(fig)
    assert "lost to IFND's schedule" in " ".join(chain_text(res))


def test_the_methods_on_moco_are_drawn_beside_simclr_s(results_dir):
    """Runs moco/<method>/s<seed> (workflow.frameworks) get dotted kNN curves labelled with their
    framework, and rows in Table 1 paired against MoCo v2 alone."""
    from ifnd.report.collect import Results
    from ifnd.report.figures import fig4_knn_over_epochs
    from ifnd.report.tables import table1_linear

    from .conftest import run_config, write_run

    for method, top1 in (("simclr", 0.60), ("ifnd", 0.63)):
        for seed in (0, 1):
            cfg = run_config(method, seed, {"train.framework": "moco"})
            write_run(results_dir, f"moco/{method}/s{seed}", method, seed, cfg,
                      {"linear": top1 + 0.01 * seed, "knn": top1})
    results = Results(results_dir)
    fig = fig4_knn_over_epochs(results)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert {"MoCo v2 + IFND (n=2)", "MoCo v2 (n=2)", "SimCLR + IFND (n=2)"} <= set(labels)
    dotted = [line for line in fig.axes[0].get_lines() if line.get_label() == "MoCo v2 + IFND (n=2)"]
    assert dotted and dotted[0].get_linestyle() == ":"
    frame = table1_linear(results).frame.set_index("row")
    assert frame.loc["moco:ifnd", "linear_top1_pct_mean"] == pytest.approx(63.5)
    # MoCo + IFND − MoCo v2, paired over seeds 0 and 1: +3 points at both
    assert frame.loc["diff:moco:ifnd-moco:simclr", "linear_top1_pct_mean"] == pytest.approx(3.0)
    assert frame.loc["diff:moco:ifnd-moco:simclr", "label"] == "MoCo v2 IFND − MoCo v2"
