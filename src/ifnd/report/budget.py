"""The budget study's figure: does IFND's benefit grow as the encoder improves?

    ifnd budget --results results/budget-e15 results/budget-e40 results/budget-e120 --out DIR

Each results folder is one experiment of the study (config/budget/*.yaml: the same data, model
and methods at one training budget). From each folder's committed per-seed tables (Table 1,
Table 3 and Table 4 ``*_per_seed.csv``) and detection floors it reads, per seed: IFND − SimCLR
and oracle − SimCLR in linear top-1, the schedule-matched oracle where it ran, and IFND's final
in-batch detection precision. It writes DIR/budget.csv (one row per budget: IFND's share of the
oracle gain with its 95% t interval over seeds, the gains themselves, the precision and the pixel
floor) and DIR/budget.png (share of the oracle gain, and detection precision with its floors,
against the number of epochs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..fileio import atomic_output, atomic_write_text
from .collect import read_detect_floor, read_yaml_mapping
from .stats import summarise

__all__ = ["budget_rows", "draw", "run", "add_arguments"]


def _per_seed(path: Path, row: str, column: str) -> dict[int, float]:
    """seed -> value of one (row, column) of a ``*_per_seed.csv``."""
    if not path.is_file():
        raise UserError(f"{path} is missing: run the experiment's `ifnd tables` first")
    frame = pd.read_csv(path)
    part = frame[(frame["row"] == row) & (frame["column"] == column)]
    return {int(s): float(v) for s, v in zip(part["seed"], part["value"])}


def _epochs(root: Path) -> int:
    """The experiment's training budget, from the config a run recorded."""
    configs = sorted((root / "runs" / "main").glob("*/s*/config.resolved.yaml"))
    if configs:
        try:
            return int(read_yaml_mapping(configs[0])["train"]["epochs"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{configs[0]}: no train.epochs") from None
    raise UserError(f"{root} holds no run config (runs/main/*/s*/config.resolved.yaml) to read the budget from")


def budget_rows(roots: list[Path], epochs: list[int] | None = None) -> pd.DataFrame:
    """One row per experiment folder, sorted by the budget (epochs)."""
    rows = []
    for i, root in enumerate(roots):
        tables = root / "tables"
        t1 = tables / "table1_linear_per_seed.csv"
        ifnd = _per_seed(t1, "diff:ifnd-simclr", "linear_top1_pct")
        oracle = _per_seed(t1, "diff:oracle-simclr", "linear_top1_pct")
        seeds = sorted(set(ifnd) & set(oracle))
        share = summarise({s: ifnd[s] / oracle[s] for s in seeds if oracle[s] > 0})
        precision = summarise(_per_seed(tables / "table4_fn_stats_per_seed.csv", "main:ifnd", "fn_precision_pct"))
        floors = [read_detect_floor(p) for p in sorted((root / "reference" / "detect_floor").glob("s*.json"))]
        pixel = [float(f[(f["space"] == "pixels") & (f["rate"] == f["rate"].max())]["precision"].iloc[0])
                 for f in floors if (f["space"] == "pixels").any()]
        gain, ogain = summarise(ifnd), summarise(oracle)
        row = {"experiment": root.name, "epochs": epochs[i] if epochs else _epochs(root), "seeds": share.n}
        for name, stat in (("share", share), ("ifnd_gain", gain), ("oracle_gain", ogain),
                           ("ifnd_precision", precision)):
            row.update({f"{name}_mean": stat.mean, f"{name}_ci_low": stat.ci_low, f"{name}_ci_high": stat.ci_high})
        row["pixel_floor_precision"] = 100 * float(np.mean(pixel)) if pixel else np.nan
        rows.append(row)
    return pd.DataFrame(rows).sort_values("epochs").reset_index(drop=True)


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
    left.axhline(0, color="0.5", linewidth=0.8)
    left.set_ylabel("IFND − SimCLR as % of oracle − SimCLR (linear top-1)")
    _band(right, frame, "ifnd_precision", 1.0, color="tab:orange", label="IFND's detection precision")
    # a tick per budget as well as the line, so that a study of one budget shows its floor
    right.plot(frame["epochs"], frame["pixel_floor_precision"], color="0.2", linestyle=(0, (1, 1)),
               marker="_", markersize=18, label="floor: the detector on raw pixels")
    right.set_ylabel("Pair precision at the end of training (%)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(frame["epochs"], [str(e) for e in frame["epochs"]])
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
