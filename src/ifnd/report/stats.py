"""Summaries over seeds for the tables, figures and report: mean, sample std and the t
confidence interval, of values or of seed-paired differences (docs/method.md, What gets
measured), and the verdict a paired interval gives."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from scipy import stats as sps

__all__ = ["Stat", "summarise", "paired_difference", "verdict"]


@dataclass(frozen=True)
class Stat:
    """Summary of values over seeds (or of paired differences): NaN where undefined."""

    n: int
    mean: float = math.nan
    std: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    seeds: tuple = ()

    def scaled(self, factor: float) -> "Stat":
        return Stat(self.n, self.mean * factor, self.std * factor, self.ci_low * factor,
                    self.ci_high * factor, self.seeds)


def summarise(values: Mapping[int, float] | Iterable[float], confidence: float = 0.95) -> Stat:
    """Mean, sample std (ddof = 1) and the t confidence interval of the mean.

    With one value the std and interval are NaN; with none everything is NaN and n = 0.
    """
    seeds = tuple(sorted(values)) if isinstance(values, Mapping) else ()
    x = np.asarray([values[s] for s in seeds] if isinstance(values, Mapping) else list(values), dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Stat(0, seeds=seeds)
    mean = float(x.mean())
    if n == 1:
        return Stat(1, mean, seeds=seeds)
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Stat(n, mean, std, mean - half, mean + half, seeds)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95) -> Stat:
    """``a - b`` over the seeds both have (NaN values left out), summarised with a t interval."""
    seeds = sorted(s for s in set(a) & set(b) if np.isfinite(a[s]) and np.isfinite(b[s]))
    return summarise({s: a[s] - b[s] for s in seeds}, confidence)


def verdict(stat: Stat) -> str:
    """What a paired difference says: ``"above zero"`` or ``"below zero"`` where its interval
    excludes zero, ``"not resolved"`` where it includes it, ``"one seed"`` without an interval
    and ``"no data"`` without any pair."""
    if stat.n == 0:
        return "no data"
    if stat.n == 1:
        return "one seed"
    if stat.ci_low > 0:
        return "above zero"
    if stat.ci_high < 0:
        return "below zero"
    return "not resolved"
