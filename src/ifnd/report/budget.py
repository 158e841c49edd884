"""The budget study's figure: does IFND's benefit grow as the encoder improves?

    ifnd budget --results results/budget-e5 results/budget-e15 results/budget-e40-s0 ... --out DIR

Each results folder is one experiment of the study (config/budget/*.yaml: the same data, model
and methods at one training budget), or one chunk of a budget's seeds (a budget too long for one
session runs a seed or two per session, each chunk an experiment of its own): the folders of one
budget are pooled, each seed counted once. From each folder's committed per-seed tables (Table 1,
Table 3 and Table 4 ``*_per_seed.csv``) and detection floors it reads, per seed: IFND − SimCLR
and oracle − SimCLR in linear top-1, the schedule-matched oracle − SimCLR where it ran, IFND's
final in-batch detection precision and the pixel floor's at IFND's final acceptance rate. It
writes DIR/budget.csv (one row per budget: IFND's share of the oracle gain, the gains, the
precision and the floor, each a mean with its 95% t interval over seeds), DIR/budget.png
(the shares, and detection precision with its floor, against the number of epochs) and
DIR/budget.md (the same rows and the study's verdicts, by the rules of docs/method.md, Verdicts:
whether IFND pays at each budget, Holm over the budgets, and whether its gain and its detection
precision grow with the budget).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import UserError
from ..fileio import atomic_output, atomic_write_text
from .collect import detect_floor_at, read_detect_floor, read_yaml_mapping
from .markdown import Metric, fmt_diff, fmt_value, markdown_table
from .stats import Stat, detectable_effect, holm, p_value, summarise

__all__ = ["pooled_values", "budget_rows", "budget_markdown", "trend", "draw", "run", "add_arguments"]

# the per-seed quantities of the study, in percent (points for the gains)
QUANTITIES = ("ifnd_gain", "oracle_gain", "scheduled_gain", "ifnd_precision", "pixel_floor_precision")
POINTS = Metric("points", "", scale=1.0)


def _per_seed(path: Path, row: str, column: str) -> dict[int, float]:
    """seed -> value of one (row, column) of a ``*_per_seed.csv``."""
    if not path.is_file():
        raise UserError(f"{path} is missing: run the experiment's `ifnd tables` first")
    frame = pd.read_csv(path)
    part = frame[(frame["row"] == row) & (frame["column"] == column)]
    return {int(s): float(v) for s, v in zip(part["seed"], part["value"])}


def _settings(root: Path) -> tuple[int, float, str]:
    """(epochs, IFND's final acceptance rate, the pretraining settings but the seed) of an
    experiment, from the config a run recorded: the chunks of one budget must agree on the last."""
    configs = sorted((root / "runs" / "main").glob("*/s*/config.resolved.yaml"))
    if not configs:
        raise UserError(f"{root} holds no run config (runs/main/*/s*/config.resolved.yaml) to read the budget from")
    cfg = read_yaml_mapping(configs[0])
    try:
        epochs = int(cfg["train"]["epochs"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{configs[0]}: no train.epochs") from None
    rate = (cfg.get("fnd") or {}).get("rate_max")
    settings = {k: cfg.get(k) for k in ("data", "model", "augment", "fnd")}
    settings["train"] = {k: v for k, v in (cfg.get("train") or {}).items() if k != "seed"}
    return epochs, float(1.0 if rate is None else rate), json.dumps(settings, sort_keys=True, default=str)


def _seeds(root: Path) -> dict[str, dict[int, float]]:
    """The per-seed values one experiment folder gives the study (percent)."""
    tables = root / "tables"
    t1 = tables / "table1_linear_per_seed.csv"
    t3 = tables / "table3_ablations_per_seed.csv"
    simclr = _per_seed(t1, "simclr", "linear_top1_pct")
    scheduled = _per_seed(t3, "ablation:schedule_matched_oracle", "linear_top1_pct") if t3.is_file() else {}
    floors = {int(p.stem[1:]): read_detect_floor(p)
              for p in sorted((root / "reference" / "detect_floor").glob("s*.json"))}
    rate = _settings(root)[1]
    return {"ifnd_gain": _per_seed(t1, "diff:ifnd-simclr", "linear_top1_pct"),
            "oracle_gain": _per_seed(t1, "diff:oracle-simclr", "linear_top1_pct"),
            "scheduled_gain": {s: v - simclr[s] for s, v in scheduled.items() if s in simclr},
            "ifnd_precision": _per_seed(tables / "table4_fn_stats_per_seed.csv", "main:ifnd", "fn_precision_pct"),
            "pixel_floor_precision": {s: 100 * v[0] for s, v in detect_floor_at(floors, "pixels", rate).items()}}


def pooled_values(roots: list[Path]) -> dict[int, dict]:
    """epochs -> {"experiments": [folder names], "values": {quantity: {seed: value}}}: the
    experiment folders of one budget (chunks of its seeds, each run in a session of its own)
    pooled, each seed counted once."""
    pooled: dict[int, dict] = {}
    for root in roots:
        epochs, _, settings = _settings(root)
        entry = pooled.setdefault(epochs, {"experiments": [], "values": {}, "settings": settings})
        if settings != entry["settings"]:
            raise UserError(f"{root.name} and {entry['experiments'][0]} both train {epochs} epochs but with "
                            "other settings (data, model, augmentation, training or IFND): one budget's "
                            "chunks must differ only in their seeds")
        entry["experiments"].append(root.name)
        for name, per_seed in _seeds(root).items():
            into = entry["values"].setdefault(name, {})
            twice = sorted(set(into) & set(per_seed))
            if twice:
                raise UserError(f"seed(s) {twice} of the {epochs}-epoch budget appear in more than one of "
                                f"{', '.join(entry['experiments'])}: give each seed's folder once")
            into.update(per_seed)
    return dict(sorted(pooled.items()))


def _shares(values: dict) -> dict[int, float]:
    gain, oracle = values["ifnd_gain"], values["oracle_gain"]
    return {s: gain[s] / oracle[s] for s in sorted(set(gain) & set(oracle)) if oracle[s] > 0}


def _stats(entry: dict) -> dict[str, Stat]:
    """One budget's summaries over its seeds: IFND's share of the oracle gain and each quantity."""
    v = entry["values"]
    return {"share": summarise(_shares(v)), **{name: summarise(v[name]) for name in QUANTITIES}}


def budget_rows(pooled: dict[int, dict]) -> pd.DataFrame:
    """One row per budget (epochs) of :func:`pooled_values`: each quantity's mean and 95% t
    interval over the budget's seeds."""
    rows = []
    for epochs, entry in pooled.items():
        stats = _stats(entry)
        row = {"experiment": "+".join(entry["experiments"]), "epochs": epochs, "seeds": stats["share"].n}
        for name, stat in stats.items():
            row.update({f"{name}_mean": stat.mean, f"{name}_ci_low": stat.ci_low, f"{name}_ci_high": stat.ci_high})
        rows.append(row)
    return pd.DataFrame(rows)


def trend(pooled: dict[int, dict], name: str) -> tuple[Stat, float]:
    """The change of a quantity per doubling of the budget: the least-squares slope of every
    run's value (each budget and seed a run of its own) against log2(epochs), with its t
    interval and two-sided p on n - 2 degrees of freedom (``std``: the slope's standard error).
    Fewer than two budgets give nothing, three runs or fewer no interval."""
    x = [np.log2(e) for e, entry in pooled.items() for _ in entry["values"][name]]
    y = [value for entry in pooled.values() for value in entry["values"][name].values()]
    n = len(y)
    if len(set(x)) < 2:
        return Stat(n), math.nan
    fit = sps.linregress(x, y)
    if n < 4:
        return Stat(n, float(fit.slope)), math.nan
    half = float(sps.t.ppf(0.975, n - 2)) * fit.stderr
    return Stat(n, float(fit.slope), fit.stderr, fit.slope - half, fit.slope + half), float(fit.pvalue)


def _pays(pooled: dict[int, dict]) -> list[str]:
    """Per budget: IFND − SimCLR with its Holm-adjusted p over the budgets, and the verdict."""
    stats = {e: _stats(entry) for e, entry in pooled.items()}
    gains = {e: st["ifnd_gain"] for e, st in stats.items()}
    adjusted = holm({e: p_value(g) for e, g in gains.items()})
    lines, paying = [], []
    for epochs, gain in gains.items():
        oracle = stats[epochs]["oracle_gain"]
        p, held = adjusted[epochs]
        if gain.n < 2:
            verdict = "one seed: no verdict"
        elif held:
            verdict = "IFND pays" if gain.mean > 0 else "IFND costs"
            paying += [epochs] if gain.mean > 0 else []
        else:
            verdict = (f"not resolved (detectable: {detectable_effect(gain.std, gain.n):.2f} points, "
                       f"against the oracle's {oracle.mean:+.2f})")
        held_text = f", Holm-adjusted p = {p:.3g}" if np.isfinite(p) else ""
        seeds = f"{gain.n} seed{'s' if gain.n != 1 else ''}"
        lines.append(f"{epochs} epochs ({seeds}): IFND − SimCLR {fmt_diff(gain, POINTS)} points of "
                     f"linear top-1{held_text}: {verdict}.")
    judged = [e for e, g in gains.items() if g.n >= 2]
    if judged and not paying:
        lines.append(f"IFND pays at none of the budgets judged ({', '.join(map(str, judged))} epochs).")
    elif paying:
        lines.append(f"IFND pays at {', '.join(map(str, paying))} epochs.")
    return lines


TRENDS = (("ifnd_gain", "IFND − SimCLR (points of linear top-1)", "the paper's premise: IFND's benefit grows"),
          ("oracle_gain", "oracle − SimCLR (points)", "what removing the true false negatives is worth"),
          ("ifnd_precision", "IFND's detection precision (%)", "detection improves with the encoder"))


def _trends(pooled: dict[int, dict]) -> list[str]:
    lines = []
    for name, what, reading in TRENDS:
        stat, p = trend(pooled, name)
        if stat.n == 0 or not np.isfinite(stat.mean):
            continue
        if np.isfinite(stat.ci_low):
            word = "grows" if stat.ci_low > 0 else "falls" if stat.ci_high < 0 else "no trend resolved"
            lines.append(f"{what}: {fmt_diff(stat, POINTS)} per doubling of the budget ({stat.n} runs, "
                         f"p = {p:.3g}): {word} ({reading}).")
        else:
            lines.append(f"{what}: {stat.mean:+.2f} per doubling of the budget ({stat.n} runs, no interval).")
    return lines


def budget_markdown(pooled: dict[int, dict]) -> str:
    """The study's rows (mean ± std, or [95% CI] for the gains) and its verdicts."""
    shown = []
    for epochs, entry in pooled.items():
        v = _stats(entry)
        share = v["share"].scaled(100.0)
        shown.append({"Epochs": epochs, "Seeds": v["ifnd_gain"].n, "Folders": " + ".join(entry["experiments"]),
                      "IFND − SimCLR": fmt_diff(v["ifnd_gain"], POINTS),
                      "Oracle − SimCLR": fmt_diff(v["oracle_gain"], POINTS),
                      "Oracle on IFND's schedule − SimCLR": fmt_diff(v["scheduled_gain"], POINTS),
                      "IFND's share of the oracle gain (%)": fmt_value(share, POINTS),
                      "IFND's detection precision (%)": fmt_value(v["ifnd_precision"], POINTS),
                      "Pixel floor (%)": fmt_value(v["pixel_floor_precision"], POINTS)})
    text = ["### The budget study: does IFND's benefit grow with the budget?", "",
            markdown_table(pd.DataFrame(shown)), "",
            "Differences are paired over seeds (linear top-1): mean [95% t interval]; "
            "precisions: mean ± std, IFND's in-batch precision at the last epoch and the raw-pixel "
            "detector's at IFND's final acceptance rate.", "",
            "#### Does IFND pay at each budget? (Holm over the budgets)", "",
            *[f"- {line}" for line in _pays(pooled)], "",
            "#### Trends with the budget (every run a point: least squares against log2 epochs)", "",
            *([f"- {line}" for line in _trends(pooled)] or ["- One budget: no trend."]), ""]
    return "\n".join(text)


def _band(ax, frame: pd.DataFrame, name: str, scale: float, **style) -> None:
    x = frame["epochs"].to_numpy()
    mean = scale * frame[f"{name}_mean"].to_numpy()
    ax.plot(x, mean, marker="o", **style)
    low, high = scale * frame[f"{name}_ci_low"].to_numpy(), scale * frame[f"{name}_ci_high"].to_numpy()
    if np.isfinite(low).any():
        ax.fill_between(x, low, high, alpha=0.2, color=style.get("color"))


def draw(frame: pd.DataFrame, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    _band(left, frame, "share", 100.0, color="tab:orange", label="IFND's share of the oracle gain")
    if frame["scheduled_gain_mean"].notna().any():
        shares = 100 * frame["scheduled_gain_mean"] / frame["oracle_gain_mean"]
        left.plot(frame["epochs"], shares, color="tab:green", marker="s", linestyle="--",
                  label="the perfect detector on IFND's schedule (ratio of means)")
    left.axhline(0, color="0.5", linewidth=0.8)
    left.set_ylabel("IFND − SimCLR as % of oracle − SimCLR (linear top-1)")
    _band(right, frame, "ifnd_precision", 1.0, color="tab:orange", label="IFND's detection precision")
    # a tick per budget as well as the line, so that a study of one budget shows its floor
    right.plot(frame["epochs"], frame["pixel_floor_precision_mean"], color="0.2", linestyle=(0, (1, 1)),
               marker="_", markersize=18, label="floor: the detector on raw pixels")
    right.set_ylabel("Pair precision at the end of training (%)")
    right.set_ylim(bottom=0)  # from zero, so that the floor reads as a level, not as the plot's edge
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(frame["epochs"], [str(e) for e in frame["epochs"]])
        ax.minorticks_off()  # the log axis's own minor labels ("6 x 10^0") say nothing here
        ax.set_xlabel("Training budget (epochs)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Does IFND's benefit grow with the budget? (means over seeds, 95% t intervals)")
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def add_arguments(parser) -> None:
    parser.add_argument("--results", nargs="+", required=True,
                        help="the study's experiment folders (results/budget-e15 ...)")
    parser.add_argument("--out", required=True, help="output folder (budget.csv, budget.md, budget.png)")


def run(args) -> int:
    roots = [Path(r) for r in args.results]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise UserError(f"results folder(s) not found: {', '.join(missing)}")
    pooled = pooled_values(roots)
    frame = budget_rows(pooled)
    out = Path(args.out)
    atomic_write_text(out / "budget.csv", frame.to_csv(index=False, float_format="%.4f"))
    atomic_write_text(out / "budget.md", budget_markdown(pooled))
    draw(frame, out / "budget.png")
    print(f"budget study over {', '.join(map(str, frame['epochs']))} epochs -> {out}/budget.csv, .md, .png")
    return 0
