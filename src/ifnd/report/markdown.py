"""Markdown for the tables and the report: how a metric, a summary over seeds and a paired
difference are written, and a GitHub table of a frame of strings."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .stats import Stat

__all__ = ["Metric", "fmt_value", "fmt_diff", "markdown_table", "shortened", "run_counts"]


@dataclass(frozen=True)
class Metric:
    """How one quantity is stored (CSV column stem, scale) and shown (header, decimals)."""

    key: str          # CSV column stem
    header: str       # markdown column header
    scale: float = 100.0   # fractions are stored and shown in percent
    decimals: int = 2


def fmt_value(stat: Stat | None, metric: Metric, row_n: int | None = None) -> str:
    """``"80.12 ± 0.34"``; a single value without ±; ``" (n=k)"`` when n differs from the row's."""
    if stat is None or stat.n == 0:
        return "–"
    s = stat.scaled(metric.scale)
    d = metric.decimals
    text = f"{s.mean:.{d}f}" + (f" ± {s.std:.{d}f}" if s.n > 1 else "")
    if row_n is not None and s.n != row_n:
        text += f" (n={s.n})"
    return text


def fmt_diff(stat: Stat | None, metric: Metric) -> str:
    """``"+0.81 [-0.20, +1.82]"``: the mean paired difference and its 95% CI (n/a for n = 1)."""
    if stat is None or stat.n == 0:
        return "–"
    s = stat.scaled(metric.scale)
    d = metric.decimals
    if s.n == 1:
        return f"{s.mean:+.{d}f} (CI n/a, n=1)"
    return f"{s.mean:+.{d}f} [{s.ci_low:+.{d}f}, {s.ci_high:+.{d}f}]"


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table of a frame of strings (no dependency on tabulate)."""
    def cell(v) -> str:
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def shortened(items, limit: int) -> str:
    """``"a, b, … (3 more)"``: the first ``limit`` items, comma-separated, then how many were left out."""
    items = list(items)
    return ", ".join(items[:limit]) + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def run_counts(counts) -> str:
    """``"x (3 runs), y (1 run)"`` from a Counter, most common first."""
    return ", ".join(f"{k} ({n} run{'' if n == 1 else 's'})" for k, n in counts.most_common())
