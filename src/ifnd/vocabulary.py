"""The project's vocabulary, defined once: the methods and controls a run can pretrain with,
the names of the tables and figures, and the config keys that change how a run is executed,
not what it computes.

The trainer (through :func:`ifnd.fnd.detector.build_detector`), the pipeline (and so the
Snakemake workflow and the generated dvc.yaml), the tables, the figures and the report read
it: adding a method or an oracle control is one :data:`METHODS` entry here plus its detector.
``uses_labels`` marks the entries that read the training labels (the oracle and its controls):
they explain results, they are never self-supervised (docs/method.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Method", "METHODS", "METHOD_ORDER", "DETECTING", "FRAMEWORKS", "labels", "short_labels", "colours",
           "method_label",
           "experiment_name",
           "TABLES", "FIGURES", "EVALUATIONS",
           "EXECUTION_ONLY_KEYS", "IDENTITY_FREE_KEYS", "RESUME_FREE_KEYS", "EVALUATION_KEYS",
           "TRAIN_LOG_COLUMNS", "TRAIN_LOG_REQUIRED", "FN_STATS_COLUMNS", "FN_BATCH_COLUMNS",
           "FN_LEVEL_COLUMNS"]


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
    Method("oracle_matched", "Oracle degraded to IFND's precision and recall on IFND's schedule "
           "(true labels, control)", "Oracle, IFND-matched", "tab:pink", "oracle_matched",
           uses_labels=True),
)}

METHOD_ORDER = tuple(METHODS)
# the methods that remove detected false negatives (and so have detection statistics)
DETECTING = tuple(name for name, m in METHODS.items() if m.detector is not None)


# The base frameworks a run trains with (train.framework): SimCLR's in-batch negatives, or MoCo
# v2's momentum encoder and queue (ifnd.moco). A method's label names its framework.
FRAMEWORKS = {"simclr": "SimCLR", "moco": "MoCo v2"}


def method_label(name: str, framework: str = "simclr") -> str:
    """``"ifnd", "moco"`` -> ``"MoCo v2 + IFND"``: the method's label on that framework."""
    method = METHODS.get(name)
    label = name if method is None else method.label
    return label if framework == "simclr" else label.replace("SimCLR", FRAMEWORKS[framework])


def labels() -> dict[str, str]:
    return {name: m.label for name, m in METHODS.items()}


def short_labels() -> dict[str, str]:
    return {name: m.short for name, m in METHODS.items()}


def colours() -> dict[str, str]:
    return {name: m.colour for name, m in METHODS.items()}


# --------------------------------------------------------------------------- experiments
def experiment_name(cfg: dict) -> str:
    """``workflow.experiment``, or the dataset name when it is null: every output of the
    experiment lies below ``results/<experiment>/`` (a run's own path: ifnd.runspec)."""
    return (cfg.get("workflow") or {}).get("experiment") or cfg["data"]["name"]


# --------------------------------------------------------------------------- outputs
TABLES = ("table1_linear", "table2_semisup", "table3_ablations", "table4_fn_stats")
FIGURES = {
    "fig1_false_negative_effect": "Figure 1. The harm from false negatives vs the number of semantic "
                                  "classes: SimCLR against oracle removal of the true false negatives, "
                                  "on class subsets and the full dataset.",
    "fig2_fn_over_epochs": "Figure 2. Detected false negatives per anchor, their precision and recall "
                           "over training epochs (IFND main runs; ablations dashed).",
    "fig3_acceptance_quality": "Figure 3. Acceptance rate and pseudo-label quality (NMI, purity of all "
                               "and of accepted samples) per k-means level over epochs.",
    "fig4_knn_over_epochs": "Figure 4. Online kNN top-1 accuracy over pretraining epochs per method.",
    "fig5_gain_vs_detection": "Figure 5. How good detection must be to pay off: linear top-1 gain over "
                              "SimCLR (seed-paired) against the pair precision and recall of the "
                              "removed false negatives at the end of training, for IFND, its "
                              "ablations and the attribution controls.",
    "fig6_attribution": "Figure 6. The attribution chain as a waterfall: the oracle's linear gain over "
                        "SimCLR, what IFND's schedule loses, what IFND's detection quality loses (true "
                        "labels degraded to IFND's precision and recall on its schedule), what is left "
                        "to the rest, and IFND's own gain (seed-paired means with 95% intervals).",
}
# the evaluations of a run (semisup_{percent} per label fraction of eval.semisup.fractions)
EVALUATIONS = ("knn", "linear", "semisup_1", "semisup_10")
# how the report names each evaluation's score, in the order its claims and floors list them
EVALUATION_LABELS = {"linear": "linear top-1", "knn": "kNN top-1", "semisup_1": "1%-label top-1",
                     "semisup_10": "10%-label top-1"}

# The CSV files of a run folder, as the trainer writes them and the report reads them.
# train_log.csv: one row per epoch (the report needs only TRAIN_LOG_REQUIRED).
TRAIN_LOG_COLUMNS = ("epoch", "loss", "lr", "knn_top1", "epoch_seconds", "cluster_seconds",
                     "monitor_seconds", "images_per_second", "acceptance_rate")
TRAIN_LOG_REQUIRED = ("epoch", "loss", "knn_top1")
# fn_stats.csv: per epoch, one row per k-means level (FN_LEVEL_COLUMNS filled) and one
# ``level == "batch"`` row of in-batch detection statistics (FN_BATCH_COLUMNS filled).
FN_BATCH_COLUMNS = ("acceptance_rate", "fn_per_anchor", "fn_precision", "fn_recall", "true_fn_per_anchor")
FN_LEVEL_COLUMNS = ("n_clusters", "nmi", "ari", "purity_all", "purity_accepted", "accepted_fraction")
FN_STATS_COLUMNS = ("epoch", "level", "n_clusters", "acceptance_rate", "nmi", "ari", "purity_all",
                    "purity_accepted", "accepted_fraction", "fn_per_anchor", "fn_precision",
                    "fn_recall", "true_fn_per_anchor")
assert set(FN_STATS_COLUMNS) == {"epoch", "level", *FN_BATCH_COLUMNS, *FN_LEVEL_COLUMNS}

# --------------------------------------------------------------------------- result-neutral keys
# Config keys that change how a run is executed or shown, not what it computes: they are left
# out of the pipeline's fingerprints (a change reruns nothing) and of dvc.yaml's params.
EXECUTION_ONLY_KEYS = ("train.progress", "train.threads", "train.device", "train.save_epochs")
# Left out when a reference's recorded config is compared with the current one: besides the
# execution-only keys, the numeric format and memory layout ("auto" is resolved per machine when
# the job runs), which change how a result is computed, not what it measures.
IDENTITY_FREE_KEYS = EXECUTION_ONLY_KEYS + ("train.precision", "train.channels_last", "train.compile")
# May differ between a run and the state it resumes from (prefixes): the execution-only keys and
# the sections pretraining does not read.
RESUME_FREE_KEYS = EXECUTION_ONLY_KEYS + ("workflow.", "eval.")
# What an evaluation may change in a run's stored config; the rest describes how the encoder
# was pretrained.
EVALUATION_KEYS = ("eval.", "train.progress", "train.threads", "train.device")
