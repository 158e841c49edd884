"""Figures 1-5 are written as non-empty PNGs, also when some of their data is missing."""

from __future__ import annotations

import shutil

from ifnd.cli import main
from ifnd.report.collect import Results
from ifnd.report.figures import DRAW, FIGURES, fig1_false_negative_effect

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ("fig1_false_negative_effect", "fig2_fn_over_epochs", "fig3_acceptance_quality",
         "fig4_knn_over_epochs", "fig5_gain_vs_detection")


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
