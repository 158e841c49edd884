"""Figures 1-4 of the paper and Figure 5 (gain against detection quality), drawn from run and
evaluation outputs (PNG, matplotlib Agg).

- ``fig1_false_negative_effect``: top-1 vs the number of classes, SimCLR vs oracle removal;
- ``fig2_fn_over_epochs``: detected false negatives per anchor, precision and recall;
- ``fig3_acceptance_quality``: acceptance rate and per-level pseudo-label quality;
- ``fig4_knn_over_epochs``: the online kNN monitor per method;
- ``fig5_gain_vs_detection``: linear gain over SimCLR against detection precision and recall.
- ``fig6_attribution``: the attribution chain as a waterfall (oracle gain, lost to the schedule,
  to detection quality and to the rest, IFND's gain).

Lines are the mean over seeds with a ±1 std band where there are several seeds; ablations are
dashed. A figure whose data is missing is still written, saying what it lacks, so that the
file names stay stable for the workflow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend (Agg canvas)
from matplotlib.ticker import MaxNLocator

from .. import vocabulary
from ..errors import UserError
from ..runspec import FRAMEWORK_GROUPS
from ..fileio import atomic_output
from .claims import attribution_chain
from .collect import FLOOR_SPACES, Results, add_results_arguments, results_of
from .stats import paired_difference, summarise
from .tables import METHOD_LABELS, dataset_label

FIGURES = vocabulary.FIGURES

METHOD_COLORS = vocabulary.colours()
# the ablations' colours: tab10's unused ones, then tab20's light shades (17 before one repeats)
OTHER_COLORS = [c for c in ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
                if c not in METHOD_COLORS.values()] + [
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
DPI = 120


def _colors(results: Results) -> dict:
    colors = dict(METHOD_COLORS)
    others = [("main", m) for m in results.names("main") if m not in colors]
    others += [("ablation", a) for a in results.names("ablation")]
    for i, (_, name) in enumerate(others):
        colors.setdefault(name, OTHER_COLORS[i % len(OTHER_COLORS)])
    return colors


def save_png(fig: Figure, path: Path) -> None:
    """Write the figure atomically (temp file, then rename)."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def _no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes,
            fontsize=10, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def _over_epochs(frames: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """Mean, std and count of ``column`` per epoch over several runs (NaN rows left out)."""
    parts = [f[["epoch", column]].dropna() for f in frames if f is not None and column in f]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=["epoch", "mean", "std", "count"])
    data = pd.concat(parts)
    agg = data.groupby("epoch")[column].agg(["mean", "std", "count"]).reset_index()
    return agg.sort_values("epoch")


def _band(ax, frames, column, scale=1.0, **style) -> bool:
    """Mean line with a ±1 std band over runs; False when there is nothing to draw."""
    agg = _over_epochs(frames, column)
    if agg.empty:
        return False
    x, mean = agg["epoch"].to_numpy(), agg["mean"].to_numpy() * scale
    n = int(agg["count"].max())
    label = style.pop("label", None)
    if label is not None and n > 1:
        label = f"{label} (n={n})"
    ax.plot(x, mean, marker="o" if len(x) < 30 else None, markersize=3, label=label, **style)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    std = agg["std"].to_numpy() * scale
    several = agg["count"].to_numpy() > 1
    if several.any():
        ax.fill_between(x, np.where(several, mean - std, mean), np.where(several, mean + std, mean),
                        alpha=0.2, color=style.get("color"), linewidth=0)
    return True


def _legend(fig: Figure, axes) -> None:
    handles, labels, seen = [], [], set()
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen and not lab.startswith("_"):
                seen.add(lab)
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(handles)), fontsize=9)


# --------------------------------------------------------------------------- Figure 1

def _point(values: dict) -> tuple[float, float, int]:
    s = summarise(values)
    return s.mean * 100, (s.std * 100 if s.n > 1 else 0.0), s.n


def fig1_false_negative_effect(results: Results) -> Figure:
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    full = results.full_class_count()
    methods = [m for m in ("simclr", "oracle") if results.class_counts(m) or results.select("main", m)]
    colors = _colors(results)
    oracle_runs = results.select("main", "oracle") + results.select("classes", "oracle")
    removal = next((r.cfg("method.removal") for r in oracle_runs if r.config is not None), "elim")
    labels = {"simclr": "SimCLR", "oracle": f"Oracle {'attraction' if removal == 'attr' else 'elimination'} "
                                            "(true labels)"}
    all_x = set()
    panels = [("linear", "Linear top-1 (%)"), ("knn", "kNN top-1 (%)")]
    series = {}  # (evaluation, method) -> {classes: seed -> value}
    for ax, (evaluation, ylabel) in zip(axes, panels):
        drawn = False
        for m in methods:
            by_n = {n: results.metric("classes", m, evaluation, classes=n) for n in results.class_counts(m)}
            if full is not None and full not in by_n:
                by_n[full] = results.metric("main", m, evaluation)
            by_n = {n: v for n, v in sorted(by_n.items()) if v}
            series[(evaluation, m)] = by_n
            if not by_n:
                continue
            xs = sorted(by_n)
            pts = [_point(by_n[n]) for n in xs]
            ax.errorbar(xs, [p[0] for p in pts], yerr=[p[1] for p in pts], marker="o", capsize=4,
                        color=colors.get(m), label=labels[m])
            if len({p[2] for p in pts}) > 1:   # say how many seeds each point averages
                for x, (y, _, n) in zip(xs, pts):
                    ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(6, -12),
                                fontsize=8, color=colors.get(m))
            all_x.update(xs)
            drawn = True
        if drawn:
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel.split(' (')[0]} accuracy")
            ax.grid(alpha=0.3)
        else:
            _no_data(ax, f"No {evaluation} results for SimCLR / oracle runs")
    ax = axes[2]
    drawn = False
    for evaluation, style, color in (("linear", "-", "tab:red"), ("knn", "--", "tab:purple")):
        a, b = series.get((evaluation, "oracle"), {}), series.get((evaluation, "simclr"), {})
        xs = sorted(set(a) & set(b))
        gaps = [paired_difference(a[n], b[n]) for n in xs]
        keep = [(n, g) for n, g in zip(xs, gaps) if g.n]
        if not keep:
            continue
        ax.errorbar([n for n, _ in keep], [g.mean * 100 for _, g in keep],
                    yerr=[(g.std * 100 if g.n > 1 else 0.0) for _, g in keep], marker="s", capsize=4,
                    linestyle=style, color=color,
                    label=f"Oracle − SimCLR, {'linear' if evaluation == 'linear' else 'kNN'} (seed-paired)")
        drawn = True
    if drawn:
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_ylabel("Top-1 gap (percentage points)")
        ax.set_title("Harm from false negatives (gap)")
        ax.grid(alpha=0.3)
    else:
        _no_data(ax, "No seed-matched SimCLR and oracle results")
    ticks = sorted(all_x)
    for ax in axes:
        if ax.has_data():
            ax.set_xscale("log")
            ax.set_xticks(ticks, [str(t) + (" (all)" if t == full else "") for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("Number of semantic classes (log scale)")
    fig.suptitle("Harm from false negatives vs the number of semantic classes: SimCLR vs oracle "
                 f"removal on {dataset_label(results)} (error bars: std over seeds)")
    _legend(fig, axes)
    return fig


# --------------------------------------------------------------------------- Figures 2-4

def _ablation_frames(results: Results, attr: str) -> list[tuple[str, list]]:
    return [(a, [getattr(r, attr) for r in results.select("ablation", a)]) for a in results.names("ablation")]


FLOOR_STYLES = {"pixels": ("0.2", (0, (1, 1))), "random_init_projection": ("0.55", (0, (4, 2))),
                "random_init_backbone": ("0.55", (0, (1, 2)))}


def _floor_lines(ax, results: Results, column: str, vertical: bool = False) -> None:
    """The detection floors (``ifnd detect-floor`` at IFND's final acceptance rate, mean over
    seeds) as reference lines: ``column`` is "precision" or "recall", in percent."""
    rate = results.final_rate()
    for space, (color, style) in FLOOR_STYLES.items():
        at, label = results.floor(space), FLOOR_SPACES[space]
        if not at:
            continue
        value = 100 * float(np.mean([v[0 if column == "precision" else 1] for v in at.values()]))
        line = ax.axvline if vertical else ax.axhline
        line(value, color=color, linestyle=style, linewidth=1.0,
             label=f"floor: detector on {label} (rate {rate:g})")


def fig2_fn_over_epochs(results: Results) -> Figure:
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = _colors(results)
    main = [r.fn_batch for r in results.select("main", "ifnd")]
    panels = [("fn_per_anchor", 1.0, "Detected false negatives per anchor"),
              ("fn_precision", 100.0, "Precision of detected FN (%)"),
              ("fn_recall", 100.0, "Recall of true FN (%)")]
    for ax, (column, scale, ylabel) in zip(axes, panels):
        drawn = _band(ax, main, column, scale, color=colors["ifnd"], label="IFND (main)")
        for name, frames in _ablation_frames(results, "fn_batch"):
            drawn |= _band(ax, frames, column, scale, color=colors[name], linestyle="--",
                           label=f"ablation: {name}")
        if column == "fn_per_anchor":
            _band(ax, main, "true_fn_per_anchor", 1.0, color="0.4", linestyle=":",
                  label="true same-class negatives per anchor")
        else:
            _floor_lines(ax, results, column.removeprefix("fn_"))
        if drawn:
            ax.set_xlabel("Epoch")
            ax.set_ylabel(ylabel)
            ax.set_title(ylabel.replace(" (%)", ""))
            ax.grid(alpha=0.3)
            if scale == 100.0:
                ax.set_ylim(-2, 102)
        else:
            _no_data(ax, "No fn_stats.csv for IFND runs")
    fig.suptitle(f"False negatives detected by IFND over training on {dataset_label(results)} "
                 "(mean ± std over seeds; ablations dashed)")
    _legend(fig, axes)
    return fig


def fig3_acceptance_quality(results: Results) -> Figure:
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = _colors(results)
    runs = results.select("main", "ifnd")
    ax = axes[0]
    frames = [r.fn_batch if r.fn_batch is not None else r.train_log for r in runs]
    drawn = _band(ax, frames, "acceptance_rate", 100.0, color=colors["ifnd"], label="IFND (main)")
    for name, _ in _ablation_frames(results, "fn_batch"):
        abl = [r.fn_batch if r.fn_batch is not None else r.train_log for r in results.select("ablation", name)]
        drawn |= _band(ax, abl, "acceptance_rate", 100.0, color=colors[name], linestyle="--",
                       label=f"ablation: {name}")
    if drawn:
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Acceptance rate r(e) (%)")
        ax.set_title("Acceptance rate")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    else:
        _no_data(ax, "No acceptance rates logged for IFND runs")
    levels = sorted({int(k) for r in runs if r.fn_levels is not None for k in r.fn_levels["level"]})
    cmap = _level_colors(len(levels))
    for ax, title in ((axes[1], "NMI"), (axes[2], "Purity")):
        drawn = False
        for color, k in zip(cmap, levels):
            per_level = [r.fn_levels[r.fn_levels["level"] == k] for r in runs if r.fn_levels is not None]
            if title == "NMI":
                drawn |= _band(ax, per_level, "nmi", 1.0, color=color, label=f"k = {k}")
            else:
                drawn |= _band(ax, per_level, "purity_accepted", 100.0, color=color,
                               label=f"k = {k}: accepted")
                _band(ax, per_level, "purity_all", 100.0, color=color, linestyle=":",
                      label=f"k = {k}: all samples")
        if drawn:
            ax.set_xlabel("Epoch")
            ax.set_ylabel("NMI with the true classes" if title == "NMI" else "Purity (%)")
            ax.set_title("NMI per k-means level" if title == "NMI"
                         else "Purity per level (solid: accepted, dotted: all)")
            ax.grid(alpha=0.3)
        else:
            _no_data(ax, "No per-level cluster statistics for IFND runs")
    fig.suptitle(f"Incremental acceptance and pseudo-label quality of IFND on {dataset_label(results)} "
                 "(main runs, mean ± std over seeds)")
    _legend(fig, axes)
    return fig


def _level_colors(n: int) -> list:
    from matplotlib import colormaps
    cmap = colormaps["viridis"]
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def fig4_knn_over_epochs(results: Results) -> Figure:
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.subplots()
    colors = _colors(results)
    drawn = False
    for m in results.names("main"):
        frames = [r.train_log for r in results.select("main", m)]
        drawn |= _band(ax, frames, "knn_top1", 100.0, color=colors.get(m), label=METHOD_LABELS.get(m, m))
    for name, frames in _ablation_frames(results, "train_log"):
        drawn |= _band(ax, frames, "knn_top1", 100.0, color=colors[name], linestyle="--",
                       label=f"ablation: {name}")
    others = [g for g in FRAMEWORK_GROUPS if results.names(g)]
    for group in others:  # the methods on another base framework (workflow.frameworks), dotted
        for m in results.names(group):
            frames = [r.train_log for r in results.select(group, m)]
            drawn |= _band(ax, frames, "knn_top1", 100.0, color=colors.get(m), linestyle=":",
                           label=vocabulary.method_label(m, group))
    if drawn:
        ax.set_xlabel("Epoch")
        splits = {(r.meta or {}).get("monitor_split", "test") for r in results.select("main")}
        where = {"val": "the validation split", "test": "the test set"}
        ax.set_ylabel(f"kNN top-1 on {' / '.join(where.get(s, s) for s in sorted(splits))} (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    else:
        _no_data(ax, "No online kNN values in train_log.csv")
    dotted = "".join(f"; {vocabulary.FRAMEWORKS[g]} dotted" for g in others)
    ax.set_title(f"Online kNN top-1 during pretraining on {dataset_label(results)}\n"
                 f"(mean ± std over seeds; ablations dashed{dotted})")
    return fig


# --------------------------------------------------------------------------- Figure 5

def detection_points(results: Results) -> list[dict]:
    """One point per detecting run group (main methods and ablations): the seed-paired linear
    gain over SimCLR, and the final pair precision and recall of what it removed (means over
    the seeds that have both)."""
    base = results.metric("main", "simclr", "linear")
    points = []
    groups = [("main", m) for m in results.names("main") if m in vocabulary.DETECTING]
    groups += [("ablation", a) for a in results.names("ablation")]
    for group, name in groups:
        gain = paired_difference(results.metric(group, name, "linear"), base)
        precision = results.final_batch_stat(group, name, "fn_precision")
        recall = results.final_batch_stat(group, name, "fn_recall")
        seeds = sorted(set(precision) & set(recall))
        if not gain.n or not seeds:
            continue
        points.append({"group": group, "name": name, "gain": gain,
                       "precision": float(np.mean([precision[s] for s in seeds])),
                       "recall": float(np.mean([recall[s] for s in seeds]))})
    return points


def fig5_gain_vs_detection(results: Results) -> Figure:
    fig = Figure(figsize=(13, 5.0), layout="constrained")
    axes = fig.subplots(1, 2)
    points = detection_points(results)
    colors = _colors(results)
    for ax, x, xlabel in ((axes[0], "precision", "Pair precision of the removed false negatives (%)"),
                          (axes[1], "recall", "Pair recall of the removed false negatives (%)")):
        if not points:
            _no_data(ax, "No detecting run with seed-matched SimCLR results")
            continue
        for p in points:
            g = p["gain"]
            err = ([[100 * (g.mean - g.ci_low)], [100 * (g.ci_high - g.mean)]] if g.n > 1 else None)
            label = (METHOD_LABELS.get(p["name"], p["name"]) if p["group"] == "main"
                     else f"ablation: {p['name']}")
            ax.errorbar([100 * p[x]], [100 * g.mean], yerr=err, marker="o" if p["group"] == "main" else "s",
                        capsize=4, linestyle="none", color=colors.get(p["name"]), label=f"{label} (n={g.n})")
            ax.annotate(p["name"], (100 * p[x], 100 * g.mean), textcoords="offset points",
                        xytext=(6, 4), fontsize=8, color=colors.get(p["name"]))
        ax.axhline(0, color="0.5", linewidth=0.8)
        _floor_lines(ax, results, x, vertical=True)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Linear top-1 − SimCLR (percentage points)")
        ax.set_xlim(0, 105)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Linear gain over SimCLR against detection quality on {dataset_label(results)} "
                 f"({results.split_name} split; error bars: 95% CI of the seed-paired difference)")
    _legend(fig, axes)
    return fig


def fig6_attribution(results: Results) -> Figure:
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, structured in zip(axes, (False, True)):
        chain = attribution_chain(results, structured)
        errors = "structured" if structured else "random"
        if chain is None:
            _no_data(ax, f"The attribution controls ({errors} errors) have not all run")
            continue
        steps = dict(chain)
        labels = ["oracle gain", "schedule", "detection quality", "the rest", "IFND gain"]
        level, bottoms, heights = 0.0, [], []
        for key in ("gain", "schedule", "detection", "ifnd"):
            d = 100 * steps[key].mean
            if key == "gain":
                bottoms.append(0.0)
                heights.append(d)
                level = d
            else:  # a loss brings the level down
                bottoms.append(level - d)
                heights.append(d)
                level -= d
        bottoms.append(0.0)
        heights.append(100 * steps["ifnd_gain"].mean)
        colours = ["tab:green", "tab:red", "tab:red", "tab:red", "tab:orange"]
        xs = np.arange(len(labels))
        ax.bar(xs, heights, bottom=bottoms, color=colours, edgecolor="0.2", width=0.6)
        for x, key in zip(xs, ("gain", "schedule", "detection", "ifnd", "ifnd_gain")):
            s = steps[key]
            if s.n > 1:
                top = bottoms[x] + heights[x] if key in ("gain", "ifnd_gain") else bottoms[x] + heights[x]
                ax.errorbar([x], [top], yerr=[[100 * (s.mean - s.ci_low)], [100 * (s.ci_high - s.mean)]],
                            color="0.1", capsize=4)
            ax.annotate(f"{100 * s.mean:+.2f}", (x, bottoms[x] + max(heights[x], 0)),
                        textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_xticks(xs, labels, rotation=20)
        ax.set_title(f"{errors} errors (n = {steps['gain'].n})")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("Linear top-1 over SimCLR (percentage points)")
    fig.suptitle(f"Where the oracle's gain goes on {dataset_label(results)} ({results.split_name} split; "
                 "losses in red, seed-paired means with 95% intervals)")
    return fig


DRAW = {
    "fig1_false_negative_effect": fig1_false_negative_effect,
    "fig2_fn_over_epochs": fig2_fn_over_epochs,
    "fig3_acceptance_quality": fig3_acceptance_quality,
    "fig4_knn_over_epochs": fig4_knn_over_epochs,
    "fig5_gain_vs_detection": fig5_gain_vs_detection,
    "fig6_attribution": fig6_attribution,
}


def draw_figures(results: Results, out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for name, draw in DRAW.items():
        path = out_dir / f"{name}.png"
        save_png(draw(results), path)
        written.append(path)
    return written


# --------------------------------------------------------------------------- command line

def add_arguments(parser) -> None:
    add_results_arguments(parser, "figures")


def run(args) -> int:
    results = results_of(args)
    out = Path(args.out) if args.out else Path(args.results) / "figures"
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    written = draw_figures(results, out)
    print(f"wrote {len(written)} figures to {out}")
    return 0
