"""What a run folder records about where and how it ran: code version, packages, device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from .fileio import atomic_write_text
from .errors import UserError

PACKAGES = ("torch", "torchvision", "faiss-cpu", "numpy", "scikit-learn", "pandas", "ifnd")


def code_version() -> str:
    """The git commit of the code (with ``-dirty`` for uncommitted changes), or the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5)
        if rev.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
                                   cwd=root, capture_output=True, text=True, timeout=5)
            return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    from . import __version__
    return f"ifnd-{__version__}"


def package_versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name} asked for (train.device or --device), but no CUDA device "
                        "is available")
    return torch.device(name)


def set_threads(threads: int | None) -> int:
    """Use the given number of CPU threads (default: all cores, or the Snakemake job's share)."""
    if threads is None:
        threads = int(os.environ.get("IFND_THREADS", 0)) or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    # faiss (k-means) runs its own OpenMP pool: oversubscribed cores slow it down tenfold.
    import faiss
    faiss.omp_set_num_threads(threads)
    return threads


def write_json(path: str | os.PathLike, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
