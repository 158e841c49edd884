"""The pipeline, defined once: which runs, evaluations and references an experiment has, where
their files go, the exact `ifnd` command of every job, the config keys and source files each
job reads. The Snakemake workflow (workflow/rules/common.smk) and the DVC pipeline
(``ifnd dvc-yaml`` writes dvc.yaml) are both built from :class:`Pipeline`, so their jobs,
commands, inputs and outputs agree by construction.

Every output of an experiment lies below ``results/<experiment>/`` (``workflow.experiment``,
default: the dataset name), references included, so that two experiments never share a file.
A run (its path, config, run folder and state folder) is :class:`ifnd.runspec.RunSpec`'s.

Nothing here reads data or runs a step.
"""

from __future__ import annotations

import ast
import copy
import json
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .config import get_dotted, load_config, set_dotted
from .errors import UserError
from .runspec import RunSpec, fingerprint
from .vocabulary import DETECTING, FIGURES, IDENTITY_FREE_KEYS, METHOD_ORDER, TABLES, experiment_name

BASE_CONFIG = "config/config.yaml"
RESULTS = "results"

# The class-subset sweep of Figure 1 compares the baseline with the oracle upper bound.
CLASS_SWEEP_METHODS = ("simclr", "oracle")

SUPERVISED_SECTIONS = ("data", "model", "augment", "train", "eval")
RAWPIXELS_SECTIONS = ("data", "eval")
DETECT_FLOOR_SECTIONS = ("data", "model", "train", "fnd")
REPORT_SECTIONS = ("data", "model", "augment", "train", "method", "fnd", "eval", "workflow")

REFERENCE_VALUES = "config/reference_values.yaml"

# The command module of each step (for the source files a job depends on).
STEP_MODULES = {
    "pretrain": "ifnd.pretrain", "knn": "ifnd.evaluate.knn", "linear": "ifnd.evaluate.linear",
    "splits": "ifnd.evaluate.splits", "semisup": "ifnd.evaluate.semisup",
    "rawpixels": "ifnd.evaluate.rawpixels", "supervised": "ifnd.evaluate.supervised",
    "detect": "ifnd.detect", "detect_floor": "ifnd.evaluate.detectfloor", "tables": "ifnd.report.tables",
    "figures": "ifnd.report.figures", "report": "ifnd.report.report",
}
PACKAGE_DIR = Path(__file__).resolve().parent


def fraction_tag(fraction: float) -> str:
    """0.01 -> "1", 0.1 -> "10": the label fraction in percent, as in file names."""
    return f"{round(fraction * 100, 6):g}"


def config_difference(recorded: dict, cfg: dict, keys, overrides=()) -> str | None:
    """``"key: recorded -> current"`` for the first of ``keys`` (sections or dotted keys, leaves
    compared one by one, execution-only keys skipped) whose value in ``recorded`` differs from
    ``cfg`` with ``overrides`` applied; None when they agree."""
    current = copy.deepcopy(dict(cfg))
    for key, value in overrides:
        set_dotted(current, key, value)

    def leaves(tree, prefix):
        if isinstance(tree, dict):
            out = {}
            for k, v in tree.items():
                out.update(leaves(v, f"{prefix}.{k}"))
            return out
        return {prefix: tree}

    missing = object()
    for key in keys:
        try:
            now = leaves(get_dotted(current, key), key)
        except (KeyError, TypeError):
            now = {}
        try:
            then = leaves(get_dotted(recorded, key), key)
        except (KeyError, TypeError):
            then = {}
        for leaf in sorted(set(now) | set(then)):
            if leaf in IDENTITY_FREE_KEYS:
                continue
            a, b = then.get(leaf, missing), now.get(leaf, missing)
            if a != b:
                show = lambda v: "(absent)" if v is missing else json.dumps(v)  # noqa: E731
                return f"{leaf}: {show(a)} -> {show(b)}"
    return None


# --------------------------------------------------------------------------- source files
def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "ifnd":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imports(path: Path, module: str) -> set[str]:
    """The ifnd modules that ``module`` (file ``path``) imports."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{a.name}" for a in node.names)  # `from . import x`
    return {m for m in found if m.split(".")[0] == "ifnd"}


def source_files(module: str) -> list[str]:
    return list(_source_files(module))


@lru_cache(maxsize=None)
def _source_files(module: str) -> tuple[str, ...]:
    """The package files ``module`` runs: its ifnd imports, followed to the end (and the
    parent packages' __init__ files Python runs on the way), as paths from the repository
    root. config.py reads the config schema, which is listed too."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            path = _module_file(prefix)
            if path is not None and prefix not in seen:
                seen[prefix] = path
                todo.extend(_imports(path, prefix))
    files = {p for p in seen.values()}
    if "ifnd.config" in seen:
        files.add(PACKAGE_DIR / "config.schema.yaml")
    root = PACKAGE_DIR.parent.parent
    return tuple(sorted(p.relative_to(root).as_posix() for p in files))


# --------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """One step of the pipeline: a Snakemake job and a DVC stage."""

    rule: str                 # Snakemake rule
    stage: str                # DVC stage name
    cmd: str                  # the shell command (run from the repository root)
    outs: list[str]
    deps: list[str] = field(default_factory=list)     # files made by other jobs (or tracked)
    params: list[str] = field(default_factory=list)   # config keys the step reads
    overrides: list = field(default_factory=list)     # run overrides applied before hashing
    code: list[str] = field(default_factory=list)     # source files (DVC deps)
    metrics: list[str] = field(default_factory=list)  # outs shown by `dvc metrics show`
    # the outputs kept in DVC's cache and out of git (default none; None: all of them); the others are small
    # records committed to git (DVC: cache: false), so that a later chunk of seeds, on another
    # machine, finds them
    cached: list[str] | None = field(default_factory=list)
    fingerprint: str = ""

    def is_cached(self, out: str) -> bool:
        return self.cached is None or out in self.cached


class Pipeline:
    """Every job of the experiment described by ``cfg`` (merged from ``config_files``)."""

    def __init__(self, cfg: dict, config_files=(BASE_CONFIG,), seeds=None):
        self.cfg = cfg
        self.wf = cfg["workflow"]
        # a chunk of the experiment: only the jobs of these seeds (and the seedless ones), for an
        # experiment run over several sessions (`snakemake --config seeds=[0]`); None: every seed
        self.chunk = None if seeds is None else self._chunk_seeds(seeds)
        self.config_files = list(config_files)
        self.experiment = experiment_name(cfg)
        self.root = f"{RESULTS}/{self.experiment}"
        self.config_args = " ".join(["--config"] + [shlex.quote(f) for f in self.config_files])
        self.fractions = {fraction_tag(f): f for f in cfg["eval"]["semisup"]["fractions"]}
        # every evaluation scores this split (workflow.evaluate_on): test reports, val chooses
        self.evaluate_on = self.wf.get("evaluate_on", "test")
        self.on_arg = " --on val" if self.evaluate_on == "val" else ""
        methods = self.wf["methods"]
        # experiment-level checks (a run's own config holds its framework and classes)
        base = cfg["train"].get("framework") or "simclr"
        if base in (self.wf.get("frameworks") or {}):
            raise UserError(f"workflow.frameworks.{base}: the main runs already train with {base} "
                            "(train.framework); list only other frameworks there")
        if cfg["data"].get("classes") is not None and self.wf["class_sweep"]:
            raise UserError("data.classes is set, but the class sweep (workflow.class_sweep) draws its own "
                            "classes: leave one of them empty")
        # The random-initialisation references evaluate an untrained copy of this method's
        # encoder, once per seed (initialised with train.seed = s, fine-tuned on split s), so
        # that the comparison with the pretrained encoder of seed s is paired.
        self.reference_method = "simclr" if "simclr" in methods else methods[0]
        self.jobs: list[Job] = []
        self._build()
        self.by_output = {out: job for job in self.jobs for out in job.outs}
        for job in self.jobs:
            for dep in job.deps:
                if job.rule == "pretrain" and dep not in self.by_output and not Path(dep).is_file():
                    raise UserError(f"{job.stage}: reads {dep}, which no job of experiment "
                                    f"{self.experiment!r} writes and which does not exist "
                                    "(fnd.control.confusion: the detection study covers the first "
                                    "seeds of simclr and ifnd in workflow.methods; fnd.control."
                                    "targets: the ifnd run of the control's seed, so "
                                    "workflow.ablation_seeds must be among workflow.seeds; a chunk "
                                    "of seeds reads what the chunk of seed 0 committed: run it first)")

    @classmethod
    def from_files(cls, config_files, seeds=None) -> "Pipeline":
        files = list(config_files) or [BASE_CONFIG]
        return cls(load_config(files[0], extra_files=files[1:]), files, seeds)

    def _chunk_seeds(self, seeds) -> set[int]:
        """The chunk's seeds as a set of planned seeds; anything else is one error line."""
        planned = {run.seed for run in self._planned()}
        try:
            chunk = {int(s) for s in (seeds if isinstance(seeds, (list, tuple, set)) else [seeds])}
        except (TypeError, ValueError):
            chunk = None
        if not chunk or not chunk <= planned:
            raise UserError(f"--config seeds={seeds!r}: give a list of this experiment's seeds "
                            f"({sorted(planned)}), e.g. seeds=[0,1]")
        return chunk

    def _keeps(self, seed: int) -> bool:
        return self.chunk is None or seed in self.chunk

    def _in_chunk(self, seeds) -> list[int]:
        return [s for s in seeds if self._keeps(s)]

    # ------------------------------------------------------------------ runs
    def runs(self) -> list[RunSpec]:
        """The planned runs (of the chunk's seeds, where the pipeline is a chunk)."""
        return [run for run in self._planned() if self._keeps(run.seed)]

    def _planned(self) -> list[RunSpec]:
        wf = self.wf
        return ([RunSpec("main", m, s) for m in wf["methods"] for s in wf["seeds"]]
                + [RunSpec("ablation", a, s) for a in wf["ablations"] for s in wf["ablation_seeds"]]
                + [RunSpec("classes", m, s, n) for m in CLASS_SWEEP_METHODS for n in wf["class_sweep"]
                   for s in wf["class_sweep_seeds"]]
                + [RunSpec(fw, m, s) for fw, entry in (wf.get("frameworks") or {}).items()
                   for m in wf["methods"] for s in entry["seeds"]])

    def run_overrides(self, run: RunSpec) -> list[tuple]:
        return run.overrides(self.cfg)

    def run_config(self, run: RunSpec) -> dict:
        return run.config(self.cfg)

    def state_dir(self, run: RunSpec) -> str:
        return run.state_folder(self.cfg, self.experiment)

    def find_run(self, path: str) -> RunSpec:
        run = RunSpec.parse(path)
        if run in self._planned() and run.path == path:  # the canonical spelling only (s0, not s00)
            return run
        raise UserError(f"{path} is not a run of experiment {self.experiment!r}")

    def reference_keys(self, sections) -> list[str]:
        """The config keys a reference (raw pixels, supervised) reads. It trains on the training
        split and scores the test split, so with ``data.train_subset`` set the validation split
        (held out of the images the subset left out) does not change it and
        ``data.val_subset`` is left out; with ``train_subset: null`` it decides the training
        rows and stays."""
        keys = []
        for section in sections:
            if (section == "data" and self.cfg["data"].get("train_subset") is not None
                    and self.evaluate_on == "test"):  # scoring val, they read val_subset
                keys += [f"data.{k}" for k in self.cfg["data"] if k != "val_subset"]
            else:
                keys.append(section)
        return keys

    def pretrain_deps(self, run: RunSpec) -> list[str]:
        return run.reads(self.cfg, self.experiment)

    # ------------------------------------------------------------------ files
    def run_dir(self, run: RunSpec) -> str:
        return run.folder(self.root)

    def run_files(self, run: RunSpec) -> list[str]:
        return [f"{self.run_dir(run)}/{name}" for name in
                ("model.pt", "train_log.csv", "fn_stats.csv", "config.resolved.yaml", "meta.json")]

    def epochs_dir(self, run: RunSpec) -> str:
        """The encoders kept after the epochs of ``train.save_epochs`` (a folder, possibly empty):
        an output of the pretraining job beside model.pt, so that DVC caches and restores them
        together and the detection study never mixes one run's final model with another's."""
        return f"{self.run_dir(run)}/epochs"

    def split_seeds(self) -> list[int]:
        """The seeds whose label splits a semi-supervised evaluation reads (main and framework runs)."""
        return sorted({r.seed for r in self.runs() if any(n.startswith("semisup_") for n in self.evaluations(r))})

    def split_file(self, seed: int, tag: str) -> str:
        return f"{self.root}/splits/f{tag}_s{seed}.json"

    def evaluations(self, run: RunSpec) -> list[str]:
        names = ["knn", "linear"]
        if run.group == "main" or run.framework:  # a method on another framework: every evaluation
            names += [f"semisup_{tag}" for tag in self.fractions]
        return names

    def eval_file(self, run: RunSpec, name: str) -> str:
        return f"{self.root}/evals/{run.path}/{name}.json"

    def reference_run(self, seed: int) -> RunSpec:
        return RunSpec("main", self.reference_method, seed)

    def reference_files(self) -> list[str]:
        return [j.outs[0] for j in self.jobs if j.rule in
                ("rawpixels", "supervised", "random_init", "detect_floor")]

    # the detection study runs on the first three seeds of SimCLR and of IFND (no retraining):
    # claim (b) is a slope over epochs with an interval over these seeds
    DETECT_SEEDS = 3
    DETECT_FILES = ("detect.csv", "detect.md", "detect_pr.png", "confusion.json")

    def detect_runs(self) -> list[RunSpec]:
        return [RunSpec("main", m, s) for m in ("simclr", "ifnd") if m in self.wf["methods"]
                for s in self._in_chunk(self.wf["seeds"][:self.DETECT_SEEDS])]

    def detect_files(self, run: RunSpec) -> list[str]:
        return [f"{self.root}/detect/{run.path}/{name}" for name in self.DETECT_FILES]

    def table_files(self) -> list[str]:
        return ([f"{self.root}/tables/{t}{suffix}" for t in TABLES
                 for suffix in (".csv", ".md", "_per_seed.csv")]
                + [f"{self.root}/tables/power.{ext}" for ext in ("csv", "md")])

    def figure_files(self) -> list[str]:
        return [f"{self.root}/figures/{f}.png" for f in FIGURES]

    @property
    def metrics_dir(self) -> str:
        return f"{self.root}/metrics"

    @property
    def report_file(self) -> str:
        return f"{self.root}/report.md"

    def final_targets(self) -> list[str]:
        return self.table_files() + [self.metrics_dir] + self.figure_files() + [self.report_file]

    # ------------------------------------------------------------------ the jobs
    def _add(self, job: Job, step: str) -> None:
        job.code = source_files(STEP_MODULES[step])
        job.fingerprint = fingerprint(self.cfg, job.params, job.overrides)
        self.jobs.append(job)

    def _build(self) -> None:
        cfg_args = self.config_args
        for run in self.runs():
            # the job names its run: `ifnd pretrain --run` takes the variant, the seed, the run
            # folder and the state folder from this definition when the job starts (so that a
            # changed config, `dvc exp run -S ...`, gets a state folder of its own)
            self._add(Job(
                "pretrain", f"pretrain-{run.path.replace('/', '-')}",
                f"ifnd pretrain {cfg_args} --run {run.path}",
                outs=self.run_files(run) + [self.epochs_dir(run)], deps=self.pretrain_deps(run),
                params=run.pretrain_keys(), overrides=self.run_overrides(run),
                cached=[f"{self.run_dir(run)}/model.pt", self.epochs_dir(run)]), "pretrain")
        for seed in self.split_seeds():
            for tag, fraction in self.fractions.items():
                self._add(Job(
                    "splits", f"splits-f{tag}-s{seed}",
                    f"ifnd splits {cfg_args} --fraction {fraction} --seed {seed}"
                    f" --out {self.split_file(seed, tag)}",
                    outs=[self.split_file(seed, tag)], params=["data"], cached=None), "splits")
        for run in self.runs():
            model = f"{self.run_dir(run)}/model.pt"
            for name in self.evaluations(run):
                stage = f"{name}-{run.path.replace('/', '-')}"
                out = self.eval_file(run, name)
                if name.startswith("semisup_"):
                    tag = name.split("_", 1)[1]
                    split = self.split_file(run.seed, tag)
                    self._add(Job(
                        "evaluate", stage,
                        f"ifnd semisup {self.run_dir(run)} {cfg_args} --fraction {self.fractions[tag]}"
                        f" --split {split}{self.on_arg} --out {out}",
                        outs=[out], deps=[model, split], params=["eval"]), "semisup")
                else:
                    self._add(Job(
                        "evaluate", stage, f"ifnd {name} {self.run_dir(run)} {cfg_args}{self.on_arg} --out {out}",
                        outs=[out], deps=[model], params=["eval"]), name)
        # references: the raw pixels, the supervised ceiling and the untrained encoder
        ref = f"{self.root}/reference"
        self._add(Job("rawpixels", "rawpixels", f"ifnd rawpixels {cfg_args}{self.on_arg} --out {ref}/rawpixels.json",
                      outs=[f"{ref}/rawpixels.json"], params=self.reference_keys(RAWPIXELS_SECTIONS)),
                  "rawpixels")
        # per seed: the supervised ceiling, and the detector's own setting on pixels and on the
        # random-init encoder (the floors of every detection number; its k-means seeds and the
        # initialisation follow the seed, and it reads only training images: no --on)
        for rule, sections, on in (("supervised", SUPERVISED_SECTIONS, self.on_arg),
                                   ("detect_floor", DETECT_FLOOR_SECTIONS, "")):
            for seed in self._in_chunk(self.wf["seeds"]):
                out = f"{ref}/{rule}/s{seed}.json"
                self._add(Job(rule, f"{rule}-s{seed}",
                              f"ifnd {rule.replace('_', '-')} {cfg_args} --set train.seed={seed}{on} --out {out}",
                              outs=[out], params=self.reference_keys(sections),
                              overrides=[("train.seed", seed)]), rule)
        for seed in self._in_chunk(self.wf["seeds"]):
            run = self.reference_run(seed)
            model = f"{self.run_dir(run)}/model.pt"
            for name in ["knn", "linear"] + [f"semisup_{t}" for t in self.fractions]:
                out = f"{ref}/random_init/s{seed}/{name}.json"
                stage = f"random_init-{name}-s{seed}"
                if name.startswith("semisup_"):
                    tag = name.split("_", 1)[1]
                    split = self.split_file(seed, tag)
                    self._add(Job(
                        "random_init", stage,
                        f"ifnd semisup {self.run_dir(run)} {cfg_args} --random-init"
                        f" --fraction {self.fractions[tag]} --split {split}{self.on_arg} --out {out}",
                        outs=[out], deps=[model, split], params=["eval"]), "semisup")
                else:
                    self._add(Job(
                        "random_init", stage,
                        f"ifnd {name} {self.run_dir(run)} {cfg_args} --random-init{self.on_arg} --out {out}",
                        outs=[out], deps=[model], params=["eval"]), name)
        for run in self.detect_runs():
            outs = self.detect_files(run)
            self._add(Job("detect", f"detect-{run.path.replace('/', '-')}",
                          f"ifnd detect {self.run_dir(run)} --out {Path(outs[0]).parent.as_posix()}",
                          outs=outs, deps=[f"{self.run_dir(run)}/model.pt", self.epochs_dir(run)]), "detect")
        # tables, figures and the report
        evidence = []
        for run in self.runs():
            evidence += self.run_files(run)[1:]
            evidence += [self.eval_file(run, n) for n in self.evaluations(run)]
        evidence += self.reference_files()
        report_args = f"--results {self.root} {cfg_args}"
        self._add(Job("tables", "tables",
                      f"ifnd tables {report_args} --out {self.root}/tables --metrics {self.metrics_dir}",
                      outs=self.table_files() + [self.metrics_dir], deps=evidence,
                      params=["data.name", "workflow"], metrics=[self.metrics_dir]),
                  "tables")
        self._add(Job("figures", "figures", f"ifnd figures {report_args} --out {self.root}/figures",
                      outs=self.figure_files(), deps=evidence, params=["data.name", "workflow"]), "figures")
        quoted = [REFERENCE_VALUES] if Path(REFERENCE_VALUES).is_file() else []  # from the repository root
        self._add(Job("report", "report", f"ifnd report {report_args} --out {self.report_file}",
                      outs=[self.report_file],
                      deps=self.table_files() + self.figure_files() + quoted
                      + [f for run in self.detect_runs() for f in self.detect_files(run)],
                      params=list(REPORT_SECTIONS)), "report")

    # ------------------------------------------------------------------ queries
    def recorded_mismatch(self, job: Job) -> str | None:
        """For a reference that records the config it was made with (rawpixels, supervised):
        the first config key whose recorded value differs from the current one, else None
        (also None when the file is absent or records no config)."""
        path = Path(job.outs[0])
        if job.rule not in ("rawpixels", "supervised", "detect_floor") or not path.is_file():
            return None
        try:
            recorded = json.loads(path.read_text()).get("inputs", {}).get("config")
        except (OSError, ValueError, AttributeError):
            return f"{path} is unreadable"
        if not isinstance(recorded, dict):
            return None
        return config_difference(recorded, self.cfg, job.params, job.overrides)

    def inputs(self, job: Job) -> list[str]:
        """The files a job waits for: its deps, less those of this experiment that no job of this
        chunk writes (another chunk committed them; checked to exist when the pipeline is built)."""
        return [d for d in job.deps if d in self.by_output or not d.startswith(self.root + "/")]

    def job(self, output: str) -> Job:
        try:
            return self.by_output[output]
        except KeyError:
            raise UserError(f"{output} is not an output of experiment {self.experiment!r}") from None

    def plots(self) -> list[dict]:
        """DVC plot definitions: the per-epoch curves of every main run, every seed."""
        def curves(filename, column, methods):
            return {f"{self.run_dir(RunSpec('main', m, s))}/{filename}": column
                    for m in methods if m in self.wf["methods"] for s in self.wf["seeds"]}
        every, detecting = METHOD_ORDER, DETECTING
        spec = [
            ("knn_over_epochs", "kNN top-1 accuracy over epochs", "train_log.csv", "knn_top1", every),
            ("fn_precision_over_epochs", "precision of the detected false negatives",
             "fn_stats.csv", "fn_precision", detecting),
            ("fn_recall_over_epochs", "recall of the detected false negatives", "fn_stats.csv",
             "fn_recall", detecting),
            ("fn_per_anchor_over_epochs", "detected false negatives per anchor", "fn_stats.csv",
             "fn_per_anchor", every),
            ("acceptance_rate_over_epochs", "acceptance rate of pseudo-labels", "train_log.csv",
             "acceptance_rate", ("ifnd",)),
        ]
        out = []
        for name, title, filename, column, methods in spec:
            y = curves(filename, column, methods)
            if y:
                out.append({name: {"title": title, "template": "linear", "x": "epoch", "y": y}})
        return out
