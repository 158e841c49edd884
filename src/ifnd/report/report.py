"""Write ``results/report.md``: the paper's four claims at this scale (:mod:`.claims`), what was
run, at what scale and with which method choices, timings, Tables 1-4, Figures 1-6, and a short
reading of the results computed from the data.

Everything is read from the pipeline's outputs (run folders, evaluation metrics, references)
and the given config files. Values quoted from the paper or from calibration elsewhere are
shown only if ``config/reference_values.yaml`` exists (beside the first ``--config`` file),
in their own clearly labelled section.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..config import atomic_write_text, get_dotted, load_config
from ..errors import UserError
from ..pipeline import Pipeline
from ..runspec import FRAMEWORK_GROUPS, GROUPS
from ..vocabulary import EVALUATION_LABELS, FRAMEWORKS, TABLES
from .claims import detect_rows, section_claims
from .collect import DATASET_TEST_IMAGES, DATASET_TRAIN_IMAGES, Results
from .figures import FIGURES
from .markdown import markdown_table, run_counts, shortened
from .provenance import hardware, run_hardware, section_provenance
from .stats import paired_difference, summarise
from .tables import DATASET_LABELS, dataset_label, main_framework

# The paper's scale as described in docs/method.md ("Datasets and scales").
PAPER_DATASETS = "CIFAR-10, CIFAR-100, ImageNet-100 and ImageNet"
PAPER_MODELS = {"resnet18": "CIFAR", "resnet50": "ImageNet"}

NOT_COMPARABLE = "Numbers on {dataset} at this scale are not comparable to the paper's CIFAR/ImageNet numbers."

# Why each of this project's datasets is an experiment (docs/method.md, Regime exploration):
# the paper's premise, an encoder that grows far more semantic than its input, holds on one
# and not on the other, so the two side by side show where IFND's mechanism can work.
WHY = {
    "fashion-mnist": ("Why this data: plain Fashion-MNIST, the default experiment's data, trains on 2 CPU "
                      "cores within the budget, but its pixels already cluster nearly as well as the encoders "
                      "this budget trains (the raw-pixel rows and detection floors beside SimCLR below; "
                      "results/regime/explore.md), so the paper's premise, an encoder far more semantic than "
                      "its input, barely holds on it. The scenes testbed (`make scenes`) is the data in the "
                      "paper's regime."),
    "fashion-scenes": ("Why this data: garments pasted on photograph windows, so that pixel similarity no "
                       "longer predicts the class: the testbed where the paper's premise held in the regime "
                       "exploration at 15 epochs (SimCLR far above its pixels, its clusters rising above the "
                       "pixel floor as it trained: validation split, results/regime/explore.md; this "
                       "report's floors say whether it holds here). Plain Fashion-MNIST is the contrast, "
                       "where the premise barely holds."),
}


def _fmt(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _dataset(results: Results, cfg: dict) -> str:
    """The runs' dataset, else the given config's."""
    if results.main_config() is not None:
        return dataset_label(results)
    name = get_dotted(cfg, "data.name", None)
    return DATASET_LABELS.get(name, name or "the dataset")


def _seconds(s: float) -> str:
    if not np.isfinite(s):
        return "–"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


# --------------------------------------------------------------------------- sections

# (row label, the config keys it shows (several: joined by " / "), the datasets it applies to
# (None: every dataset)): the data, model and training settings, then IFND's method choices
SETTINGS = [
    ("Dataset", ("data.name",), None), ("Classes kept", ("data.classes",), None),
    ("CIFAR-100 labels", ("data.label_kind",), ("cifar100",)),
    ("Training images (subset)", ("data.train_subset",), None),
    ("Validation images (held out of the training images)", ("data.val_subset",), None),
    ("Test images (subset)", ("data.test_subset",), None),
    ("Scenes dial (data.scenes)", ("data.scenes",), ("fashion-scenes",)),
    ("Image size", ("data.image_size",), None), ("Backbone", ("model.arch",), None),
    ("First-stage width", ("model.width",), None), ("CIFAR stem", ("model.cifar_stem",), None),
    ("Projection head", ("model.proj_hidden", "model.proj_dim"), None),
    ("Base framework (absent: simclr)", ("train.framework",), None),
    ("MoCo queue / momentum / BatchNorm groups", ("train.moco",), None),
    ("Pretraining epochs", ("train.epochs",), None), ("Batch size", ("train.batch_size",), None),
    ("Optimizer", ("train.optimizer",), None), ("Learning rate (per 256)", ("train.lr",), None),
    ("Warm-up epochs (lr)", ("train.warmup_epochs",), None), ("Temperature", ("train.temperature",), None),
    ("Precision", ("train.precision",), None), ("Crop scale", ("augment.crop_scale",), None),
    ("Linear eval epochs", ("eval.linear.epochs",), None),
    ("Semi-supervised epochs", ("eval.semisup.epochs",), None),
    ("kNN k / T", ("eval.knn_k", "eval.knn_t"), None),
    ("IFND: removal of detected false negatives (elim / attr)", ("method.removal",), None),
    ("IFND: k-means levels (clusters per level)", ("fnd.levels",), None),
    ("IFND: k-means iterations / restarts", ("fnd.kmeans_niter", "fnd.kmeans_nredo"), None),
    ("IFND: first clustering after epoch / every", ("fnd.warmup_epochs", "fnd.cluster_every"), None),
    ("IFND: acceptance schedule", ("fnd.schedule",), None),
    ("IFND: acceptance rate start / max / ramp end epoch",
     ("fnd.rate_start", "fnd.rate_max", "fnd.ramp_end_epoch"), None),
    ("IFND: confidence ranking / measure", ("fnd.ranking", "fnd.confidence"), None),
    ("IFND: combining levels", ("fnd.combine",), None),
    ("IFND: clustered features", ("fnd.features",), None),
]


def _which_numbers_chose(results: Results) -> str:
    common = ("Which numbers chose and which only report: settings are chosen on the validation "
              "split (`data.val_subset` training images held out of training), by the selection "
              "experiment (config/selection.yaml: every evaluation there scores the validation "
              "split) for plain Fashion-MNIST, the regime exploration (config/regime.yaml, "
              "results/regime/explore.md) for the scenes testbed's data, budget and IFND setting, "
              "the online kNN monitor of Figure 4 and the detection study `ifnd detect`, "
              "which scores training-set pairs (docs/method.md, Validation split). ")
    if results.scored_split == "val":
        return common + ("This is such an experiment: its tables and figures score the validation "
                         "split and are for choosing; they are not test results.")
    return common + ("Tables 1-4 and Figures 1-3, 5 and 6 here report the test split and chose nothing; "
                     "Figure 4 shows the monitor's split.")


def section_what_was_run(results: Results, cfg: dict) -> list[str]:
    """The settings of the main runs (their resolved configs) beside the given config's, the
    runs found, and the runs planned but not found."""
    configs = [r.config for r in results.select("main") if r.config is not None]
    rows = []
    for label, keys, datasets in SETTINGS:
        if datasets is not None and get_dotted(cfg, "data.name", None) not in datasets:
            continue
        shown = lambda c: " / ".join(_fmt(get_dotted(c, k, None)) for k in keys)  # noqa: E731
        run_v, conf_v = sorted({shown(c) for c in configs}), shown(cfg)
        rows.append({"Setting": label, "Main runs": ", ".join(run_v) or "– (no run config found)",
                     "Given config": conf_v, "": "" if not run_v or run_v == [conf_v] else "differs"})
    found = []
    for group in (*GROUPS,):
        for name in results.names(group):
            runs = results.select(group, name)
            classes = sorted({r.key.classes for r in runs if r.key.classes is not None})
            found.append({"Group": group, "Name": name, "Seeds": _fmt(sorted({r.key.seed for r in runs})),
                          "Classes": _fmt(classes) if classes else "all", "Runs": len(runs)})
    lines = ["## What was run", "",
             f"Dataset: **{_dataset(results, cfg)}**. Settings of the main runs, read from their resolved "
             "configs (`config.resolved.yaml`), next to the config given to `ifnd report`; Table 3 "
             "lists what each ablation changed:", "",
             markdown_table(pd.DataFrame(rows)), "", _which_numbers_chose(results), "",
             "Runs found under `runs/` and `evals/` (groups: docs/method.md, Run paths):", "",
             markdown_table(pd.DataFrame(found)) if found else "(none)", ""]
    planned = results.pipeline.runs() if results.pipeline is not None else []
    missing = [run.path for run in planned if run not in results.runs]
    if missing:
        lines += [f"Planned but not found: {', '.join(missing)}.", ""]
    return lines


def section_cut(results: Results, cfg: dict) -> list[str]:
    src = results.main_config() or cfg
    name = get_dotted(src, "data.name", None)
    lines = ["## What was cut relative to the paper", "",
             f"The paper evaluates on {PAPER_DATASETS} with ResNet-18 (CIFAR) and ResNet-50 (ImageNet) "
             "encoders trained on GPUs (docs/method.md). This pipeline ran:", ""]
    data = f"- **Data**: {_dataset(results, cfg)}" + ("" if name in ("cifar10", "cifar100") else
                                                      " instead of the paper's datasets")
    subset, full = get_dotted(src, "data.train_subset", None), DATASET_TRAIN_IMAGES.get(name)
    if subset is not None:
        data += f", a class-balanced subset of {subset:,} training images" + (
            f" of {full:,} ({100 * subset / full:.0f}%)" if full else "")
    test, tfull = get_dotted(src, "data.test_subset", None), DATASET_TEST_IMAGES.get(name)
    if test is not None:
        data += f", {test:,} test images" + (f" of {tfull:,}" if tfull else "")
    classes = get_dotted(src, "data.classes", None)
    lines.append(data + (f", {len(classes)} classes kept" if classes else "") + ".")
    epochs = get_dotted(src, "train.epochs", None)
    if isinstance(epochs, int) and epochs < 100:
        lines.append(f"- **Pretraining**: {epochs} epochs; contrastive pretraining at paper scale runs for "
                     "hundreds of epochs, so these encoders are trained far less.")
    arch = get_dotted(src, "model.arch", None)
    lines.append(f"- **Model**: {arch}" + (f", the paper's {PAPER_MODELS[arch]} backbone." if arch in PAPER_MODELS
                                          else " instead of ResNet-18 / ResNet-50."))
    devices = Counter(run_hardware(results).values())
    if devices:
        lines.append(f"- **Device**: {run_counts(devices)}.")
    main_fw = main_framework(results)
    others = [FRAMEWORKS[g] for g in FRAMEWORK_GROUPS if results.names(g)]
    if others:
        tail = f", with {', '.join(others)} rows beside them (`workflow.frameworks`)"
    elif main_fw == "moco":
        tail = ", the framework of the paper's ImageNet experiments (`train.framework: moco`)"
    else:
        tail = ("; the paper's ImageNet experiments follow MoCo v2, which this experiment did not run "
                "(`workflow.frameworks` is empty: the budget, see the comments of config/config.yaml; "
                "`make reproduce CONFIGFILE=config/moco.yaml` runs MoCo v2 alone on plain "
                "Fashion-MNIST)")
    lines.append(f"- **Framework**: the main tables are {FRAMEWORKS[main_fw]}'s{tail}.")
    wf = cfg.get("workflow") or {}
    planned = {"main": wf.get("seeds"), "ablation": wf.get("ablation_seeds"), "classes": wf.get("class_sweep_seeds"),
               **{g: e.get("seeds") for g, e in (wf.get("frameworks") or {}).items()}}
    lines.append("- **Seeds**: " + ", ".join(
        f"{len({k.seed for k in results.runs if k.group == group})} for the {group} runs "
        f"(config plans {len(seeds or [])})" for group, seeds in planned.items()) + ".")
    return lines + [""]


def _run_seconds(run) -> float | None:
    """Wall seconds of a run: meta.json's timings.total_seconds, else the sum of the per-epoch
    training, clustering and monitoring times in train_log.csv."""
    value = get_dotted(run.meta, "timings.total_seconds", None)
    if isinstance(value, (int, float)):
        return float(value)
    df = run.train_log
    cols = [c for c in ("epoch_seconds", "cluster_seconds", "monitor_seconds") if df is not None and c in df]
    return float(df[cols].apply(pd.to_numeric, errors="coerce").sum().sum()) if cols else None


def section_timings(results: Results) -> list[str]:
    rows, total = [], 0.0
    for group in ("main", "ablation", "classes"):
        for name in results.names(group):
            runs = results.select(group, name)
            totals = [t for t in (_run_seconds(r) for r in runs) if t is not None]
            logs = [r.train_log for r in runs if r.train_log is not None]

            def col_mean(col, per_run_sum=False):
                vals = []
                for df in logs:
                    if col in df and df[col].notna().any():
                        vals.append(df[col].sum() if per_run_sum else df[col].mean())
                return float(np.mean(vals)) if vals else float("nan")

            total += sum(totals)
            ips = col_mean("images_per_second")
            rows.append({"Runs": f"{group}/{name}", "n": len(runs),
                         "Device": ", ".join(sorted({hardware(r.meta) for r in runs if r.meta})) or "–",
                         "Total per run (mean)": _seconds(float(np.mean(totals))) if totals else "–",
                         "Epoch (mean)": _seconds(col_mean("epoch_seconds")),
                         "Clustering per run": _seconds(col_mean("cluster_seconds", True)),
                         "Images/s": f"{ips:,.0f}" if np.isfinite(ips) else "–"})
    lines = ["## Timings", "",
             "From each run's `meta.json` (timings.total_seconds, else the per-epoch times) and `train_log.csv`:", ""]
    lines += [markdown_table(pd.DataFrame(rows)) if rows else "(no runs)", ""]
    ev_rows, ev_total = [], 0.0
    for evaluation in ("knn", "linear", "semisup_1", "semisup_10"):
        secs = [r.evals[evaluation]["seconds"] for r in results.runs.values()
                if evaluation in r.evals and r.evals[evaluation]["seconds"] is not None]
        if secs:
            ev_total += sum(secs)
            ev_rows.append({"Evaluation": evaluation, "Files": len(secs), "Mean": _seconds(float(np.mean(secs))),
                            "Total": _seconds(float(np.sum(secs)))})
    if ev_rows:
        lines += ["Evaluations (the `seconds` field of each metrics file):", "",
                  markdown_table(pd.DataFrame(ev_rows)), ""]
    lines += [f"Total recorded compute: pretraining {_seconds(total)}, evaluations {_seconds(ev_total)}.", ""]
    span = _wall_span(results)
    if span is not None:
        busy, seconds, jobs = span
        lines += [f"Wall time of the pipeline: at least {_seconds(busy)}, the time while at least one "
                  f"recorded job ran ({jobs} jobs: pretraining, evaluations and references; a resumed run "
                  "records only its last stretch, and each job's start-up, the detection study and the "
                  f"report are not timed); {_seconds(seconds)} from the first job's start to the last "
                  "one's end, pauses between chunks included where the pipeline ran in chunks of seeds.",
                  ""]
    return lines


def _wall_span(results: Results) -> tuple[float, float, int] | None:
    """(seconds while at least one job ran, seconds from the earliest job start to the latest job
    end, number of jobs) over every job that recorded when it finished (meta.json
    ``timings.finished_at`` of a pretraining run, ``finished_at`` of a metrics file) and how long
    it took; None when none did."""
    jobs = [(get_dotted(r.meta, "timings.finished_at", None), _run_seconds(r))
            for r in results.runs.values()]
    jobs += [(rec.get("finished_at"), rec.get("seconds")) for r in results.runs.values()
             for rec in r.evals.values()]
    refs = results.references
    jobs += [(rec.get("finished_at"), rec.get("seconds"))
             for rec in [refs["rawpixels"] or {}, *refs["supervised"].values(),
                         *(x for per_seed in refs["random_init"].values() for x in per_seed.values())]]
    spans = sorted((float(end) - float(secs), float(end)) for end, secs in jobs
                   if isinstance(end, (int, float)) and isinstance(secs, (int, float)))
    if not spans:
        return None
    busy, reach = 0.0, float("-inf")
    for start, end in spans:  # the union of the intervals, swept in order of their starts
        busy += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return busy, reach - spans[0][0], len(spans)


def _floor_sentences(results: Results) -> list[str]:
    """The SimCLR baseline against the two floors of every evaluation: raw pixels (one fixed
    value: the baseline's interval must clear it) and the same encoder at random initialisation
    (frozen, or fine-tuned for the label fractions; one per seed, so the difference is paired)."""
    raw = results.references["rawpixels"] or {}
    out = []
    for evaluation, label in EVALUATION_LABELS.items():
        per_seed = results.metric("main", "simclr", evaluation)
        base = summarise(per_seed)
        rnd = results.reference("random_init", evaluation)
        if not base.n or (raw.get(evaluation) is None and not rnd):
            continue
        parts, clear = [], []
        if raw.get(evaluation) is not None:
            v = raw[evaluation]
            parts.append(f"raw pixels {100 * v:.2f} ({100 * (base.mean - v):+.2f})")
            clear.append(base.n > 1 and base.ci_low > v)
        if rnd:
            d, r = paired_difference(per_seed, rnd), summarise(rnd)
            if d.n > 1:
                parts.append(f"random init {100 * r.mean:.2f} (paired difference {100 * d.mean:+.2f}, "
                             f"95% CI [{100 * d.ci_low:+.2f}, {100 * d.ci_high:+.2f}] over {d.n} seeds)")
            else:
                parts.append(f"random init {100 * r.mean:.2f} ({100 * (base.mean - r.mean):+.2f})")
            clear.append(d.n > 1 and d.ci_low > 0)
        text = (f"SimCLR baseline {label}: {100 * base.mean:.2f}"
                + (f" (95% CI [{100 * base.ci_low:.2f}, {100 * base.ci_high:.2f}], {base.n} seeds)" if base.n > 1 else
                   " (one seed)")
                + " against the floors " + " and ".join(parts))
        if base.n > 1:
            text += ("; above every floor: each interval clears its floor." if all(clear)
                     else "; not clearly above every floor: an interval reaches its floor.")
        else:
            text += "."
        out.append(text)
    return out


def section_floors(results: Results) -> list[str]:
    """The SimCLR baseline of every evaluation against its floors (the comparisons between
    methods are the claims' and the tables')."""
    lines = _floor_sentences(results)
    return ["## The baseline against its floors", ""] + [f"- {s}" for s in lines] + [""] if lines else []


def section_tables(tables_dir: Path) -> list[str]:
    """The tables as `ifnd tables` wrote them (the pipeline's own job): read, never recomputed."""
    lines = ["## Tables", "", "Also written as CSV (full precision) and markdown under `tables/` by `ifnd tables`.", ""]
    for name in TABLES:
        md = tables_dir / f"{name}.md"
        if not md.is_file():
            raise UserError(f"{md} not found: run `ifnd tables` first (the report shows the tables it wrote)")
        lines += [md.read_text(), ""]
    return lines


def section_figures(figures_dir: Path, out_path: Path) -> list[str]:
    lines = ["## Figures", ""]
    rel = Path(os.path.relpath(figures_dir.resolve(), out_path.parent.resolve()))
    for name, caption in FIGURES.items():
        link = rel.as_posix() + f"/{name}.png"
        if not link.startswith("."):
            link = "./" + link
        lines += [f"### {caption.split('.')[0]}", "", caption[len(caption.split('.')[0]) + 2:], ""]
        if (figures_dir / f"{name}.png").is_file():
            lines += [f"![{caption}]({link})", ""]
        else:
            lines += [f"*Not drawn yet ({link} is missing): run `ifnd figures`.*", ""]
    return lines


def section_detection(results: Results) -> list[str]:
    """The detection study of the first seed's SimCLR and IFND runs (``ifnd detect``): the
    run's own setting at every kept epoch, read from detect.csv."""
    found = detect_rows(results)
    if not found:
        return []
    lines = ["## Detection study (no retraining)", "",
             "`ifnd detect` scores detection settings on the encoders a run kept "
             "(`train.save_epochs` and the final one): pair precision and recall of the detected "
             "false negatives over the training images, true labels used only to score "
             "(docs/method.md, Detection study). Below, the run's own setting at fixed acceptance "
             "rates per epoch: whether detection quality rises as the encoder trains (claim (b)) "
             "is read here, not implied by the schedule. Full grids, the best settings and the "
             "precision-recall figures: `detect/<run>/detect.md`, `detect_pr.png`.", ""]
    for run, mine in found:
        table = mine.pivot_table(index="rate", columns="epoch", values="precision", dropna=False)
        recall = mine.pivot_table(index="rate", columns="epoch", values="recall", dropna=False)
        shown = pd.DataFrame({f"epoch {e}": [f"{100 * p:.1f} / {100 * r:.1f}"
                                             for p, r in zip(table[e], recall[e])]
                              for e in table.columns}, index=[f"{r:g}" for r in table.index])
        shown.index.name = "rate"
        lines += [f"`{run}`: precision / recall (%) of its own setting:", "",
                  markdown_table(shown.reset_index()), ""]
    return lines


def section_missing(results: Results) -> list[str]:
    lines = ["## Missing inputs and remarks", ""]
    if not results.missing and not results.notes:
        return lines + ["All expected files were found.", ""]
    for what, where in results.missing.items():
        lines.append(f"- `{what}` missing for: {shortened(where, 12)} (skipped).")
    lines += [f"- {n}" for n in results.notes]
    return lines + [""]


def section_reference_values(path: Path | None, data_name: str | None = None) -> list[str]:
    """The quoted values, unless their ``dataset`` key names another dataset than ``data_name``."""
    if path is None or not path.is_file():
        return []
    text = path.read_text()
    try:
        quoted = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(quoted, dict) and quoted.get("dataset") not in (None, data_name):
        return []
    lines = ["## Reference values (not produced by this pipeline)", "",
             f"Quoted from `{path.as_posix()}`: values from the paper or from calibration elsewhere, with the "
             "sources given there. They are not outputs of this pipeline and are not comparable to the "
             "numbers above unless the setup matches.", ""]
    return lines + ["```yaml", text.rstrip(), "```", ""]


# --------------------------------------------------------------------------- the report

def build_report(results: Results, cfg: dict, out_path: Path, figures_dir: Path,
                 reference_values: Path | None = None, config_files=(), tables_dir: Path | None = None) -> str:
    tables_dir = Path(tables_dir) if tables_dir is not None else results.root / "tables"
    dataset = _dataset(results, cfg)
    lines = [f"# IFND reproduction report: {dataset}", "",
             "Incremental False Negative Detection for Contrastive Learning (Chen et al., ICLR 2022), "
             "regenerated by this pipeline. Generated by `ifnd report` from the files under "
             f"`{results.root.as_posix()}` and the config {', '.join(f'`{c}`' for c in config_files)}; "
             "every number below is computed from those files.", "",
             f"**{NOT_COMPARABLE.format(dataset=dataset)}**", ""]
    name = get_dotted(results.main_config() or cfg, "data.name", None)
    lines += [WHY[name], ""] if name in WHY else []
    lines += section_claims(results)
    lines += section_floors(results)
    lines += section_what_was_run(results, cfg)
    lines += section_cut(results, cfg)
    lines += section_timings(results)
    lines += section_tables(tables_dir)
    lines += section_figures(figures_dir, out_path)
    lines += section_detection(results)
    lines += section_missing(results)
    lines += section_reference_values(reference_values, name)
    lines += section_provenance(results)
    return "\n".join(lines).rstrip() + "\n"


def add_arguments(parser) -> None:
    parser.add_argument("--results", default=None,
                        help="the results folder of the experiment (default: results/<experiment>)")
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"], metavar="FILE",
                        help="the config (and override files merged on top) the pipeline ran with")
    parser.add_argument("--out", default=None, help="report file (default: RESULTS/report.md)")
    parser.add_argument("--figures", default=None, help="folder of the figures (default: RESULTS/figures)")
    parser.add_argument("--reference-values", default=None,
                        help="values quoted from elsewhere (default: reference_values.yaml beside the "
                             "first --config file, shown only if it exists)")
    parser.add_argument("--readme", default=None, metavar="FILE",
                        help="also replace the block between the results markers of FILE (the "
                             "README) with Tables 1 and 2, so the numbers there come from this run")


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(readme: Path, tables_dir: Path, report: Path) -> None:
    """Replace the README's generated results block with Tables 1 and 2 as written by `ifnd tables`."""
    text = readme.read_text() if readme.is_file() else ""
    if README_START not in text or README_END not in text:
        raise UserError(f"{readme} has no {README_START} ... {README_END} block to fill")
    parts = [f"Generated by `ifnd report` from `{tables_dir}` (see [{report}]({report}) for "
             "every table and figure, the scale and the method choices).", ""]
    for name in ("table1_linear", "table2_semisup"):
        md = tables_dir / f"{name}.md"
        if not md.is_file():
            raise UserError(f"{md} not found: run `ifnd tables` first")
        parts += [md.read_text().strip(), ""]
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    atomic_write_text(readme, head + README_START + "\n" + "\n".join(parts) + README_END + tail)


def run(args) -> int:
    cfg = load_config(args.config[0], extra_files=args.config[1:])
    pipe = Pipeline(cfg, args.config)
    args.results = args.results or pipe.root
    results = Results(args.results, cfg, pipeline=pipe)
    out = Path(args.out) if args.out else Path(args.results) / "report.md"
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'report.md'}")
    figures = Path(args.figures) if args.figures else Path(args.results) / "figures"
    ref = (Path(args.reference_values) if args.reference_values
           else Path(args.config[0]).parent / "reference_values.yaml")
    if args.reference_values and not ref.is_file():
        raise UserError(f"--reference-values {ref} not found")
    text = build_report(results, cfg, out, figures, ref, args.config)
    atomic_write_text(out, text)
    print(f"wrote {out}")
    if args.readme:
        update_readme(Path(args.readme), Path(args.results) / "tables", out)
        print(f"updated the results block of {args.readme}")
    return 0
