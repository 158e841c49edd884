"""The method registry's detectors: which detector a method's name builds
(:mod:`ifnd.vocabulary` names the kind; this maps the kind to its class)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..vocabulary import METHODS
from .controls import MatchedOracleDetector, NoisyOracleDetector, ScheduledOracleDetector
from .detector import FalseNegativeDetector, OracleDetector

__all__ = ["DETECTORS", "build_detector"]

# detector kind (vocabulary.Method.detector) -> class; ifnd's takes no labels, the oracles do
DETECTORS = {"ifnd": FalseNegativeDetector, "oracle": OracleDetector,
             "oracle_scheduled": ScheduledOracleDetector, "oracle_noisy": NoisyOracleDetector,
             "oracle_matched": MatchedOracleDetector}


def build_detector(method: str, fnd_cfg: Mapping, run_seed: int,
                   true_labels: np.ndarray | None = None
                   ) -> FalseNegativeDetector | OracleDetector | None:
    """The detector of ``method`` (its ``detector`` entry in :mod:`ifnd.vocabulary`): ``simclr`` ->
    None, ``ifnd`` -> :class:`FalseNegativeDetector`, ``oracle`` -> :class:`OracleDetector`,
    and the attribution controls of :mod:`ifnd.fnd.controls` (all oracles need ``true_labels``)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    kind = METHODS[method].detector
    if kind is None:
        return None
    if kind == "ifnd":
        return FalseNegativeDetector(fnd_cfg, run_seed)
    if true_labels is None:
        raise ValueError(f"the {method} detector needs the training labels")
    return DETECTORS[kind](true_labels, fnd_cfg, run_seed)
