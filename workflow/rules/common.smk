# Shared definitions: which runs the experiment has, where their files go, and the arguments
# that pass the config to `ifnd`. Pure functions of the (already validated) `config`: nothing
# here reads data, runs a step or writes a file.

import copy
import hashlib
import json
import os
import shlex

import yaml

BASE_CONFIG = "config/config.yaml"

# The class-subset sweep of Figure 1 compares the baseline with the oracle upper bound.
CLASS_SWEEP_METHODS = ["simclr", "oracle"]

# Config keys that change how a run is executed or shown, not what it computes (the trainer
# resumes across them: see RESUME_FREE_KEYS in src/ifnd/train.py).
EXECUTION_ONLY_KEYS = ["train.progress", "train.threads", "train.device"]

TABLES = ["table1_linear", "table2_semisup", "table3_ablations", "table4_fn_stats"]
FIGURES = [
    "fig1_false_negative_effect",
    "fig2_fn_over_epochs",
    "fig3_acceptance_quality",
    "fig4_knn_over_epochs",
]

WF = config["workflow"]


# --------------------------------------------------------------------------- config arguments
def _workdir_relative(path):
    """A --configfile path as the jobs should see it: relative to the working directory when
    it lies inside it (commands stay readable and portable), else as given."""
    rel = os.path.relpath(str(path))
    return str(path) if rel.startswith(os.pardir) else rel


# The base config plus every `snakemake --configfile FILE`, in order: the files Snakemake
# merged into `config`, handed as they are to every ifnd command, which merges them the same
# way. (Snakemake's `--config key=value` reads nested values as strings, which the schema
# rejects; variants are override files.)
CONFIG_FILES = list(
    dict.fromkeys(
        [BASE_CONFIG] + [_workdir_relative(p) for p in workflow.overwrite_configfiles]
    )
)
IFND_CONFIG = " ".join(["--config"] + [shlex.quote(f) for f in CONFIG_FILES])


# --------------------------------------------------------------------------- runs
def main_runs():
    return [f"main/{m}/s{s}" for m in WF["methods"] for s in WF["seeds"]]


def ablation_runs():
    return [f"ablation/{a}/s{s}" for a in WF["ablations"] for s in WF["ablation_seeds"]]


def class_runs():
    return [
        f"classes/{m}/c{n}/s{s}"
        for m in CLASS_SWEEP_METHODS
        for n in WF["class_sweep"]
        for s in WF["class_sweep_seeds"]
    ]


def all_runs():
    return main_runs() + ablation_runs() + class_runs()


def run_overrides(run):
    """The `--set` pairs that turn the experiment config into one run's config.

    main/{method}/s{seed}: the method; ablation/{name}/s{seed}: the main IFND run plus the
    override dict workflow.ablations[name]; classes/{method}/c{n}/s{seed}: the first n classes.
    """
    parts = run.split("/")
    kind, seed = parts[0], int(parts[-1][1:])
    if kind == "main":
        overrides = [("method.name", parts[1])]
    elif kind == "ablation":
        overrides = list(WF["ablations"][parts[1]].items()) + [("method.name", "ifnd")]
    elif kind == "classes":
        overrides = [
            ("method.name", parts[1]),
            ("data.classes", list(range(int(parts[2][1:])))),
        ]
    else:
        raise ValueError(f"unknown run kind in {run!r}")
    return overrides + [("train.seed", seed)]


def _set_dotted(tree, key, value):
    *parents, last = key.split(".")
    for part in parents:
        tree = tree[part]
    tree[last] = value


def fingerprint(sections, overrides=()):
    """A short hash of the config sections a step reads (with run overrides applied): it
    names a run's state folder and, through `params`, makes Snakemake rerun a step when one
    of those values changes (and only then)."""
    cfg = copy.deepcopy(dict(config))
    for key, value in overrides:
        _set_dotted(cfg, key, value)
    for key in EXECUTION_ONLY_KEYS:
        section, name = key.split(".")
        cfg[section].pop(name, None)
    picked = {s: cfg[s] for s in sections}
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# Pretraining reads every section but `workflow` and `eval` (evaluations take `eval` from the
# current config, so changing an evaluation setting never retrains).
PRETRAIN_SECTIONS = ["data", "model", "augment", "train", "method", "fnd"]


def pretrain_params(run):
    """Arguments of `ifnd pretrain` for one run (a path below results/runs/): the variant
    options --ablation and --classes keep the meaning of each variant in the ifnd CLI."""
    parts = run.split("/")
    kind, seed = parts[0], parts[-1][1:]
    if kind == "main":
        variant = f"--set method.name={parts[1]}"
    elif kind == "ablation":
        variant = f"--ablation {shlex.quote(parts[1])}"
    else:
        variant = f"--set method.name={parts[1]} --classes {parts[2][1:]}"
    return f"{IFND_CONFIG} {variant} --set train.seed={seed}"


def state_dir(run):
    """Resumable training state, outside the declared outputs so that a rerun (or DVC's
    removal of outputs) never wipes long training; one folder per config, because the
    trainer refuses to resume a state made with another config."""
    digest = fingerprint(PRETRAIN_SECTIONS, run_overrides(run))
    return f"state/runs/{run}/{digest}"


# --------------------------------------------------------------------------- evaluations
def fraction_tag(fraction):
    """0.01 -> "1", 0.1 -> "10": the label fraction in percent, as in file names."""
    return f"{round(fraction * 100, 6):g}"


SEMISUP_FRACTIONS = {fraction_tag(f): f for f in config["eval"]["semisup"]["fractions"]}


def evals_of(run):
    """The evaluation files of a run: kNN and linear for all, semi-supervised for main runs."""
    names = ["knn", "linear"]
    if run.startswith("main/"):
        names += [f"semisup_{tag}" for tag in SEMISUP_FRACTIONS]
    return [f"results/evals/{run}/{name}.json" for name in names]


def split_file(seed, tag):
    return f"results/splits/{config['data']['name']}_f{tag}_s{seed}.json"


# The random-initialisation references evaluate an untrained copy of this method's encoder,
# once per seed: seed s is initialised with train.seed = s and fine-tuned on split s, so that the
# comparison with the pretrained encoder of seed s is paired.
REFERENCE_METHOD = "simclr" if "simclr" in WF["methods"] else WF["methods"][0]


def reference_run(seed):
    return f"main/{REFERENCE_METHOD}/s{seed}"


# The untrained encoder is evaluated like the others: kNN, linear, and fine-tuned on every
# label fraction (the floor of Table 2).
RANDOM_INIT_EVALS = ["knn", "linear"] + [f"semisup_{tag}" for tag in SEMISUP_FRACTIONS]


def reference_files():
    return (
        ["results/reference/rawpixels.json"]
        + [
            f"results/reference/random_init/s{s}/{name}.json"
            for s in WF["seeds"]
            for name in RANDOM_INIT_EVALS
        ]
        + [f"results/reference/supervised/s{s}.json" for s in WF["seeds"]]
    )


# --------------------------------------------------------------------------- report inputs
def result_files():
    """Everything the tables and figures read: run logs, evaluations and references."""
    files = []
    for run in all_runs():
        files += [
            f"results/runs/{run}/{name}"
            for name in ("train_log.csv", "fn_stats.csv", "meta.json", "config.resolved.yaml")
        ]
        files += evals_of(run)
    return files + reference_files()


def table_files():
    return [f"results/tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md")]


def figure_files():
    return [f"results/figures/{f}.png" for f in FIGURES]


def report_inputs():
    """Tables, figures and, where it exists, the file of values quoted from elsewhere that
    `ifnd report` reads beside the base config."""
    quoted = "config/reference_values.yaml"
    return table_files() + figure_files() + ([quoted] if os.path.exists(quoted) else [])


def final_targets():
    return table_files() + figure_files() + ["results/report.md"]
