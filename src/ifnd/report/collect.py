"""Read the results tree that the pipeline writes, checking every file it reads.

Layout (``results`` is the root folder)::

    runs/main/{method}/s{seed}/              simclr, ifnd, oracle
    runs/ablation/{name}/s{seed}/            compared with runs/main/ifnd/s{seed}
    runs/classes/{method}/c{n}/s{seed}/      class-subset sweep (Figure 1)
        config.resolved.yaml  meta.json  train_log.csv  fn_stats.csv
    evals/<the same sub path>/{knn,linear,semisup_1,semisup_10}.json
    reference/rawpixels.json
    reference/random_init/s{seed}/{knn,linear,semisup_1,semisup_10}.json
    reference/supervised/s{seed}.json
    reference/detect_floor/s{seed}.json     the detector on pixels and the random-init encoder

The pipeline writes this tree to ``results/<experiment>/``. Given the experiment's config,
:class:`Results` reads exactly the runs and seeds that config plans (other folders are left
alone) and checks that every run and every reference that records its config was made for
this config's dataset and settings; a mismatch is one clear :class:`~ifnd.errors.UserError`.
Without a config, every run found is read (for a results folder made by hand).

A missing file is skipped and remembered (:attr:`Results.missing`) so that the report can say
what it lacks; a present file that cannot be read or does not hold what the contract says
raises :class:`~ifnd.errors.UserError`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import yaml

from .. import vocabulary
from ..config import get_dotted
from ..data import dataset_classes
from ..errors import UserError
from ..pipeline import Pipeline, config_difference
from ..runspec import FRAMEWORK_GROUPS, GROUPS, PRETRAIN_SECTIONS, RunSpec
# the run folder's CSV files and the evaluations: the trainer's and the workflow's schema
from ..vocabulary import (EVALUATIONS, FN_BATCH_COLUMNS, FN_LEVEL_COLUMNS, FN_STATS_COLUMNS,
                          TRAIN_LOG_REQUIRED)

# evaluations the workflow runs for every run of a group; others are optional there
EXPECTED_EVALUATIONS = {"main": EVALUATIONS, "ablation": ("knn", "linear"), "classes": ("knn", "linear"),
                        **{group: EVALUATIONS for group in FRAMEWORK_GROUPS}}
ABLATION_ORDER = ("attraction", "all_at_once", "one_level", "global_ranking")

# Class and training-image counts of the built-in datasets, for a run whose config keeps all
# classes / all images (the counts are fixed by the datasets; see ifnd.data).
DATASET_TRAIN_IMAGES = {"fashion-mnist": 60000, "fashion-scenes": 60000, "cifar10": 50000, "cifar100": 50000}
DATASET_TEST_IMAGES = {"fashion-mnist": 10000, "fashion-scenes": 10000, "cifar10": 10000, "cifar100": 10000}

SPLIT_NAMES = {"test": "test", "val": "validation"}

# the detection floors (reference/detect_floor, `ifnd detect-floor`): space -> what the detector ran on
FLOOR_SPACES = {"pixels": "raw pixels", "random_init_projection": "random-init projection",
                "random_init_backbone": "random-init backbone"}

_SEED_DIR = re.compile(r"^s(\d+)$")
_CLASS_DIR = re.compile(r"^c(\d+)$")


# --------------------------------------------------------------------------- file readers

def read_json(path: Path) -> dict:
    """A JSON object from ``path``; anything else is a UserError naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _fraction(record: dict, key: str, path: Path, required: bool = True) -> float | None:
    """``record[key]`` as an accuracy fraction in [0, 1] (None when optional and absent)."""
    value = record.get(key)
    if value is None:
        if required:
            raise UserError(f"{path}: lacks the field {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{path}: field {key!r} must be a finite number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{path}: field {key!r} must be a fraction in [0, 1], got {value!r}")
    return float(value)


def read_detect_floor(path: Path) -> pd.DataFrame:
    """The rows of an ``ifnd detect-floor`` record: space, rate, precision, recall."""
    record = read_json(path)
    rows = record.get("rows")
    if not isinstance(rows, list) or not rows:
        raise UserError(f"{path}: holds no 'rows' (is it an `ifnd detect-floor` output?)")
    frame = pd.DataFrame(rows)
    missing = [c for c in ("space", "rate", "precision", "recall") if c not in frame]
    if missing:
        raise UserError(f"{path}: rows lack {', '.join(missing)}")
    return frame


def detect_floor_at(floors: dict[int, pd.DataFrame], space: str, rate: float) -> dict[int, tuple[float, float]]:
    """seed -> (precision, recall) of one floor space at one acceptance rate."""
    out = {}
    for seed, frame in floors.items():
        hit = frame[(frame["space"] == space) & ((frame["rate"] - rate).abs() < 1e-9)]
        if len(hit):
            out[seed] = (float(hit["precision"].iloc[0]), float(hit["recall"].iloc[0]))
    return out


def read_evaluation(path: Path) -> dict:
    """``{"top1", "top5", "seconds", "finished_at", "evaluated_on"}`` of an evaluation metrics file
    (top5, seconds and finished_at None where absent)."""
    record = read_json(path)
    return {"top1": _fraction(record, "top1", path), "top5": _fraction(record, "top5", path, False),
            **job_time(record, path), "evaluated_on": _split_of(record, path)}


def job_time(record: dict, path: Path) -> dict:
    """``{"seconds", "finished_at"}`` of a metrics file (each None where absent: files written
    before ``finished_at`` existed), checked to be numbers."""
    out = {}
    for key in ("seconds", "finished_at"):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise UserError(f"{path}: field {key!r} must be a number, got {value!r}")
        out[key] = None if value is None else float(value)
    return out


def _split_of(record: dict, path: Path) -> str:
    """The split a metrics file scored (``evaluated_on``; files written before the validation
    split existed scored the test split)."""
    split = record.get("evaluated_on", "test")
    if split not in ("test", "val"):
        raise UserError(f"{path}: field 'evaluated_on' must be 'test' or 'val', got {split!r}")
    return split


def read_yaml_mapping(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at top level")
    return data


def read_csv(path: Path, required: Iterable[str], numeric: Iterable[str]) -> pd.DataFrame:
    """A CSV with the ``required`` columns, ``numeric`` ones converted to float (empty -> NaN)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    lacking = [c for c in required if c not in df.columns]
    if lacking:
        raise UserError(f"{path}: lacks the column(s) {', '.join(lacking)}")
    if df.empty:
        raise UserError(f"{path}: has a header but no rows")
    for col in numeric:
        if col not in df.columns:
            continue
        text = df[col].str.strip()
        blank = text.eq("") | text.str.lower().isin(["nan", "na", "none", "null"])
        values = pd.to_numeric(text.where(~blank), errors="coerce")
        bad = values.isna() & ~blank
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise UserError(f"{path}: column {col!r} holds a non-number {df[col].iloc[row]!r} "
                            f"(data row {row + 1})")
        df[col] = values.astype(float)
    epochs = df["epoch"]
    if epochs.isna().any() or (epochs < 1).any() or (epochs != np.round(epochs)).any():
        raise UserError(f"{path}: column 'epoch' must hold whole numbers from 1 on")
    df["epoch"] = epochs.astype(int)
    return df


def read_train_log(path: Path) -> pd.DataFrame:
    numeric = ("epoch", "loss", "lr", "knn_top1", "epoch_seconds", "cluster_seconds",
               "images_per_second", "acceptance_rate")
    df = read_csv(path, TRAIN_LOG_REQUIRED, numeric)
    knn = df["knn_top1"].dropna()
    if ((knn < 0) | (knn > 1)).any():
        raise UserError(f"{path}: column 'knn_top1' must hold fractions in [0, 1]")
    return df.sort_values("epoch").reset_index(drop=True)


def read_fn_stats(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(in-batch rows, per-level rows) of an ``fn_stats.csv``; the level rows get an int
    ``level`` (the number of clusters k)."""
    df = read_csv(path, FN_STATS_COLUMNS, ("epoch",) + FN_BATCH_COLUMNS + FN_LEVEL_COLUMNS)
    level = df["level"].str.strip()
    is_batch = level.str.lower().eq("batch")
    batch = df.loc[is_batch, ["epoch", *FN_BATCH_COLUMNS]].sort_values("epoch").reset_index(drop=True)
    levels = df.loc[~is_batch, ["epoch", "level", *FN_LEVEL_COLUMNS]].copy()
    k = pd.to_numeric(levels["level"].str.strip(), errors="coerce")
    if k.isna().any() or (k < 1).any() or (k != np.round(k)).any():
        raise UserError(f"{path}: column 'level' must be 'batch' or a number of clusters")
    levels["level"] = k.astype(int)
    levels = levels.sort_values(["epoch", "level"]).reset_index(drop=True)
    return batch, levels


# --------------------------------------------------------------------------- the runs

def _order(key: RunSpec) -> tuple:
    return key.sort_key(ABLATION_ORDER)


def _name_rank(group: str, name: str) -> tuple:
    order = ABLATION_ORDER if group == "ablation" else vocabulary.METHOD_ORDER
    return (order.index(name) if name in order else len(order), name)


@dataclass
class Run:
    key: RunSpec
    run_dir: Path | None = None             # None when only evaluations were found
    config: dict | None = None              # config.resolved.yaml
    meta: dict | None = None                # meta.json
    evals: dict = field(default_factory=dict)  # evaluation name -> read_evaluation() dict
    train_log: pd.DataFrame | None = None
    fn_batch: pd.DataFrame | None = None    # fn_stats.csv, level == "batch"
    fn_levels: pd.DataFrame | None = None   # fn_stats.csv, one row per epoch and k-means level

    def final_batch(self) -> pd.Series | None:
        """The in-batch false-negative statistics of the last epoch."""
        if self.fn_batch is None or self.fn_batch.empty:
            return None
        return self.fn_batch.iloc[-1]

    def final_levels(self) -> pd.DataFrame:
        """The per-level cluster statistics of the last epoch that has any."""
        if self.fn_levels is None or self.fn_levels.empty:
            return pd.DataFrame(columns=["epoch", "level", *FN_LEVEL_COLUMNS])
        last = self.fn_levels["epoch"].max()
        return self.fn_levels[self.fn_levels["epoch"] == last].reset_index(drop=True)

    def cfg(self, dotted: str, default=None):
        """A value of the run's recorded config (``default`` where it is absent)."""
        return get_dotted(self.config, dotted, default)


def _discover(root: Path) -> list[RunSpec]:
    """Every run key found under ``runs/`` or ``evals/`` (either tree may lack some)."""
    keys: set[RunSpec] = set()
    for tree in ("runs", "evals"):
        for group in GROUPS:
            base = root / tree / group
            if not base.is_dir():
                continue
            for name_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if group == "classes":
                    for c_dir in name_dir.iterdir():
                        m = _CLASS_DIR.match(c_dir.name)
                        if m and c_dir.is_dir():
                            keys.update(RunSpec(group, name_dir.name, s, int(m.group(1)))
                                        for s in _seed_dirs(c_dir))
                else:
                    keys.update(RunSpec(group, name_dir.name, s) for s in _seed_dirs(name_dir))
    return sorted(keys, key=_order)


def _seed_dirs(folder: Path) -> list[int]:
    return [int(m.group(1)) for p in folder.iterdir() if p.is_dir() and (m := _SEED_DIR.match(p.name))]


class Results:
    """Everything under a results folder that the tables, figures and report use.

    All files are read (and checked) when the object is built. ``missing`` maps a kind of
    file (e.g. ``"linear.json"``) to the runs that lack it; ``notes`` holds other remarks.
    """

    def __init__(self, root: str | Path, cfg: dict | None = None, pipeline: Pipeline | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"results folder not found: {self.root}")
        self.cfg = cfg
        self.pipeline = pipeline if pipeline is not None or cfg is None else Pipeline(cfg)
        self.missing: dict[str, list[str]] = {}
        self.notes: list[str] = []
        if self.pipeline is None:
            keys = _discover(self.root)
        else:
            # the planned runs that have a run or evaluation folder (the report lists the
            # planned runs not found at all)
            keys = sorted((k for k in self.pipeline.runs() if (self.root / "runs" / k.path).is_dir()
                           or (self.root / "evals" / k.path).is_dir()), key=_order)
        self.runs: dict[RunSpec, Run] = {key: self._load_run(key) for key in keys}
        self.references = self._load_references()
        self._check_runs()
        if self.pipeline is not None:
            self._check_identity()

    # ------------------------------------------------------------------ loading
    def _miss(self, what: str, where: str) -> None:
        self.missing.setdefault(what, []).append(where)

    def _load_run(self, key: RunSpec) -> Run:
        run_dir = self.root / "runs" / key.path
        eval_dir = self.root / "evals" / key.path
        run = Run(key, run_dir if run_dir.is_dir() else None)
        if run.run_dir is None:
            self._miss("run folder", str(key))
        else:
            files = {"config.resolved.yaml": "config", "meta.json": "meta"}
            for fname, attr in files.items():
                path = run_dir / fname
                if path.is_file():
                    setattr(run, attr, read_yaml_mapping(path) if fname.endswith(".yaml") else read_json(path))
                else:
                    self._miss(fname, str(key))
            path = run_dir / "train_log.csv"
            if path.is_file():
                run.train_log = read_train_log(path)
            else:
                self._miss("train_log.csv", str(key))
            path = run_dir / "fn_stats.csv"
            if path.is_file():
                run.fn_batch, run.fn_levels = read_fn_stats(path)
            else:
                self._miss("fn_stats.csv", str(key))
        for evaluation in EVALUATIONS:
            path = eval_dir / f"{evaluation}.json"
            if path.is_file():
                run.evals[evaluation] = self._scored(read_evaluation(path), path)
            elif evaluation in EXPECTED_EVALUATIONS.get(key.group, ()):
                self._miss(f"{evaluation}.json", str(key))
        return run

    def _scored(self, record: dict, path: Path) -> dict:
        """``record``, once its scored split is the experiment's (``workflow.evaluate_on``):
        a validation number never lands in a test table, nor the reverse."""
        if self.pipeline is not None and record["evaluated_on"] != self.pipeline.evaluate_on:
            raise UserError(f"{path}: scored the {record['evaluated_on']} split, but this experiment "
                            f"evaluates on {self.pipeline.evaluate_on} (workflow.evaluate_on); "
                            "rerun it (snakemake reruns it)")
        return record

    def _load_references(self) -> dict:
        ref = self.root / "reference"
        out: dict = {"rawpixels": None, "random_init": {}, "supervised": {}, "detect_floor": {}}
        path = ref / "rawpixels.json"
        if path.is_file():
            record = read_json(path)
            self._scored({"evaluated_on": _split_of(record, path)}, path)
            raw = {**job_time(record, path), "knn": _fraction(record, "knn_top1", path, False),
                   "linear": _fraction(record, "linear_top1", path, False),
                   # the linear probe on the pixels of the semi-supervised labelled rows only
                   "semisup_1": _fraction(record, "semisup_1_linear_top1", path, False),
                   "semisup_10": _fraction(record, "semisup_10_linear_top1", path, False),
                   # kNN on the pixels in [0, 1] before the input standardisation (a note only)
                   "knn_unstandardised": _fraction(record, "knn_top1_unstandardised", path, False)}
            if raw["knn"] is None and raw["linear"] is None:
                raise UserError(f"{path}: holds neither 'knn_top1' nor 'linear_top1'")
            out["rawpixels"] = raw
        else:
            self._miss("reference", "rawpixels.json")
        # random_init: evaluation -> seed -> record (one untrained encoder per seed); with a
        # config, only its seeds are read and each one missing is remembered
        if self.pipeline is not None:
            seeds = list(self.cfg["workflow"]["seeds"])
        else:
            seeds = sorted({int(m.group(1)) for p in (ref / "random_init").glob("s*")
                            if p.is_dir() and (m := re.match(r"^s(\d+)$", p.name))}
                           | {int(m.group(1)) for p in (ref / "supervised").glob("s*.json")
                              if (m := re.match(r"^s(\d+)\.json$", p.name))})
        for seed in seeds:
            for evaluation in EVALUATIONS:
                path = ref / "random_init" / f"s{seed}" / f"{evaluation}.json"
                if path.is_file():
                    out["random_init"].setdefault(evaluation, {})[seed] = self._scored(read_evaluation(path), path)
                elif self.pipeline is not None:
                    self._miss("reference", f"random_init/s{seed}/{evaluation}.json")
            path = ref / "supervised" / f"s{seed}.json"
            if path.is_file():
                out["supervised"][seed] = self._scored(read_evaluation(path), path)
            elif self.pipeline is not None:
                self._miss("reference", f"supervised/s{seed}.json")
        for path in sorted((ref / "detect_floor").glob("s*.json")):
            m = re.match(r"^s(\d+)\.json$", path.name)
            if m and (self.pipeline is None or int(m.group(1)) in seeds):
                out["detect_floor"][int(m.group(1))] = read_detect_floor(path)
        if self.pipeline is None:
            for evaluation in EVALUATIONS:
                if evaluation not in out["random_init"]:
                    self._miss("reference", f"random_init/s{{seed}}/{evaluation}.json")
            if not out["supervised"]:
                self._miss("reference", "supervised/s{seed}.json")
        return out

    def _check_identity(self) -> None:
        """Every run and every reference that records its config was made for this config:
        its dataset, and the settings it depends on. One error line names the first file that
        disagrees."""
        pipe, cfg = self.pipeline, self.cfg
        dataset = cfg["data"]["name"]
        hint = (f"rerun it for this config (snakemake reruns it), or give this config another "
                f"workflow.experiment (now {pipe.experiment!r})")
        for key, run in self.runs.items():
            if run.config is None:
                continue
            path = self.root / "runs" / key.path / "config.resolved.yaml"
            recorded = run.cfg("data.name")
            if recorded != dataset:
                raise UserError(f"{path}: a run on {recorded!r}, but the config's dataset is "
                                f"{dataset!r}; {hint}")
            diff = config_difference(run.config, cfg, PRETRAIN_SECTIONS, key.overrides(cfg))
            if diff:
                raise UserError(f"{path}: made with another config ({diff}); {hint}")
        for job in pipe.jobs:
            if job.rule not in ("rawpixels", "supervised"):
                continue
            path = self.root / Path(job.outs[0]).relative_to(pipe.root)
            if not path.is_file():
                continue
            recorded = read_json(path).get("inputs", {})
            recorded = recorded.get("config") if isinstance(recorded, dict) else None
            if not isinstance(recorded, dict):
                continue
            name = (recorded.get("data") or {}).get("name") if isinstance(recorded.get("data"), dict) else None
            if name != dataset:
                raise UserError(f"{path}: a reference for {name!r}, but the config's dataset is "
                                f"{dataset!r}; {hint}")
            diff = config_difference(recorded, cfg, job.params, job.overrides)
            if diff:
                raise UserError(f"{path}: made with another config ({diff}); {hint}")

    def _check_runs(self) -> None:
        """Remarks the report should make: unfinished runs, class counts that disagree."""
        for key, run in self.runs.items():
            epochs = run.cfg("train.epochs")
            if run.train_log is not None and isinstance(epochs, int):
                last = int(run.train_log["epoch"].max())
                if last < epochs:
                    self.notes.append(f"{key}: train_log.csv ends at epoch {last} of {epochs} "
                                      "(training did not finish; its numbers are not final)")
            if key.classes is not None:
                classes = run.cfg("data.classes")
                if isinstance(classes, list) and len(classes) != key.classes:
                    raise UserError(f"{self.root / 'runs' / key.path}: folder says {key.classes} "
                                    f"classes but data.classes lists {len(classes)}")

    # ------------------------------------------------------------------ queries
    def select(self, group: str, name: str | None = None, classes: int | None = None) -> list[Run]:
        return [r for k, r in self.runs.items()
                if k.group == group and (name is None or k.name == name)
                and (classes is None or k.classes == classes)]

    @property
    def scored_split(self) -> str:
        """"test" or "val": the split every evaluation here scored (``workflow.evaluate_on``;
        without a config, read from the metrics files, which must agree)."""
        if self.pipeline is not None:
            return self.pipeline.evaluate_on
        splits = {e["evaluated_on"] for r in self.runs.values() for e in r.evals.values()}
        if len(splits) > 1:
            raise UserError(f"{self.root}: the metrics files mix the test and validation splits; "
                            "give the config (--config) or keep one split per results folder")
        return splits.pop() if splits else "test"

    @property
    def split_name(self) -> str:
        return SPLIT_NAMES[self.scored_split]

    def names(self, group: str) -> list[str]:
        names = {k.name for k in self.runs if k.group == group}
        return sorted(names, key=lambda n: _name_rank(group, n))

    def class_counts(self, name: str) -> list[int]:
        return sorted({k.classes for k in self.runs if k.group == "classes" and k.name == name})

    def metric(self, group: str, name: str, evaluation: str, field_: str = "top1",
               classes: int | None = None) -> dict[int, float]:
        """seed -> value of one evaluation field, over the runs that have it."""
        out = {}
        for run in self.select(group, name, classes):
            record = run.evals.get(evaluation)
            if record is not None and record.get(field_) is not None:
                out[run.key.seed] = record[field_]
        return out

    def reference(self, name: str, evaluation: str, field_: str = "top1") -> dict[int, float]:
        """seed -> value of one field of a per-seed reference (``random_init``)."""
        records = self.references[name].get(evaluation) or {}
        return {seed: r[field_] for seed, r in records.items() if r.get(field_) is not None}

    def final_batch_stat(self, group: str, name: str, column: str) -> dict[int, float]:
        """seed -> the last epoch's in-batch statistic ``column`` (NaN kept out)."""
        out = {}
        for run in self.select(group, name):
            row = run.final_batch()
            if row is not None and pd.notna(row[column]):
                out[run.key.seed] = float(row[column])
        return out

    def final_rate(self) -> float:
        """IFND's final acceptance rate (``fnd.rate_max`` of the main runs): where the
        detection floors are read."""
        return float(((self.main_config() or {}).get("fnd") or {}).get("rate_max", 1.0))

    def floor(self, space: str, rate: float | None = None) -> dict[int, tuple[float, float]]:
        """seed -> (precision, recall) of one detection floor at ``rate`` (default: the final one)."""
        rate = self.final_rate() if rate is None else rate
        return detect_floor_at(self.references.get("detect_floor") or {}, space, rate)

    def main_config(self) -> dict | None:
        """The resolved config of a main IFND run (else any run), for what-was-run facts."""
        ordered = sorted(self.runs.values(), key=lambda r: (r.key.group != "main", r.key.name != "ifnd",
                                                            _order(r.key)))
        for run in ordered:
            if run.config is not None:
                return run.config
        return None

    def full_class_count(self) -> int | None:
        """Number of classes of the main runs' data (Figure 1's rightmost point)."""
        for run in self.select("main"):
            n = _class_count(run)
            if n is not None:
                return n
        return None


def _class_count(run: Run) -> int | None:
    meta = run.meta or {}
    for holder in (meta, meta.get("data") if isinstance(meta.get("data"), dict) else {}):
        n = holder.get("num_classes")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    if run.config is None:
        return None
    classes = run.cfg("data.classes")
    if isinstance(classes, list) and classes:
        return len(classes)
    try:
        return dataset_classes(run.config["data"])
    except (UserError, KeyError, TypeError):  # an ImageFolder tree not on this machine
        return None


# --------------------------------------------------------------------------- command line

def add_results_arguments(parser, what: str) -> None:
    """``--results``, ``--config`` and ``--out`` of ``ifnd tables`` and ``ifnd figures``."""
    parser.add_argument("--results", default="results", help="the results folder of one experiment")
    parser.add_argument("--config", nargs="+", default=None, metavar="FILE",
                        help="the config the experiment ran with: only its runs and seeds are read, "
                             "and every file is checked against it (without it: every run found)")
    parser.add_argument("--out", default=None, help=f"folder for the {what} (default: RESULTS/{what})")


def results_of(args) -> Results:
    """The Results of ``--results``, restricted to and checked against ``--config`` if given."""
    if getattr(args, "config", None):
        from ..config import load_config

        return Results(args.results, load_config(args.config[0], extra_files=args.config[1:]))
    return Results(args.results)
