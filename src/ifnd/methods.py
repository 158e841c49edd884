"""The methods and controls a run can pretrain with: one entry each (docs/method.md).

The trainer (through :func:`ifnd.fnd.detector.build_detector`), the tables, the figures and the
report read this table; adding a method or an oracle control is one entry here plus its
detector. ``uses_labels`` marks the entries that read the training labels (the oracle and its
controls): they explain results, they are never self-supervised.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Method", "METHODS", "METHOD_ORDER", "DETECTING", "labels", "short_labels", "colours"]


@dataclass(frozen=True)
class Method:
    name: str
    label: str       # table rows and the report
    short: str       # figure legends and narrow columns
    colour: str      # matplotlib colour in every figure
    detector: str | None  # the detector kind (None: plain SimCLR, nothing removed)
    uses_labels: bool = False


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("simclr", "SimCLR", "SimCLR", "tab:blue", None),
    Method("ifnd", "SimCLR + IFND", "IFND", "tab:orange", "ifnd"),
    Method("oracle", "SimCLR + oracle FN removal (true labels)", "Oracle", "tab:green", "oracle",
           uses_labels=True),
    Method("oracle_scheduled", "Oracle on IFND's schedule (true labels, control)",
           "Oracle, IFND schedule", "tab:olive", "oracle_scheduled", uses_labels=True),
    Method("oracle_noisy", "Oracle degraded to a set precision and recall (true labels, control)",
           "Oracle, degraded", "tab:cyan", "oracle_noisy", uses_labels=True),
)}

METHOD_ORDER = tuple(METHODS)
# the methods that remove detected false negatives (and so have detection statistics)
DETECTING = tuple(name for name, m in METHODS.items() if m.detector is not None)


def labels() -> dict[str, str]:
    return {name: m.label for name, m in METHODS.items()}


def short_labels() -> dict[str, str]:
    return {name: m.short for name, m in METHODS.items()}


def colours() -> dict[str, str]:
    return {name: m.colour for name, m in METHODS.items()}
