"""When to cluster and how many pseudo-labels to accept (docs/method.md: Clustering step, 4).

Epochs are 0-based. With ``w = fnd.warmup_epochs``, ``R = fnd.ramp_end_epoch``,
``r0 = fnd.rate_start`` and ``rm = fnd.rate_max``:

* clustering happens at the start of epoch ``e`` iff ``e >= w and (e - w) % cluster_every == 0``;
* ``r(e) = 0`` for ``e < w`` (no false negatives during warm-up), and for ``e >= w``:

  - ``linear``: ``r(e) = r0 + (rm - r0) * min(1, (e - w) / (R - w))``; ``rm`` if ``R <= w``;
  - ``step``: ``r(e) = rm * (q + 1) / 4`` with ``q = floor(4 (e - w) / (R - w))`` for
    ``w <= e < R`` (four equal quarters of the ramp at 1/4, 1/2, 3/4, 1 of ``rm``); ``rm`` for
    ``e >= R`` or if ``R <= w``. ``r0`` is not used;
  - ``all``: ``r(e) = rm`` (the non-incremental ablation). ``r0`` is not used.

The rate in force between two clusterings is the one computed at the last clustering (the
detector keeps it).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SCHEDULES", "is_cluster_epoch", "acceptance_rate"]

SCHEDULES = ("linear", "step", "all")


def is_cluster_epoch(epoch: int, fnd_cfg: Mapping) -> bool:
    """True iff pseudo-labels are (re)computed at the start of 0-based ``epoch``."""
    w = int(fnd_cfg["warmup_epochs"])
    every = int(fnd_cfg["cluster_every"])
    if every < 1:
        raise ValueError(f"fnd.cluster_every must be >= 1, got {every}")
    return epoch >= w and (epoch - w) % every == 0


def acceptance_rate(epoch: int, fnd_cfg: Mapping) -> float:
    """Scheduled acceptance rate in [0, 1] at 0-based ``epoch`` (formula: module docstring)."""
    w = int(fnd_cfg["warmup_epochs"])
    if epoch < w:
        return 0.0
    kind = fnd_cfg["schedule"]
    rm = float(fnd_cfg["rate_max"])
    r_end = int(fnd_cfg["ramp_end_epoch"])
    if kind == "all":
        rate = rm
    elif kind == "linear":
        r0 = float(fnd_cfg["rate_start"])
        if r_end <= w or epoch >= r_end:
            rate = rm
        else:
            rate = r0 + (rm - r0) * (epoch - w) / (r_end - w)
    elif kind == "step":
        if r_end <= w or epoch >= r_end:
            rate = rm
        else:
            q = (4 * (epoch - w)) // (r_end - w)
            rate = rm * (q + 1) / 4.0
    else:
        raise ValueError(f"unknown fnd.schedule {kind!r}; expected one of {SCHEDULES}")
    return float(min(1.0, max(0.0, rate)))
