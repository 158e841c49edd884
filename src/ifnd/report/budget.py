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
precision and the floor, each a mean with its 95% t interval over seeds) and DIR/budget.png
(the shares, and detection precision with its floor, against the number of epochs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..fileio import atomic_output, atomic_write_text
from .collect import detect_floor_at, read_detect_floor, read_yaml_mapping
from .stats import summarise

__all__ = ["budget_rows", "draw", "run", "add_arguments"]


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


def budget_rows(roots: list[Path]) -> pd.DataFrame:
    """One row per budget (epochs), sorted: the experiment folders of one budget (chunks of its
    seeds, each run in a session of its own) are pooled, each seed counted once."""
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
    rows = []
    for epochs, entry in sorted(pooled.items()):
        v = entry["values"]
        seeds = sorted(set(v["ifnd_gain"]) & set(v["oracle_gain"]))
        stats = {"share": summarise({s: v["ifnd_gain"][s] / v["oracle_gain"][s] for s in seeds
                                     if v["oracle_gain"][s] > 0}),
                 **{name: summarise(v[name]) for name in ("ifnd_gain", "oracle_gain", "scheduled_gain",
                                                          "ifnd_precision", "pixel_floor_precision")}}
        row = {"experiment": "+".join(entry["experiments"]), "epochs": epochs, "seeds": stats["share"].n}
        for name, stat in stats.items():
            row.update({f"{name}_mean": stat.mean, f"{name}_ci_low": stat.ci_low, f"{name}_ci_high": stat.ci_high})
        rows.append(row)
    return pd.DataFrame(rows)


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
    parser.add_argument("--out", required=True, help="output folder (budget.csv, budget.png)")


def run(args) -> int:
    roots = [Path(r) for r in args.results]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise UserError(f"results folder(s) not found: {', '.join(missing)}")
    frame = budget_rows(roots)
    out = Path(args.out)
    atomic_write_text(out / "budget.csv", frame.to_csv(index=False, float_format="%.4f"))
    draw(frame, out / "budget.png")
    print(f"budget study over {', '.join(map(str, frame['epochs']))} epochs -> {out}/budget.csv, budget.png")
    return 0
