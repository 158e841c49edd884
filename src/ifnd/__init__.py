"""Incremental False Negative Detection (IFND) for contrastive learning."""

__version__ = "0.1.0"
