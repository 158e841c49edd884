"""Incremental False Negative Detection (IFND) for contrastive learning.

The pieces of the method, for use in your own training loop (docs/library.md)::

    from ifnd import FalseNegativeDetector, build_model, ifnd_loss, load_config

* losses: :func:`ifnd_loss` (the training loss), :func:`contrastive_loss` (NT-Xent with one
  false-negative mask), :func:`false_negative_mask` (in-batch masks from pseudo-labels),
  :func:`combine_levels`;
* detection: :class:`FalseNegativeDetector` (hierarchical spherical k-means, confidence ranking,
  incremental acceptance), :class:`OracleDetector` (true labels), :func:`build_detector`, and
  the steps it is made of (:func:`spherical_kmeans`, :func:`cluster_confidence`,
  :func:`acceptance_rate`, :func:`accepted_mask`);
* models: :func:`build_model` (backbone + projection head), :func:`build_backbone`,
  :func:`load_pretrained` (a run folder's model);
* config: :func:`load_config` (the packaged default when no file is given),
  :func:`default_config_path`;
* checkpoints: :func:`to_torchvision` and :func:`torchvision_backbone` (``ifnd export``);
* :class:`UserError`: the exception for bad input (configs, data, paths, checkpoints).

The method and its defaults: docs/method.md. Names are imported on first use, so ``import
ifnd`` (and the ``ifnd`` command line) does not load torch or faiss until they are needed.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ifnd_loss": "ifnd.losses",
    "contrastive_loss": "ifnd.losses",
    "false_negative_mask": "ifnd.fnd.masks",
    "combine_levels": "ifnd.losses",
    "FalseNegativeDetector": "ifnd.fnd",
    "OracleDetector": "ifnd.fnd",
    "build_detector": "ifnd.fnd",
    "spherical_kmeans": "ifnd.fnd",
    "cluster_confidence": "ifnd.fnd",
    "acceptance_rate": "ifnd.fnd",
    "accepted_mask": "ifnd.fnd",
    "build_model": "ifnd.models",
    "build_backbone": "ifnd.models",
    "load_pretrained": "ifnd.models",
    "load_config": "ifnd.config",
    "default_config_path": "ifnd.config",
    "to_torchvision": "ifnd.export",
    "torchvision_backbone": "ifnd.export",
    "UserError": "ifnd.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ifnd' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
