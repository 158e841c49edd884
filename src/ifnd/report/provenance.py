"""Provenance: the code versions and the hardware the runs of an experiment trained under, and
whether they differ where it matters for the numbers (git, read-only)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from .collect import Results
from .markdown import run_counts, shortened

__all__ = ["code_changes", "compare_versions", "hardware", "run_code_versions", "run_hardware", "section_provenance",
           "NUMBER_PATHS"]

REPO_ROOT = Path(__file__).resolve().parents[3]
# What decides a run's numbers. Not this package: it renders every run at report time, with
# whatever code runs the report.
NUMBER_PATHS = ("src", "workflow", "Snakefile", "config", ":(exclude)src/ifnd/report")


def code_changes(base: str, other: str, root: Path = REPO_ROOT) -> list[str] | None:
    """The files under :data:`NUMBER_PATHS` that differ between two recorded code versions
    (meta.json ``code_version``), or None where this checkout cannot tell: no git, a commit it
    does not have, a package version, or uncommitted changes (``-dirty``)."""
    if not all(re.fullmatch(r"[0-9a-f]{7,40}", v) for v in (base, other)):
        return None
    try:
        diff = subprocess.run(["git", "diff", "--name-only", base, other, "--", *NUMBER_PATHS],
                              cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return diff.stdout.split() if diff.returncode == 0 else None


def compare_versions(versions: list[str], root: Path = REPO_ROOT) -> list[str]:
    """Lines saying whether several code versions differ where it matters for the numbers,
    each compared with the first (the one most runs used)."""
    base, where = versions[0], "src/ (except src/ifnd/report/), workflow/, Snakefile and config/"
    changes = {v: code_changes(base, v, root) for v in versions[1:]}
    if all(c == [] for c in changes.values()):
        return [f"These commits have the same {where} (git diff), so every run used the same "
                "code and settings; they differ only outside these paths."]
    lines = ["The runs come from different code versions; compare them with care. Against "
             f"`{base}`:", ""]
    for v, c in changes.items():
        if c is None:
            lines.append(f"- `{v}`: cannot be compared here (not a commit of this checkout, "
                         "or uncommitted changes)")
        elif not c:
            lines.append(f"- `{v}`: the same {where}")
        else:
            lines.append(f"- `{v}`: differs in {shortened((f'`{f}`' for f in c), 8)}")
    return lines + [""]


def run_code_versions(meta: dict) -> list[str]:
    """The commits a pretraining run trained under: meta.json ``code_versions`` (several when
    it was resumed under other code), else its one ``code_version``."""
    listed = meta.get("code_versions")
    if isinstance(listed, list) and listed:
        return [str(v) for v in dict.fromkeys(listed)]
    return [str(meta.get("code_version"))]


def hardware(meta: dict | None) -> str:
    """What a run trained on, from meta.json ``device``: the GPU, or the CPU model with torch's
    instruction set and any oneDNN cap, then the precision and the CPU threads. The same string
    for two runs means the same kernels, so the same numbers from the same seed and code."""
    dev = (meta or {}).get("device")
    if not isinstance(dev, dict):
        return str(dev) if dev is not None else "?"
    if dev.get("gpu"):
        parts = [str(dev["gpu"])]
    else:
        parts = [str(dev.get("device") or "?")] + [str(dev[k]) for k in ("cpu_model", "cpu_capability")
                                                  if dev.get(k)]
        if dev.get("onednn_max_cpu_isa"):
            parts.append(f"oneDNN capped at {dev['onednn_max_cpu_isa']}")
    if dev.get("precision"):
        parts.append(str(dev["precision"]))
    threads = dev.get("torch_threads")
    if threads and not dev.get("gpu"):
        parts.append(f"{threads} thread{'' if threads == 1 else 's'}")
    return ", ".join(parts)


def run_hardware(results: Results) -> dict:
    """Each run with a meta.json, keyed as in ``results.runs``, to what it trained on (:func:`hardware`)."""
    return {key: hardware(r.meta) for key, r in results.runs.items() if r.meta}


def hardware_lines(results: Results) -> list[str]:
    """Which hardware the runs trained on and, where it was more than one kind, which runs
    differ from the most common one."""
    kinds = run_hardware(results)
    counts = Counter(kinds.values())
    if not counts:
        return []
    lines = [f"Hardware of the runs (meta.json `device`): {run_counts(counts)}."]
    if len(counts) > 1:
        common = counts.most_common(1)[0][0]
        shown = shortened((f"`{key.path}`" for key, kind in sorted(kinds.items(), key=lambda kv: kv[0].path)
                           if kind != common), 12)
        lines += ["The runs trained on more than one kind of hardware or precision. A run repeats "
                  "bitwise only on the same kind (the instruction set and the precision choose the "
                  "kernels), so runs of different kinds differ by that as well as by their seed; "
                  f"compare them with care. Not on the most common kind: {shown}."]
    return lines + [""]


def section_provenance(results: Results) -> list[str]:
    versions = Counter(v for r in results.runs.values() if r.meta for v in run_code_versions(r.meta))
    lines = ["## Provenance", ""]
    if versions:
        lines.append("Code versions of the runs (meta.json; a resumed run counts each commit it "
                     f"ran under): {run_counts(Counter({f'`{v}`': n for v, n in versions.items()}))}.")
        if len(versions) > 1:
            lines += compare_versions([v for v, _ in versions.most_common()])
        hw = hardware_lines(results)
        lines += ([""] if hw and lines[-1] else []) + hw
        pk = next((r.meta.get("packages") for r in results.runs.values()
                   if r.meta and isinstance(r.meta.get("packages"), dict)), None)
        if pk:
            lines.append("Packages of the first run: " + ", ".join(f"{k} {v}" for k, v in pk.items()) + ".")
    else:
        lines.append("No meta.json found.")
    return lines + [""]
