"""A run of an experiment, specified once: its path, its config, its folders.

A pretraining run is one of

    main/{method}/s{seed}          a method of workflow.methods
    ablation/{name}/s{seed}        an entry of workflow.ablations (an IFND run unless the entry
                                   names another method: the attribution controls)
    classes/{method}/c{n}/s{seed}  the class-count sweep: n classes drawn with the seed
    moco/{method}/s{seed}          a method of workflow.methods on another base framework
                                   (workflow.frameworks.moco: its seeds and settings)

The same path names its folder below ``runs/`` and its evaluations below ``evals/`` of
``results/<experiment>/``, and its resumable state below ``state/<experiment>/``. The pipeline
definition (and through it the Snakemake rules and the generated dvc.yaml), ``ifnd pretrain``
and the report's collector all build runs with :class:`RunSpec`; nothing else spells a run.
Nothing here reads a dataset: the class sweep's draw needs only the number of classes (and,
matched on difficulty, a committed class confusion).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import get_dotted, set_dotted
from .data import dataset_classes
from .errors import UserError
from .vocabulary import EXECUTION_ONLY_KEYS, FRAMEWORKS, METHOD_ORDER

__all__ = ["RunSpec", "GROUPS", "PATH_PATTERN", "PRETRAIN_SECTIONS", "fingerprint",
           "class_subset_overrides", "class_sweep_match", "matched_classes", "pair_confusability"]

# a framework other than SimCLR (the default) is a group of its own: its runs sit beside main's
FRAMEWORK_GROUPS = tuple(f for f in FRAMEWORKS if f != "simclr")
GROUPS = ("main", "ablation", "classes") + FRAMEWORK_GROUPS
# the one pattern of a run path: RunSpec.parse and the Snakemake `run` wildcard use it
PATH_PATTERN = (rf"({'|'.join(('main', 'ablation') + FRAMEWORK_GROUPS)})/([^/]+)/s(\d+)"
                r"|classes/([^/]+)/c(\d+)/s(\d+)")
_PATH = re.compile(rf"^(?:{PATH_PATTERN})$")

# Pretraining reads every section but `workflow` and `eval` (evaluations take `eval` from the
# current config, so changing an evaluation setting never retrains).
PRETRAIN_SECTIONS = ("data", "model", "augment", "train", "method", "fnd")


def fingerprint(cfg: dict, keys, overrides=()) -> str:
    """A short hash of the config keys a step reads (with run overrides applied, execution-only
    keys left out): it names a run's state folder and, as a Snakemake param, makes a job rerun
    when one of those values changes (and only then)."""
    cfg = copy.deepcopy(dict(cfg))
    for key, value in overrides:
        set_dotted(cfg, key, value)
    for key in EXECUTION_ONLY_KEYS:
        section, name = key.split(".")
        cfg.get(section, {}).pop(name, None)
    picked = {k: get_dotted(cfg, k) for k in keys}
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RunSpec:
    group: str
    name: str
    seed: int
    classes: int | None = None

    # ------------------------------------------------------------------ the path
    @property
    def path(self) -> str:
        middle = f"/c{self.classes}" if self.classes is not None else ""
        return f"{self.group}/{self.name}{middle}/s{self.seed}"

    def __str__(self) -> str:
        return self.path

    @classmethod
    def parse(cls, path: str) -> "RunSpec":
        """``"classes/simclr/c5/s0"`` -> ``RunSpec("classes", "simclr", 0, 5)``; one clear
        error otherwise."""
        m = _PATH.match(str(path))
        if m is None:
            raise UserError(f"{path!r} is not a run path (main/METHOD/sSEED, ablation/NAME/sSEED, "
                            "classes/METHOD/cN/sSEED or FRAMEWORK/METHOD/sSEED)")
        if m.group(1):
            return cls(m.group(1), m.group(2), int(m.group(3)))
        return cls("classes", m.group(4), int(m.group(6)), int(m.group(5)))

    def sort_key(self, ablation_order=()) -> tuple:
        order = tuple(ablation_order) if self.group == "ablation" else METHOD_ORDER
        return (GROUPS.index(self.group) if self.group in GROUPS else len(GROUPS),
                order.index(self.name) if self.name in order else len(order), self.name,
                self.classes or 0, self.seed)

    # ------------------------------------------------------------------ the config
    def overrides(self, cfg: dict) -> list[tuple]:
        """The config changes that turn the experiment config ``cfg`` into this run's."""
        if self.group == "main":
            out = [("method.name", self.name)]
        elif self.group == "ablation":
            table = cfg["workflow"]["ablations"]
            if self.name not in table:
                raise UserError(f"unknown ablation {self.name!r}; workflow.ablations has {sorted(table)}")
            out = [("method.name", "ifnd")] + list(table[self.name].items())
        elif self.group == "classes":
            out = [("method.name", self.name)] + class_subset_overrides(cfg, self.classes, self.seed)
        else:  # another framework: its settings (workflow.frameworks.<name>.set) on top
            entry = (cfg["workflow"].get("frameworks") or {}).get(self.group)
            if entry is None:
                raise UserError(f"workflow.frameworks has no {self.group!r} entry")
            out = ([("method.name", self.name), ("train.framework", self.group)]
                   + list((entry.get("set") or {}).items()))
        return out + [("train.seed", self.seed)]

    @property
    def framework(self) -> str | None:
        """The base framework the group fixes (None: the experiment's own, train.framework)."""
        return self.group if self.group in FRAMEWORK_GROUPS else None

    def config(self, cfg: dict) -> dict:
        """This run's config (not validated: the caller validates once)."""
        cfg = copy.deepcopy(cfg)
        for key, value in self.overrides(cfg):
            set_dotted(cfg, key, value)
        return cfg

    def pretrain_keys(self) -> list[str]:
        """The config keys this run's pretraining reads (its state folder and Snakemake param)."""
        keys = list(PRETRAIN_SECTIONS)
        if self.group == "ablation":
            keys.append(f"workflow.ablations.{self.name}")
        elif self.group in FRAMEWORK_GROUPS:
            keys.append(f"workflow.frameworks.{self.group}.set")
        return keys

    def reads(self, cfg: dict, experiment: str) -> list[str]:
        """The files this run reads besides the data: a structured attribution control's
        confusion.json, a control's targets (``{experiment}`` and ``{seed}`` filled in) and the
        class confusion a class-sweep run's classes are matched on."""
        if self.group == "classes":  # SimCLR or the oracle: no control; the classes may be matched
            paths = [class_sweep_match(cfg)]
        else:
            control = self.config(cfg)["fnd"].get("control") or {}
            paths = [control.get("confusion") if control.get("errors") == "structured" else None,
                     control.get("targets")]
        return [str(p).replace("{experiment}", experiment).replace("{seed}", str(self.seed))
                for p in paths if p]

    # ------------------------------------------------------------------ the folders
    def folder(self, root: str) -> str:
        """The run folder below an experiment's results folder ``root``."""
        return f"{root}/runs/{self.path}"

    def state_folder(self, cfg: dict, experiment: str) -> str:
        """Resumable training state, outside the declared outputs so that a rerun (or DVC's
        removal of outputs) never wipes long training; one folder per config, because the
        trainer refuses to resume a state made with another config. A run that reads a file
        (:meth:`reads`) also gets a folder per content of that file: the folder is computed when
        the job starts, after the file was written, so a regenerated file never resumes a state
        built on the old one."""
        digest = fingerprint(cfg, self.pretrain_keys(), self.overrides(cfg))
        contents = [hashlib.sha256(Path(dep).read_bytes()).hexdigest()
                    for dep in self.reads(cfg, experiment) if Path(dep).is_file()]
        if contents:
            digest += "-" + hashlib.sha256("".join(contents).encode()).hexdigest()[:8]
        return f"state/{experiment}/{self.path}/{digest}"


# --------------------------------------------------------------------------- the class sweep
# a class-sweep subset matched on difficulty: one of the MATCH_CHOICES subsets whose classes are,
# on average over their pairs, as confusable as the full set's (seed s takes the s-th closest,
# so the seeds still see different subsets), among at most MATCH_CANDIDATES drawn
MATCH_CHOICES = 8
MATCH_CANDIDATES = 4096


def class_sweep_match(cfg: dict) -> str | None:
    """The class confusion the class sweep of this dataset is matched on
    (``workflow.class_sweep_match``, keyed by ``data.name``); None: random draws."""
    return (cfg["workflow"].get("class_sweep_match") or {}).get(cfg["data"]["name"])


def pair_confusability(path: str | Path, total: int) -> np.ndarray:
    """(C, C) symmetric: how often the clusters of an encoder mix classes i and j (a
    confusion.json of ``ifnd detect``: cross-class pairs sharing a cluster), relative to the
    average pair of classes (mean 1 over the pairs)."""
    try:
        matrix = np.asarray(json.loads(Path(path).read_text())["matrix"], dtype=float)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"workflow.class_sweep_match: cannot read a class confusion from {path} ({exc})") from None
    if matrix.shape != (total, total):
        raise UserError(f"workflow.class_sweep_match: {path} holds a {matrix.shape} matrix, the dataset "
                        f"has {total} classes")
    pairs = matrix + matrix.T
    np.fill_diagonal(pairs, 0.0)
    mean = pairs[np.triu_indices(total, 1)].mean()
    if not mean > 0:
        raise UserError(f"workflow.class_sweep_match: {path} counts no confused pair")
    return pairs / mean


def matched_classes(confusability: np.ndarray, classes: int, seed: int) -> list[int]:
    """A subset of ``classes`` classes whose mean pair confusability is closest to the full
    set's (1): the candidates (every subset, or MATCH_CANDIDATES drawn where there are more)
    sorted by their distance to 1, then by their class ids; seed s takes the (s mod
    MATCH_CHOICES)-th, so the seeds see different subsets of the same difficulty."""
    total = len(confusability)
    if math.comb(total, classes) <= MATCH_CANDIDATES:
        candidates = [list(c) for c in itertools.combinations(range(total), classes)]
    else:
        rng = np.random.default_rng([classes, 7])
        candidates = [sorted(int(c) for c in rng.choice(total, size=classes, replace=False))
                      for _ in range(MATCH_CANDIDATES)]
        candidates = [list(c) for c in sorted(set(map(tuple, candidates)))]

    def distance(subset):
        block = confusability[np.ix_(subset, subset)]
        return abs(block[np.triu_indices(classes, 1)].mean() - 1.0)

    ranked = sorted(candidates, key=lambda c: (distance(c), c))
    return ranked[int(seed) % min(MATCH_CHOICES, len(ranked))]


def class_subset_overrides(cfg: dict, classes: int, seed: int) -> list[tuple]:
    """The overrides of a class-sweep run (Figure 1): ``classes`` class ids, drawn at random
    with the run seed (``default_rng([seed, classes, 7])``, so every seed is another draw), or,
    where ``workflow.class_sweep_match`` names a class confusion for the dataset, a subset whose
    pairs are on average as confusable as the full set's (:func:`matched_classes`), so that the class count,
    not the difficulty of the classes drawn, is what changes; the same number of training
    images as the full run (``data.train_subset`` unchanged, and with it the number of steps;
    the data loader refuses a draw with too few images), and the validation split scaled to the
    classes kept."""
    if cfg["data"].get("classes") is not None:
        raise UserError("data.classes is set, but the class sweep (workflow.class_sweep, or --classes) "
                        "draws its own classes: leave one of them empty")
    total = dataset_classes(cfg["data"])
    if not 2 <= classes <= total:
        raise UserError(f"the class sweep (workflow.class_sweep, or --classes) takes between 2 and "
                        f"{total} classes, got {classes}")
    match = class_sweep_match(cfg)
    if match:
        drawn = matched_classes(pair_confusability(match, total), classes, seed)
    else:
        rng = np.random.default_rng([int(seed), int(classes), 7])
        drawn = sorted(int(c) for c in rng.choice(total, size=classes, replace=False))
    out = [("data.classes", drawn)]
    val = cfg["data"].get("val_subset")
    if val:
        out.append(("data.val_subset", max(classes, round(val * classes / total))))
    return out
