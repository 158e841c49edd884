"""Tables 1-4 of the paper, rebuilt from run and evaluation outputs.

- ``table1_linear``: linear (and kNN) top-1 per method, reference rows, paired differences;
- ``table2_semisup``: semi-supervised top-1 with 1% and 10% of the labels;
- ``table3_ablations``: the IFND default against each ablation, seed-matched;
- ``table4_fn_stats``: false-negative detection and pseudo-label quality at the end of training.

Each table is written as ``<name>.csv`` (full precision; accuracies and rates in percent, so
differences read in points) and ``<name>.md`` (2 decimals). Values are mean ± sample std over
seeds; a difference between two methods is paired over the seeds both have, with a 95%
confidence interval from the t distribution (none with a single pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..config import atomic_write_text, flatten
from .. import vocabulary
from ..errors import UserError
from ..runspec import FRAMEWORK_GROUPS
from .collect import FLOOR_SPACES, Results, add_results_arguments, results_of
from .markdown import Metric, fmt_diff, fmt_value, markdown_table
from .stats import Stat, detectable_effect, paired_difference, summarise

METHOD_LABELS = vocabulary.labels()
SHORT_LABELS = vocabulary.short_labels()
DATASET_LABELS = {"fashion-mnist": "Fashion-MNIST", "fashion-scenes": "Fashion-MNIST scenes", "cifar10": "CIFAR-10",
                  "cifar100": "CIFAR-100", "imagefolder": "an ImageFolder dataset",
                  "synthetic": "the synthetic dataset"}

LINEAR = Metric("linear_top1_pct", "Linear top-1 (%)")
LINEAR5 = Metric("linear_top5_pct", "Linear top-5 (%)")
KNN = Metric("knn_top1_pct", "kNN top-1 (%)")
SEMI1 = Metric("semisup_1_top1_pct", "1% labels top-1 (%)")
SEMI10 = Metric("semisup_10_top1_pct", "10% labels top-1 (%)")
ALL_LABELS = Metric("all_labels_top1_pct", "All labels top-1 (%)")
ACCEPT = Metric("acceptance_rate_pct", "Acceptance rate (%)")
FN = Metric("fn_per_anchor", "FN per anchor", scale=1.0)
PREC = Metric("fn_precision_pct", "FN precision (%)")
REC = Metric("fn_recall_pct", "FN recall (%)")
TRUE_FN = Metric("true_fn_per_anchor", "True FN per anchor", scale=1.0)
CLUSTERS = Metric("n_clusters", "Clusters", scale=1.0, decimals=1)
NMI = Metric("nmi", "NMI", scale=1.0, decimals=3)
ARI = Metric("ari", "ARI", scale=1.0, decimals=3)
PUR_ALL = Metric("purity_all_pct", "Purity, all (%)")
PUR_ACC = Metric("purity_accepted_pct", "Purity, accepted (%)")
ACC_FRAC = Metric("accepted_fraction_pct", "Accepted (%)")


# --------------------------------------------------------------------------- table objects

@dataclass
class Table:
    name: str
    title: str
    frame: pd.DataFrame                 # the CSV: full precision
    parts: list = field(default_factory=list)   # [(subtitle or "", markdown frame of strings)]
    notes: list = field(default_factory=list)

    def markdown(self, heading: str = "###") -> str:
        lines = [f"{heading} {self.title}", ""]
        for subtitle, frame in self.parts:
            if subtitle:
                lines += [f"*{subtitle}*", ""]
            lines += [markdown_table(frame), ""]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def _stat_columns(metric: Metric, stat: Stat | None, prefix: str = "") -> dict:
    s = (stat or Stat(0)).scaled(metric.scale)
    stem = prefix + metric.key
    return {f"{stem}_n": s.n, f"{stem}_mean": s.mean, f"{stem}_std": s.std,
            f"{stem}_ci_low": s.ci_low, f"{stem}_ci_high": s.ci_high,
            f"{stem}{PER_SEED}": tuple(zip(s.seeds, s.values))}


PER_SEED = "_per_seed"  # a cell's (seed, value) pairs: written to <table>_per_seed.csv, not the table


def split_per_seed(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the table without its per-seed cells, the long per-seed frame: row, label, column,
    seed, value). Each interval of the table is recomputed from the rows of one (row, column)."""
    cols = [c for c in frame.columns if c.endswith(PER_SEED)]
    long = []
    for _, rec in frame.iterrows():
        for col in cols:
            for seed, value in (rec[col] if isinstance(rec[col], tuple) else ()):
                long.append({"row": rec.get("row"), "label": rec.get("label"),
                             "column": col[: -len(PER_SEED)], "seed": int(seed), "value": value})
    return (frame.drop(columns=cols),
            pd.DataFrame(long, columns=["row", "label", "column", "seed", "value"]))


def _row_n(stats: Iterable[Stat | None]) -> int:
    return max((s.n for s in stats if s is not None), default=0)


def _diff_label(name: str, base: str = "simclr", framework: str = "simclr") -> str:
    if framework == "simclr":
        return f"{SHORT_LABELS.get(name, name)} − {SHORT_LABELS.get(base, base)}"
    label = vocabulary.FRAMEWORKS[framework]
    return f"{label} {SHORT_LABELS.get(name, name)} − {label}"


def main_framework(results: Results) -> str:
    """The base framework of the main runs (train.framework; absent: SimCLR)."""
    return ((results.main_config() or {}).get("train") or {}).get("framework") or "simclr"


def method_groups(results: Results) -> list[tuple[str, str]]:
    """(group, framework) of every group of method runs: the main runs, then each other
    framework's (workflow.frameworks), which the tables show beside them."""
    return [("main", main_framework(results))] + [(g, g) for g in FRAMEWORK_GROUPS if results.names(g)]


def dataset_label(results: Results) -> str:
    cfg = results.main_config() or {}
    name = (cfg.get("data") or {}).get("name")
    return DATASET_LABELS.get(name, name or "the dataset")


def _accuracy_table(results: Results, name: str, title: str,
                    metrics: list[tuple[Metric, str, str]], references: list[tuple[str, str, dict]],
                    notes: list[str], floors: dict[str, dict] | None = None) -> Table:
    """Methods (mean ± std), reference rows, then paired differences to SimCLR and, for each
    per-seed floor, SimCLR minus that floor paired over the seeds.

    ``metrics``: (metric, evaluation, field); ``references``: (row id, label, {metric key: Stat});
    ``floors``: {floor row label: {metric key: {seed: value}}}.
    """
    records, shown = [], []
    groups = method_groups(results)
    per_group = {g: {m: {metric.key: results.metric(g, m, ev, fld) for metric, ev, fld in metrics}
                     for m in results.names(g)} for g, _ in groups}
    methods, per_method = list(per_group["main"]), per_group["main"]

    def add(row: str, label: str, kind: str, cells: dict[str, Stat | None], diff: bool = False):
        rec = {"row": row, "label": label, "kind": kind}
        for metric, _, _ in metrics:
            rec.update(_stat_columns(metric, cells.get(metric.key)))
        records.append(rec)
        n = _row_n(cells.values())
        fmt = {m.key: (fmt_diff(cells.get(m.key), m) if diff else fmt_value(cells.get(m.key), m, n))
               for m, _, _ in metrics}
        shown.append({"Method": label, "n": n, **{m.header: fmt[m.key] for m, _, _ in metrics}})

    for group, framework in groups:
        for m, values in per_group[group].items():
            add(m if group == "main" else f"{group}:{m}", vocabulary.method_label(m, framework), "method",
                {k: summarise(v) for k, v in values.items()})
    for row, label, cells in references:
        if any(s is not None and s.n for s in cells.values()):
            add(row, label, "reference", cells)
    for group, framework in groups:  # each framework's methods against its own baseline
        mine = per_group[group]
        if "simclr" not in mine:
            continue
        prefix = "" if group == "main" else f"{group}:"
        for m in mine:
            if m == "simclr":
                continue
            cells = {k: paired_difference(mine[m][k], mine["simclr"][k]) for k in mine[m]}
            add(f"diff:{prefix}{m}-{prefix}simclr", _diff_label(m, framework=framework), "difference",
                cells, diff=True)
    if "simclr" in methods:
        for label, per_seed in (floors or {}).items():
            cells = {k: paired_difference(per_method["simclr"][k], per_seed[k]) for k in per_seed}
            if any(c.n for c in cells.values()):
                add(f"diff:simclr-{label.replace(' ', '_')}", f"{SHORT_LABELS['simclr']} − {label}",
                    "difference", cells, diff=True)
    frame = pd.DataFrame(records)
    md = pd.DataFrame(shown)
    # drop metric columns that nobody has (e.g. top-5 with 10 classes)
    for metric, _, _ in metrics if records else []:
        if metric.key != metrics[0][0].key and not (frame[f"{metric.key}_n"] > 0).any():
            frame = frame.drop(columns=[c for c in frame.columns if c.startswith(metric.key + "_")])
            md = md.drop(columns=[metric.header])
    table = Table(name, title, frame, [("", md)] if len(md) else [], notes)
    if not len(md):
        table.notes.insert(0, "No evaluation results were found for this table.")
    return table


def _single(value: float | None) -> Stat | None:
    return None if value is None else summarise([value])


def table1_linear(results: Results) -> Table:
    refs = results.references
    sup = refs["supervised"]
    raw = refs["rawpixels"] or {}
    rnd = {LINEAR.key: results.reference("random_init", "linear"),
           LINEAR5.key: results.reference("random_init", "linear", "top5"),
           KNN.key: results.reference("random_init", "knn")}
    references = [
        ("ref:supervised", "Supervised, all labels (ceiling)",
         {LINEAR.key: summarise({s: r["top1"] for s, r in sup.items()}),
          LINEAR5.key: summarise({s: r["top5"] for s, r in sup.items() if r["top5"] is not None})}),
        ("ref:random_init", "Random init (frozen)", {k: summarise(v) for k, v in rnd.items()}),
        ("ref:rawpixels", "Raw pixels", {LINEAR.key: _single(raw.get("linear")), KNN.key: _single(raw.get("knn"))}),
    ]
    title = (f"Table 1. Linear evaluation on {dataset_label(results)}: {results.split_name} top-1 (%), mean ± std "
             "over seeds (n = seeds)")
    notes = ["Differences are paired over the seeds both methods have: mean [95% CI, t distribution], "
             "in percentage points.",
             "The supervised row trains the same backbone with all labels; random init evaluates the "
             "untrained encoder of each seed (SimCLR − random init is paired over seeds); raw pixels "
             "skips the encoder."]
    if raw.get("knn_unstandardised") is not None and raw.get("knn") is not None:
        notes.append(f"The raw-pixel row is the standardised model input; kNN on the pixels in [0, 1] "
                     f"without that standardisation gives {100 * raw['knn_unstandardised']:.2f}% "
                     f"(against {100 * raw['knn']:.2f}%).")
    return _accuracy_table(results, "table1_linear", title,
                           [(LINEAR, "linear", "top1"), (LINEAR5, "linear", "top5"), (KNN, "knn", "top1")],
                           references, notes, floors={"random init": rnd})


def table2_semisup(results: Results) -> Table:
    refs = results.references
    rnd = {SEMI1.key: results.reference("random_init", "semisup_1"),
           SEMI10.key: results.reference("random_init", "semisup_10")}
    references = [
        ("ref:supervised", "Supervised, all labels (ceiling)",
         {ALL_LABELS.key: summarise({s: r["top1"] for s, r in refs["supervised"].items()})}),
        ("ref:random_init", "Random init, fine-tuned", {k: summarise(v) for k, v in rnd.items()}),
        ("ref:rawpixels", "Raw pixels, linear on the labelled images",
         {SEMI1.key: _single((refs["rawpixels"] or {}).get("semisup_1")),
          SEMI10.key: _single((refs["rawpixels"] or {}).get("semisup_10"))}),
    ]
    title = (f"Table 2. Semi-supervised fine-tuning on {dataset_label(results)} with 1% and 10% of the "
             f"training labels: {results.split_name} top-1 (%), mean ± std over seeds")
    notes = ["Differences are paired over matched seeds: mean [95% CI, t distribution], in percentage points.",
             "The floors: the same backbone fine-tuned from random initialisation of each seed on that "
             "seed's labelled images (SimCLR − random init is paired over seeds), and a linear classifier "
             "on the raw pixels of one split's labelled images (drawn with the config's train.seed)."]
    return _accuracy_table(results, "table2_semisup", title,
                           [(SEMI1, "semisup_1", "top1"), (SEMI10, "semisup_10", "top1"),
                            (ALL_LABELS, "__none__", "top1")],
                           references, notes, floors={"random init": rnd})


CONFIG_SECTIONS = ("data", "model", "augment", "train", "method", "fnd", "eval")


def _short(value) -> str:
    """A setting's value for the "Changed setting" column: a path keeps its last three parts
    (each run's config.resolved.yaml has it whole)."""
    text = str(value).replace("'", "")
    parts = text.split("/")
    return "…/" + "/".join(parts[-3:]) if len(parts) > 3 and " " not in text else text


def config_changes(config: dict | None, default: dict | None) -> str:
    """``"fnd.schedule: linear → all"`` for each setting in which ``config`` differs."""
    if config is None or default is None:
        return "–"
    a = flatten({k: v for k, v in config.items() if k in CONFIG_SECTIONS})
    b = flatten({k: v for k, v in default.items() if k in CONFIG_SECTIONS})
    changed = [k for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    if not changed:
        return "(none)"
    return "; ".join(f"{k}: {_short(b.get(k, '<absent>'))} → {_short(a.get(k, '<absent>'))}" for k in changed)


def _ablation_stats(results: Results, group: str, name: str) -> dict[str, dict[int, float]]:
    return {
        LINEAR.key: results.metric(group, name, "linear"),
        KNN.key: results.metric(group, name, "knn"),
        FN.key: results.final_batch_stat(group, name, "fn_per_anchor"),
        PREC.key: results.final_batch_stat(group, name, "fn_precision"),
        REC.key: results.final_batch_stat(group, name, "fn_recall"),
    }


def table3_ablations(results: Results) -> Table:
    metrics = [LINEAR, KNN, FN, PREC, REC]
    delta_shown = [LINEAR, KNN]
    ablations = results.names("ablation")
    default = _ablation_stats(results, "main", "ifnd")
    seeds = {r.key.seed for a in ablations for r in results.select("ablation", a)}
    notes = ["Each ablation changes one IFND setting, each attribution control replaces IFND's "
             "clusters by true labels (column 'Changed setting', read from the run configs); Δ is "
             "the paired difference to the default over matched seeds: mean [95% CI].",
             "FN statistics are the in-batch values of the last epoch (precision and recall in %)."]
    default_view = default
    if seeds:
        restricted = {k: {s: v for s, v in vals.items() if s in seeds} for k, vals in default.items()}
        if any(restricted.values()):
            default_view = restricted
            notes.insert(1, f"The default row uses the main IFND runs with the ablation seeds "
                            f"{sorted(seeds)}.")
    default_cfg = {r.key.seed: r.config for r in results.select("main", "ifnd")}
    records, shown = [], []

    def add(row, label, changes, vals, deltas):
        cells = {k: summarise(v) for k, v in vals.items()}
        n = _row_n(cells.values())
        rec = {"row": row, "label": label, "changed_setting": changes}
        for m in metrics:
            rec.update(_stat_columns(m, cells[m.key]))
        for m in metrics:
            rec.update(_stat_columns(m, deltas.get(m.key), prefix="delta_"))
        records.append(rec)
        view = {"Variant": label, "Changed setting": changes, "n": n}
        for m in metrics:
            view[m.header] = fmt_value(cells[m.key], m, n)
            if m in delta_shown:
                view["Δ " + m.header.replace(" (%)", " (points)")] = fmt_diff(deltas.get(m.key), m) if deltas else ""
        shown.append(view)

    if results.select("main", "ifnd") or ablations:
        add("ifnd", "IFND (default)", "", default_view, {})
    for a in ablations:
        vals = _ablation_stats(results, "ablation", a)
        deltas = {m.key: paired_difference(vals[m.key], default[m.key]) for m in metrics}
        runs = results.select("ablation", a)
        cfg_run = next((r for r in runs if r.config is not None and default_cfg.get(r.key.seed)), None)
        if cfg_run is not None:
            changes = config_changes(cfg_run.config, default_cfg[cfg_run.key.seed])
        else:
            any_default = next((c for c in default_cfg.values() if c is not None), None)
            any_run = next((r.config for r in runs if r.config is not None), None)
            changes = config_changes(any_run, any_default)
        add(f"ablation:{a}", a, changes, vals, deltas)
    frame = pd.DataFrame(records)
    title = (f"Table 3. Ablations of IFND on {dataset_label(results)}, {results.split_name} top-1 "
             "(seed-matched to the default)")
    if not ablations:
        notes.insert(0, "No ablation runs were found.")
    return Table("table3_ablations", title, frame, [("", pd.DataFrame(shown))] if shown else [], notes)


def table4_fn_stats(results: Results) -> Table:
    batch_metrics = [ACCEPT, FN, PREC, REC, TRUE_FN]
    columns = {ACCEPT.key: "acceptance_rate", FN.key: "fn_per_anchor", PREC.key: "fn_precision",
               REC.key: "fn_recall", TRUE_FN.key: "true_fn_per_anchor"}
    records, shown = [], []
    frameworks = dict(method_groups(results))
    rows = ([("main", m) for m in results.names("main")] + [(g, m) for g in frameworks if g != "main"
                                                              for m in results.names(g)]
            + [("ablation", a) for a in results.names("ablation")])
    for group, name in rows:
        runs = results.select(group, name)
        finals = [r.final_batch() for r in runs]
        epochs = sorted({int(f["epoch"]) for f in finals if f is not None})
        if not epochs:
            continue
        cells = {m.key: summarise(results.final_batch_stat(group, name, columns[m.key])) for m in batch_metrics}
        n = sum(f is not None for f in finals)
        label = f"ablation: {name}" if group == "ablation" else vocabulary.method_label(name, frameworks[group])
        rec = {"section": "in-batch", "row": f"{group}:{name}", "label": label, "level": np.nan,
               "final_epoch": max(epochs), "runs": n}
        for m in batch_metrics:
            rec.update(_stat_columns(m, cells[m.key]))
        records.append(rec)
        shown.append({"Run": label, "n": n, "Final epoch": "/".join(map(str, epochs)),
                      **{m.header: fmt_value(cells[m.key], m, n) for m in batch_metrics}})
    # the floors: IFND's detector on inputs no training touched, at its final acceptance rate
    rate = results.final_rate()
    for space, what in FLOOR_SPACES.items():
        at, label = results.floor(space), f"the detector on {'the ' if space != 'pixels' else ''}{what}"
        if not at:
            continue
        cells = {PREC.key: summarise({s: v[0] for s, v in at.items()}),
                 REC.key: summarise({s: v[1] for s, v in at.items()})}
        n = _row_n(cells.values())
        rec = {"section": "in-batch", "row": f"floor:{space}", "label": f"floor: {label}",
               "level": np.nan, "final_epoch": np.nan, "runs": n}
        for m in batch_metrics:
            rec.update(_stat_columns(m, cells.get(m.key)))
        records.append(rec)
        shown.append({"Run": f"floor: {label}, rate {rate:g}", "n": n, "Final epoch": "",
                      **{m.header: fmt_value(cells[m.key], m, n) if m.key in cells else ""
                         for m in batch_metrics}})
    level_metrics = [CLUSTERS, NMI, ARI, PUR_ALL, PUR_ACC, ACC_FRAC]
    level_cols = {CLUSTERS.key: "n_clusters", NMI.key: "nmi", ARI.key: "ari", PUR_ALL.key: "purity_all",
                  PUR_ACC.key: "purity_accepted", ACC_FRAC.key: "accepted_fraction"}
    finals = {r.key.seed: r.final_levels() for r in results.select("main", "ifnd")}
    levels = sorted({int(k) for df in finals.values() for k in df["level"]})
    level_shown = []
    for k in levels:
        per_seed = {m.key: {} for m in level_metrics}
        epochs = set()
        for seed, df in finals.items():
            row = df[df["level"] == k]
            if row.empty:
                continue
            epochs.add(int(row["epoch"].iloc[0]))
            for m in level_metrics:
                v = float(row[level_cols[m.key]].iloc[0])
                if np.isfinite(v):
                    per_seed[m.key][seed] = v
        cells = {key: summarise(v) for key, v in per_seed.items()}
        n = _row_n(cells.values())
        rec = {"section": "per level (main IFND)", "row": f"level:{k}", "label": f"k = {k}",
               "level": k, "final_epoch": max(epochs), "runs": n}
        for m in level_metrics:
            rec.update(_stat_columns(m, cells[m.key]))
        records.append(rec)
        level_shown.append({"Level (k)": k, "n": n, "Epoch": "/".join(map(str, sorted(epochs))),
                            **{m.header: fmt_value(cells[m.key], m, n) for m in level_metrics}})
    parts = []
    if shown:
        parts.append(("In-batch false-negative detection at the last epoch (mean ± std over seeds)",
                      pd.DataFrame(shown)))
    if level_shown:
        parts.append(("Pseudo-label quality per k-means level of the main IFND runs at the last clustering",
                      pd.DataFrame(level_shown)))
    notes = ["Precision: detected false negatives that truly share the anchor's class; recall: true "
             "same-class negatives that were detected; true FN per anchor: same-class negatives in "
             "the batch. True labels are used for measurement only.",
             "Floor rows: IFND's own clustering and acceptance (its levels, confidence and ranking) "
             "run once on the raw pixels and on the randomly initialised encoder, at the final "
             "acceptance rate, scored as pair precision and recall over the training images "
             "(`ifnd detect-floor`): a detector is worth something only above them."]
    if not parts:
        notes.insert(0, "No fn_stats.csv files were found.")
    title = f"Table 4. False-negative detection statistics at the end of training on {dataset_label(results)}"
    return Table("table4_fn_stats", title, pd.DataFrame(records), parts, notes)


def build_tables(results: Results) -> list[Table]:
    return [table1_linear(results), table2_semisup(results), table3_ablations(results),
            table4_fn_stats(results)]


def seeds_needed(std: float, effect: float, most: int = 50) -> float:
    """The fewest seeds (2 to ``most``) at which a paired comparison with this spread detects
    ``effect`` (5%, 80% power); NaN where even ``most`` does not."""
    if not (np.isfinite(std) and np.isfinite(effect)) or effect == 0:
        return np.nan
    for n in range(2, most + 1):
        if detectable_effect(std, n) <= abs(effect):
            return float(n)
    return np.nan


def power_table(per_seed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every seed-paired comparison of the tables (the differences to SimCLR of Tables 1 and 2,
    the Δ to the IFND default of Table 3): its seeds, mean, spread, the smallest effect it can
    detect (paired t test at 5%, 80% power), IFND's own linear gain over SimCLR (the effect at
    stake) and the seeds it would need to detect that gain. Computed from the per-seed values, so
    the next run's seed count can be chosen before it starts (docs/method.md, Verdicts)."""
    rows = []
    for table, frame in per_seed.items():
        for (row, column), part in frame.groupby(["row", "column"], sort=False):
            if not (str(row).startswith("diff:") or str(column).startswith("delta_")):
                continue
            x = part["value"].to_numpy(dtype=float)
            std = float(x.std(ddof=1)) if len(x) > 1 else np.nan
            rows.append({"table": table, "row": row, "column": column, "seeds": len(x),
                         "mean": float(x.mean()) if len(x) else np.nan, "std": std,
                         "detectable": detectable_effect(std, len(x))})
    frame = pd.DataFrame(rows, columns=["table", "row", "column", "seeds", "mean", "std", "detectable"])
    gain = frame[(frame["row"] == "diff:ifnd-simclr") & (frame["column"] == LINEAR.key)]["mean"]
    effect = float(gain.iloc[0]) if len(gain) else np.nan
    frame["ifnd_gain"] = effect
    frame["underpowered"] = frame["detectable"] > abs(effect)
    frame["seeds_to_detect_ifnd_gain"] = [seeds_needed(s, effect) for s in frame["std"]]
    return frame


def write_tables(tables: list[Table], out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    written, per_seed_frames = [], {}
    for table in tables:
        csv_path, md_path = out_dir / f"{table.name}.csv", out_dir / f"{table.name}.md"
        seeds_path = out_dir / f"{table.name}{PER_SEED}.csv"
        frame, per_seed = split_per_seed(table.frame)
        atomic_write_text(csv_path, frame.to_csv(index=False))
        atomic_write_text(seeds_path, per_seed.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(md_path, table.markdown())
        written += [csv_path, md_path, seeds_path]
        per_seed_frames[table.name] = per_seed
    power = power_table(per_seed_frames)
    atomic_write_text(out_dir / "power.csv", power.to_csv(index=False, float_format="%.4g"))
    text = ["### Power of every seed-paired comparison", "",
            "Smallest effect each comparison can detect (paired t test at 5%, 80% power) from its "
            "seeds' spread, against IFND's linear gain over SimCLR; `seeds_to_detect_ifnd_gain`: "
            "the seeds it would need (blank: more than 50).", "",
            markdown_table(power.round(3).astype(object).where(power.notna(), "")) if len(power) else "(none)", ""]
    atomic_write_text(out_dir / "power.md", "\n".join(text))
    written += [out_dir / "power.csv", out_dir / "power.md"]
    return written


# --------------------------------------------------------------------------- flat metrics

# (table, column prefix in the CSV, metric name in the flat files)
METRIC_COLUMNS = (
    ("table1_linear", "linear_top1_pct", "linear_top1"),
    ("table1_linear", "knn_top1_pct", "knn_top1"),
    ("table2_semisup", "semisup_1_top1_pct", "semisup_1_top1"),
    ("table2_semisup", "semisup_10_top1_pct", "semisup_10_top1"),
    ("table2_semisup", "all_labels_top1_pct", "all_labels_top1"),
    ("table3_ablations", "linear_top1_pct", "linear_top1"),
    ("table3_ablations", "knn_top1_pct", "knn_top1"),
    ("table3_ablations", "fn_precision_pct", "fn_precision"),
    ("table3_ablations", "fn_recall_pct", "fn_recall"),
    ("table3_ablations", "fn_per_anchor", "fn_per_anchor"),
    ("table4_fn_stats", "fn_precision_pct", "fn_precision"),
    ("table4_fn_stats", "fn_recall_pct", "fn_recall"),
    ("table4_fn_stats", "fn_per_anchor", "fn_per_anchor"),
)


def _metric_row(table: str, row: str) -> str | None:
    """The flat file a table row goes to (None: a difference or per-level row)."""
    if table in ("table1_linear", "table2_semisup"):
        if row.startswith("diff:"):
            return None
        return row.split(":", 1)[1] if row.startswith("ref:") else row.replace(":", "_")  # moco:ifnd -> moco_ifnd
    if table == "table3_ablations":
        return None if row == "ifnd" else row.replace(":", "_")  # ifnd: the main run's row
    if table == "table4_fn_stats":
        if row.startswith("main:"):
            return row.split(":", 1)[1]
        return row.replace(":", "_") if row.split(":")[0] in ("ablation",) + FRAMEWORK_GROUPS else None
    return None


def flat_metrics(tables_dir: str | Path) -> dict[str, dict[str, float]]:
    """Per method, ablation and reference: the mean over seeds of each headline metric (and
    ``seeds``, the most seeds any of them has), read from the table CSVs in ``tables_dir``, in percent where the tables
    are. These are the compact files `dvc metrics show` lists; the per-seed values and their
    provenance stay in the evaluation files."""
    out: dict[str, dict[str, float]] = {}
    for table, prefix, name in METRIC_COLUMNS:
        path = Path(tables_dir) / f"{table}.csv"
        if not path.is_file():
            raise UserError(f"{path} not found: run `ifnd tables` first")
        frame = pd.read_csv(path)
        if f"{prefix}_mean" not in frame.columns:
            continue
        for _, rec in frame.iterrows():
            row = _metric_row(table, str(rec["row"]))
            mean, n = rec[f"{prefix}_mean"], rec.get(f"{prefix}_n")
            if row is None or pd.isna(mean):
                continue
            out.setdefault(row, {})[name] = round(float(mean), 4)
            if pd.notna(n) and float(n) > 0:
                out[row]["seeds"] = max(out[row].get("seeds", 0), int(n))
    return out


def write_flat_metrics(tables_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """One small JSON per row of :func:`flat_metrics` in ``out_dir`` (stale files removed)."""
    import json

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--metrics {out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    records = flat_metrics(tables_dir)
    for old in out_dir.glob("*.json"):
        if old.stem not in records:
            old.unlink()
    written = []
    for row, values in records.items():
        path = out_dir / f"{row}.json"
        atomic_write_text(path, json.dumps(dict(sorted(values.items())), indent=1) + "\n")
        written.append(path)
    return written


# --------------------------------------------------------------------------- command line

def add_arguments(parser) -> None:
    add_results_arguments(parser, "tables")
    parser.add_argument("--metrics", default=None, metavar="DIR",
                        help="also write the flat metric files (one JSON per method, ablation and "
                             "reference: means over seeds) to DIR")


def run(args) -> int:
    results = results_of(args)
    out = Path(args.out) if args.out else Path(args.results) / "tables"
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    written = write_tables(build_tables(results), out)
    print(f"wrote {len(written)} files to {out}")
    if args.metrics:
        flat = write_flat_metrics(out, args.metrics)
        print(f"wrote {len(flat)} metric files to {args.metrics}")
    return 0
