"""Summaries over seeds for the tables, figures and report: mean, sample std and the t
confidence interval, of values or of seed-paired differences (docs/method.md, What gets
measured), and the verdict a paired interval gives."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from scipy import stats as sps

__all__ = ["Stat", "summarise", "paired_difference", "unpaired_difference", "verdict", "p_value",
           "holm", "detectable_effect", "slope", "partial_slope"]


@dataclass(frozen=True)
class Stat:
    """Summary of values over seeds (or of paired differences): NaN where undefined.
    ``seeds`` and ``values`` are the per-seed values it summarises (empty for plain values)."""

    n: int
    mean: float = math.nan
    std: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    seeds: tuple = ()
    values: tuple = ()

    def scaled(self, factor: float) -> "Stat":
        return Stat(self.n, self.mean * factor, self.std * factor, self.ci_low * factor,
                    self.ci_high * factor, self.seeds, tuple(v * factor for v in self.values))


def summarise(values: Mapping[int, float] | Iterable[float], confidence: float = 0.95) -> Stat:
    """Mean, sample std (ddof = 1) and the t confidence interval of the mean.

    With one value the std and interval are NaN; with none everything is NaN and n = 0.
    """
    if isinstance(values, Mapping):
        pairs = [(s, float(values[s])) for s in sorted(values) if np.isfinite(values[s])]
        seeds, x = tuple(s for s, _ in pairs), np.asarray([v for _, v in pairs], dtype=float)
        kept = tuple(float(v) for v in x)
    else:
        seeds, kept = (), ()
        x = np.asarray(list(values), dtype=float)
        x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Stat(0, seeds=seeds)
    mean = float(x.mean())
    if n == 1:
        return Stat(1, mean, seeds=seeds, values=kept)
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Stat(n, mean, std, mean - half, mean + half, seeds, kept)


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


def unpaired_difference(a: Mapping[int, float] | Iterable[float], b: Mapping[int, float] | Iterable[float],
                        confidence: float = 0.95) -> Stat:
    """``mean(a) - mean(b)`` of two independent samples with Welch's t interval (for groups that
    share no pairing: runs of different class subsets share only a seed number). ``std`` is the
    difference's standard error times sqrt(n) with n = the smaller group, so that
    :func:`p_value` and :func:`detectable_effect` stay conservative."""
    xa = np.asarray(list(a.values()) if isinstance(a, Mapping) else list(a), dtype=float)
    xb = np.asarray(list(b.values()) if isinstance(b, Mapping) else list(b), dtype=float)
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    if xa.size == 0 or xb.size == 0:
        return Stat(0)
    mean = float(xa.mean() - xb.mean())
    n = int(min(xa.size, xb.size))
    if xa.size < 2 or xb.size < 2:
        return Stat(1, mean)
    va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Stat(n, mean, 0.0, mean, mean)
    dof = (va + vb) ** 2 / (va ** 2 / (xa.size - 1) + vb ** 2 / (xb.size - 1))
    half = float(sps.t.ppf(0.5 + confidence / 2, dof)) * se
    return Stat(n, mean, se * math.sqrt(n), mean - half, mean + half)


def p_value(stat: Stat) -> float:
    """Two-sided p of the one-sample t test of ``stat.mean == 0`` (a paired difference's
    summary); NaN without an interval."""
    if stat.n < 2 or not np.isfinite(stat.std):
        return math.nan
    if stat.std == 0:
        return 0.0 if stat.mean != 0 else 1.0
    t = stat.mean / (stat.std / math.sqrt(stat.n))
    return float(2 * sps.t.sf(abs(t), stat.n - 1))


def holm(p_values: Mapping[str, float], alpha: float = 0.05) -> dict[str, tuple[float, bool]]:
    """Holm's step-down correction over one family of tests: name -> (adjusted p, rejected at
    ``alpha``). NaN p-values are left out of the family and come back as (NaN, False)."""
    finite = sorted(((p, k) for k, p in p_values.items() if np.isfinite(p)))
    m = len(finite)
    out: dict[str, tuple[float, bool]] = {k: (math.nan, False) for k in p_values}
    running, still = 0.0, True
    for i, (p, k) in enumerate(finite):
        running = max(running, min(1.0, (m - i) * p))
        still = still and running <= alpha
        out[k] = (running, still)
    return out


def detectable_effect(std: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided one-sample (paired) t test at ``alpha``
    detects with probability ``power`` from ``n`` pairs whose differences spread by ``std``:
    ``(t_{1-alpha/2, n-1} + t_{power, n-1}) * std / sqrt(n)`` (the usual approximation that
    ignores the non-centrality's skew). NaN below two pairs."""
    if n < 2 or not np.isfinite(std):
        return math.nan
    return float((sps.t.ppf(1 - alpha / 2, n - 1) + sps.t.ppf(power, n - 1)) * std / math.sqrt(n))


def slope(series: Mapping[int, Mapping[float, float]], confidence: float = 0.95) -> Stat:
    """The trend of a quantity over training: per seed, the least-squares slope of the values
    against the epoch (``series[seed][epoch]``, at least two epochs), summarised over the seeds
    with a t interval (units per epoch). One seed gives the slope without an interval."""
    slopes = {}
    for seed, points in series.items():
        xs = np.asarray(list(points), dtype=float)
        ys = np.asarray([points[x] for x in points], dtype=float)
        ok = np.isfinite(ys)
        if ok.sum() >= 2 and np.ptp(xs[ok]) > 0:
            slopes[seed] = float(np.polyfit(xs[ok], ys[ok], 1)[0])
    return summarise(slopes, confidence)


def partial_slope(y: Iterable[float], x: Iterable[float], control: Iterable[float],
                  confidence: float = 0.95) -> Stat:
    """The least-squares coefficient of ``x`` in ``y ~ 1 + x + control`` (the change of ``y``
    per unit of ``x`` with ``control`` held fixed), with its t interval on n - 3 degrees of
    freedom; ``n`` is the number of points, ``std`` the coefficient's standard error. Fewer than
    four points, or ``x`` and ``control`` collinear, give the coefficient without an interval
    (or nothing)."""
    y, x, c = (np.asarray(list(v), dtype=float) for v in (y, x, control))
    ok = np.isfinite(y) & np.isfinite(x) & np.isfinite(c)
    y, x, c = y[ok], x[ok], c[ok]
    n = int(y.size)
    if n < 3:
        return Stat(n)
    design = np.column_stack([np.ones(n), x, c])
    if np.linalg.matrix_rank(design) < 3:
        return Stat(n)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    if n == 3:
        return Stat(n, float(coef[1]))
    resid = y - design @ coef
    sigma2 = float(resid @ resid) / (n - 3)
    se = math.sqrt(sigma2 * float(np.linalg.inv(design.T @ design)[1, 1]))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 3)) * se
    return Stat(n, float(coef[1]), se, float(coef[1]) - half, float(coef[1]) + half)
