"""Two experiments of the same design compared seed by seed: did the numbers move?

    ifnd compare --results results/fashion-mnist --against results/fashion-mnist-fp32 --out DIR

The question is one of reproducibility, not of method: the same runs (same methods, seeds and
settings but one, such as the precision or the CPU kind) made twice. Run ``s`` of one
experiment and run ``s`` of the other start from the same weights, data order and
augmentations, so each row of the experiments' per-seed tables (Tables 1, 2 and 4,
``*_per_seed.csv``) is compared as a paired difference over the seeds both have: AGAINST −
RESULTS, with its 95% t interval, the smallest difference the seeds could detect (80% power,
two-sided 5%) and Holm's correction over every row that varies. Rows such as
``diff:ifnd-simclr`` compare a method's gain, so they say whether a conclusion moved, not only
a number. Beside each row: the spread between seeds within RESULTS, the scale on which a
difference matters. The hardware of each experiment's runs (meta.json) and the resolved
settings that differ are listed first.

Writes DIR/compare.csv (one row per table row and column) and DIR/compare.md.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..fileio import atomic_write_text
from .collect import read_yaml_mapping
from .markdown import markdown_table, run_counts
from .provenance import hardware, run_code_versions
from .stats import Stat, detectable_effect, holm, p_value, paired_difference, summarise

__all__ = ["per_seed_values", "compare_rows", "settings_differences", "compare_markdown", "run", "add_arguments"]

TABLES = ("table1_linear", "table2_semisup", "table4_fn_stats")
# Table 4's rows of the main methods only; the others' every row
TABLE4_ROWS = ("main:",)


def per_seed_values(root: Path) -> dict[tuple[str, str, str], dict[int, float]]:
    """(table, row, column) -> seed -> value, from an experiment's ``tables/*_per_seed.csv``."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    found = False
    for table in TABLES:
        path = root / "tables" / f"{table}_per_seed.csv"
        if not path.is_file():
            continue
        found = True
        try:
            frame = pd.read_csv(path)
            missing = {"row", "column", "seed", "value"} - set(frame.columns)
            if missing:
                raise UserError(f"{path}: no column {', '.join(sorted(missing))}")
            for row, column, seed, value in zip(frame["row"], frame["column"], frame["seed"], frame["value"]):
                if table == "table4_fn_stats" and not str(row).startswith(TABLE4_ROWS):
                    continue
                out.setdefault((table, str(row), str(column)), {})[int(seed)] = float(value)
        except (ValueError, pd.errors.ParserError) as exc:
            raise UserError(f"{path}: not a per-seed table ({str(exc).splitlines()[0]})") from None
    if not found:
        names = ", ".join(f"{t}_per_seed.csv" for t in TABLES)
        raise UserError(f"{root / 'tables'} holds no per-seed table ({names}): run its `ifnd tables` first")
    return out


def compare_rows(a: dict, b: dict) -> pd.DataFrame:
    """One row per (table, row, column) both experiments have on at least one common seed."""
    rows = []
    for key in sorted(set(a) & set(b)):
        seeds = sorted(set(a[key]) & set(b[key]))
        if not seeds:
            continue
        diff = paired_difference({s: b[key][s] for s in seeds}, {s: a[key][s] for s in seeds})
        spread = summarise({s: a[key][s] for s in seeds})
        identical = all(a[key][s] == b[key][s] for s in seeds)
        rows.append({"table": key[0], "row": key[1], "column": key[2], "n": diff.n,
                     "results_mean": float(np.mean([a[key][s] for s in seeds])),
                     "against_mean": float(np.mean([b[key][s] for s in seeds])),
                     "diff_mean": diff.mean, "diff_ci_low": diff.ci_low, "diff_ci_high": diff.ci_high,
                     "diff_std": diff.std, "seed_std": spread.std,
                     "detectable": float("nan") if identical else detectable_effect(diff.std, diff.n),
                     "identical": identical, "p": _p(diff, identical)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise UserError("the two experiments share no table row on a common seed: nothing to compare")
    tested = {i: p for i, p in frame["p"].items() if np.isfinite(p)}
    adjusted = holm({str(i): p for i, p in tested.items()})
    frame["p_holm"] = [adjusted[str(i)][0] if str(i) in adjusted else float("nan") for i in frame.index]
    frame["resolved"] = [bool(adjusted[str(i)][1]) if str(i) in adjusted else False for i in frame.index]
    return frame


def _p(diff: Stat, identical: bool) -> float:
    """The two-sided p-value of a paired difference; NaN where it cannot vary or be tested."""
    if identical or diff.n < 2 or not np.isfinite(diff.std) or diff.std == 0:
        return float("nan")
    return p_value(diff)


def _flat(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


# settings that name the experiment, the run or its files rather than what it computes
_NOT_SETTINGS = ("workflow.", "seed", "train.seed", "out", "run")


def settings_differences(a_root: Path, b_root: Path) -> list[tuple[str, object, object]]:
    """(setting, value in RESULTS, value in AGAINST) for the resolved settings of the first
    main run both experiments have that differ, the experiment's name and paths aside."""
    for cfg in sorted((a_root / "runs" / "main").glob("*/s*/config.resolved.yaml")):
        other = b_root / cfg.relative_to(a_root)
        if other.is_file():
            fa, fb = _flat(read_yaml_mapping(cfg)), _flat(read_yaml_mapping(other))
            keys = [k for k in sorted(set(fa) | set(fb))
                    if fa.get(k) != fb.get(k) and not k.startswith(_NOT_SETTINGS)]
            return [(k, fa.get(k, "–"), fb.get(k, "–")) for k in keys]
    return []


def _metas(root: Path) -> list[dict | None]:
    """Every main, ablation and class-sweep run's meta.json (None where unreadable)."""
    out = []
    for path in sorted((root / "runs").glob("**/s*/meta.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            out.append(None)
    return out


def _hardware_and_code(root: Path) -> tuple[str, str]:
    """The hardware and the code versions of an experiment's runs, counted (one read of each meta.json)."""
    metas = _metas(root)
    if not metas:
        return "no meta.json found", "no meta.json found"

    def short(v: str) -> str:
        return f"`{v[:12]}{'-dirty' if v.endswith('-dirty') else ''}`"
    hw = Counter(hardware(m) if m is not None else "? (unreadable meta.json)" for m in metas)
    code = Counter(short(v) for m in metas if m is not None for v in run_code_versions(m))
    return run_counts(hw), run_counts(code) or "no meta.json found"


def _num(x: float, d: int = 2, sign: bool = False) -> str:
    return "–" if not np.isfinite(x) else (f"{x:+.{d}f}" if sign else f"{x:.{d}f}")


def compare_markdown(frame: pd.DataFrame, a_root: Path, b_root: Path) -> str:
    a, b = a_root.as_posix(), b_root.as_posix()
    (hw_a, code_a), (hw_b, code_b) = _hardware_and_code(a_root), _hardware_and_code(b_root)
    lines = [f"# `{b}` against `{a}`", "",
             f"Generated by `ifnd compare` from the per-seed tables of both experiments. Each row is the "
             f"paired difference `{b}` − `{a}` over the seeds both have (run s against run s: the same "
             "initial weights, data order and augmentations), with its 95% t interval; *detectable* is the "
             "smallest difference those seeds would find with 80% power (two-sided 5%); *seed SD* is the "
             f"spread between seeds within `{a}`, the scale on which a difference matters. Holm's "
             "correction runs over every row that varies.", "",
             f"- Hardware of `{a}`: {hw_a}.",
             f"- Hardware of `{b}`: {hw_b}.",
             f"- Code versions of `{a}`'s runs: {code_a}; of `{b}`'s: {code_b} (each "
             "report's Provenance says where they differ)."]
    diffs = settings_differences(a_root, b_root)
    lines.append("- Resolved settings that differ (the first main run both have; names and paths aside): "
                 + ("; ".join(f"`{k}` {va} → {vb}" for k, va, vb in diffs) if diffs else "none") + ".")
    same = frame[frame["identical"]]
    moved = frame[~frame["identical"]]
    lines.append(f"- Rows compared: {len(frame)}; identical on every common seed: {len(same)}; "
                 f"resolved after Holm: {int(frame['resolved'].sum())} of {int(np.isfinite(frame['p']).sum())} tested.")
    if len(moved):
        big = moved.loc[moved["diff_mean"].abs().idxmax()]
        lines.append(f"- Largest mean difference: `{big['row']}` {big['column']}, "
                     f"{_num(big['diff_mean'], sign=True)} [{_num(big['diff_ci_low'], sign=True)}, "
                     f"{_num(big['diff_ci_high'], sign=True)}] over {int(big['n'])} seeds (seed SD there "
                     f"{_num(big['seed_std'])}).")
    gains = frame[frame["row"].str.startswith("diff:") & ~frame["identical"]]
    for _, g in gains.iterrows():
        if g["column"] == "linear_top1_pct":
            lines.append(f"- `{g['row'][5:]}` in linear top-1: {_num(g['results_mean'], sign=True)} in `{a}`, "
                         f"{_num(g['against_mean'], sign=True)} in `{b}`; the change "
                         f"{_num(g['diff_mean'], sign=True)} [{_num(g['diff_ci_low'], sign=True)}, "
                         f"{_num(g['diff_ci_high'], sign=True)}]"
                         + (", resolved after Holm." if g["resolved"] else ", not resolved."))
    ha, hb = (a_root.name, b_root.name) if a_root.name != b_root.name else (f"{a} (results)", f"{b} (against)")
    shown = pd.DataFrame({
        "Table": frame["table"], "Row": frame["row"], "Column": frame["column"], "n": frame["n"].astype(str),
        ha: frame["results_mean"].map(_num), hb: frame["against_mean"].map(_num),
        "Difference [95% CI]": [("identical" if r["identical"] else
                                 f"{_num(r['diff_mean'], sign=True)} [{_num(r['diff_ci_low'], sign=True)}, "
                                 f"{_num(r['diff_ci_high'], sign=True)}]") for _, r in frame.iterrows()],
        "Detectable": frame["detectable"].map(_num), "Seed SD": frame["seed_std"].map(_num),
        "Holm p": frame["p_holm"].map(lambda p: _num(p, 3)),
    })
    return "\n".join(lines + ["", markdown_table(shown), ""])


def add_arguments(parser) -> None:
    parser.add_argument("--results", required=True, help="the experiment compared against (results/fashion-mnist)")
    parser.add_argument("--against", required=True, help="the same design made again (results/fashion-mnist-fp32)")
    parser.add_argument("--out", required=True, help="output folder (compare.csv, compare.md)")


def run(args) -> int:
    a_root, b_root = Path(args.results), Path(args.against)
    for root in (a_root, b_root):
        if not root.is_dir():
            raise UserError(f"results folder not found: {root}")
    frame = compare_rows(per_seed_values(a_root), per_seed_values(b_root))
    out = Path(args.out)
    atomic_write_text(out / "compare.csv", frame.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(out / "compare.md", compare_markdown(frame, a_root, b_root))
    print(f"{len(frame)} rows compared, {int(frame['resolved'].sum())} differ after Holm -> {out}/compare.csv, .md")
    return 0
