"""The detection study of a pretraining run, without retraining (docs/method.md: Detection study).

    ifnd detect RUN [--out DIR] [--rates 0.1 0.25 ...] [--quick]

For every kept encoder of RUN (``RUN/epochs/epoch_NNN.pt``, written after the epochs in
``train.save_epochs``, and the final ``RUN/model.pt``) the training images are embedded once
and a grid of detection settings is scored against the true labels (pair precision and recall,
:mod:`ifnd.fnd.study`): features (projection / backbone), k-means effort (the run's niter/nredo
and 50/3), confidence (cosine / margin), ranking (per cluster / global), the label-free
stability gate (none / seeds), levels (each alone; all of them combined by union,
intersection, majority or average) and the acceptance rate. The run's own setting is marked.

Writes DIR/detect.csv (one row per epoch and setting), DIR/detect.md (the run's setting per
epoch at fixed acceptance rates, and the best settings per rate), DIR/detect_pr.png (one
precision-recall panel per epoch) and DIR/confusion.json (how the final encoder's clusters mix
the classes: the structured errors of the ``oracle_noisy`` control). Default DIR: RUN/detect.
True labels are read only to score.
"""

from __future__ import annotations

import itertools
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .config import config_differences
from .data import load_dataset
from .errors import UserError
from .features import embed_both
from .fileio import atomic_output
from .fnd.study import DetectionStudy
from .hardware import resolve_execution
from .models import load_checkpoint, load_pretrained
from .runinfo import resolve_device, set_threads, write_json

DEFAULT_RATES = (0.1, 0.25, 0.5, 0.75, 1.0)
SETTING_KEYS = ("features", "niter", "nredo", "confidence", "ranking", "gate", "levels", "combine")


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every kept model of the run, final one last."""
    found = []
    for p in sorted((run_dir / "epochs").glob("epoch_*.pt")):
        m = re.fullmatch(r"epoch_(\d+)\.pt", p.name)
        if m:
            found.append((int(m.group(1)), p))
    if not (run_dir / "model.pt").is_file():
        raise UserError(f"run folder {run_dir} has no model.pt (did pretraining finish?)")
    final_ckpt = load_checkpoint(run_dir / "model.pt")
    final = int(final_ckpt.get("epoch", 0))
    for epoch, path in found:
        # an encoder of another run of this folder (e.g. model.pt restored alone) is refused:
        # the study would mix two runs' encoders in one row of epochs
        diffs = config_differences(load_checkpoint(path)["config"], final_ckpt["config"])
        if diffs or epoch >= final:
            why = diffs[0] if diffs else f"epoch {epoch} is not before model.pt's epoch {final}"
            raise UserError(f"{path} was not kept by the run that wrote {run_dir / 'model.pt'} "
                            f"({why}); rerun the run's pretraining")
    return found + [(final, run_dir / "model.pt")]


def run_setting(fnd: dict, run_seed: int) -> dict:
    """The setting the run trained with, in the study's terms."""
    return {"features": fnd["features"], "niter": int(fnd["kmeans_niter"]),
            "nredo": int(fnd["kmeans_nredo"]), "confidence": fnd["confidence"],
            "ranking": fnd["ranking"], "gate": "none", "levels": tuple(int(k) for k in fnd["levels"]),
            "seeds": tuple(int(s) + run_seed for s in fnd["kmeans_seeds"]),
            "combine": fnd["combine"] if len(fnd["levels"]) > 1 else "union"}


def settings_grid(fnd: dict, run_seed: int, rates, quick: bool = False) -> list[dict]:
    """The run's setting and its neighbours along every axis of the study."""
    base = run_setting(fnd, run_seed)
    efforts = [(base["niter"], base["nredo"])] + ([] if quick else [(50, 3)])
    level_sets = [(base["levels"], base["seeds"])]
    if len(base["levels"]) > 1:
        level_sets += [((k,), (s,)) for k, s in zip(base["levels"], base["seeds"])]
    out = []
    for features, (niter, nredo), confidence, ranking, gate, (levels, seeds) in itertools.product(
            ("projection", "backbone"), dict.fromkeys(efforts), ("cosine", "margin"),
            ("per_cluster", "global"), ("none", "seeds"), level_sets):
        combines = ("union", "intersection", "majority", "average") if len(levels) > 1 else ("union",)
        for combine, rate in itertools.product(combines, rates):
            out.append({"features": features, "niter": niter, "nredo": nredo,
                        "confidence": confidence, "ranking": ranking, "gate": gate,
                        "levels": levels, "seeds": seeds, "combine": combine, "rate": float(rate)})
    return out


def study_checkpoint(path: Path, run_dir: Path, rates, quick: bool, device) -> tuple[pd.DataFrame, dict]:
    model, cfg, meta = load_pretrained(run_dir, path)
    train = load_dataset(cfg["data"], "train")
    ex = resolve_execution(cfg["train"], device)
    model = ex.prepare(model.to(device))
    feats, projs = embed_both(model, train, cfg["data"]["image_size"], device,
                              batch_size=cfg["fnd"]["embed_batch_size"], precision=ex.precision,
                              channels_last=ex.channels_last)
    study = DetectionStudy({"backbone": feats.float().cpu().numpy(),
                            "projection": projs.float().cpu().numpy()}, train.labels.numpy())
    seed = int(cfg["train"]["seed"])
    base = run_setting(cfg["fnd"], seed)
    rows = study.grid(settings_grid(cfg["fnd"], seed, rates, quick))
    frame = pd.DataFrame(rows)
    frame.insert(0, "epoch", int(meta["epoch"]))
    mark = np.ones(len(frame), dtype=bool)
    for key in SETTING_KEYS:
        want = "+".join(map(str, base[key])) if key == "levels" else base[key]
        mark &= frame[key].astype(str).to_numpy() == str(want)
    frame["run_setting"] = mark
    return frame, confusion(study, base, train.num_classes)


def confusion(study, base: dict, num_classes: int) -> dict:
    """How the run's clusters mix the classes: ``matrix[c][c']`` counts the pairs of an image
    of class c and one of class c' in a cluster of the run's first (coarsest) level, every
    sample accepted. The structured errors of the ``oracle_noisy`` control are drawn from it."""
    k, seed = base["levels"][0], base["seeds"][0]
    labels, _ = study.kmeans(base["features"], k, base["niter"], base["nredo"], seed)
    table = np.zeros((int(labels.max()) + 1, num_classes), dtype=np.int64)
    np.add.at(table, (labels, study.truth), 1)
    matrix = table.T @ table
    np.fill_diagonal(matrix, 0)
    return {"matrix": matrix.tolist(), "level_k": int(k), "features": base["features"],
            "seed": int(seed)}


def write_figure(frame: pd.DataFrame, path: Path) -> None:
    from matplotlib.figure import Figure

    epochs = sorted(frame["epoch"].unique())
    fig = Figure(figsize=(3.2 * len(epochs), 3.2), layout="constrained")
    axes = fig.subplots(1, len(epochs), squeeze=False, sharey=True)[0]
    curve_keys = list(SETTING_KEYS)
    for ax, epoch in zip(axes, epochs):
        part = frame[frame["epoch"] == epoch]
        for _, curve in part.groupby(curve_keys, sort=False):
            curve = curve.sort_values("rate")
            mine = bool(curve["run_setting"].iloc[0])
            ax.plot(curve["recall"], curve["precision"], color="C3" if mine else "0.75",
                    lw=2.0 if mine else 0.6, marker="o" if mine else None, ms=3,
                    zorder=3 if mine else 1, label="the run's setting" if mine else None)
        ax.set_title(f"after epoch {epoch}")
        ax.set_xlabel("recall of false negatives")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("precision")
    axes[0].legend(loc="lower left", fontsize=7)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def write_markdown(frame: pd.DataFrame, path: Path) -> None:
    cols = ["epoch", "rate", "precision", "recall", "f1", "accepted_fraction"]
    mine = frame[frame["run_setting"]].sort_values(["rate", "epoch"])[cols].astype({"epoch": str})
    final = frame[frame["epoch"] == frame["epoch"].max()]
    best = (final.sort_values("f1", ascending=False).groupby("rate", sort=True).head(3)
            .sort_values(["rate", "f1"], ascending=[True, False]))
    show = list(SETTING_KEYS) + ["rate", "precision", "recall", "f1"]
    text = ["# Detection study", "",
            "Pair precision and recall of the detected false negatives over the training set "
            "(true labels used only to score). Rows: the run's own setting at each kept epoch "
            "(claim (b): does quality at a fixed acceptance rate rise as the encoder trains?), "
            "then the three best settings by F1 at each rate on the final encoder.", "",
            "## The run's setting", "", mine.to_markdown(index=False, floatfmt=".3f"), "",
            "## Best settings on the final encoder", "",
            best[show].to_markdown(index=False, floatfmt=".3f"), ""]
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(text))


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", help="a pretraining run folder (model.pt, epochs/epoch_NNN.pt)")
    parser.add_argument("--out", default=None, help="output folder (default RUN/detect)")
    parser.add_argument("--rates", type=float, nargs="+", default=list(DEFAULT_RATES),
                        help=f"acceptance rates scored (default {' '.join(map(str, DEFAULT_RATES))})")
    parser.add_argument("--quick", action="store_true",
                        help="only the run's k-means effort (not also niter 50 / nredo 3)")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda (default: the run's)")


def run(args) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder not found: {run_dir}")
    bad = [r for r in args.rates if not 0.0 < r <= 1.0]
    if bad:
        raise UserError(f"--rates must lie in (0, 1], got {bad}")
    out = Path(args.out) if args.out else run_dir / "detect"
    device = resolve_device(args.device or "auto")
    set_threads(None)  # all cores, or the Snakemake job's share (IFND_THREADS)
    frames = []
    for _epoch, path in checkpoints(run_dir):
        started = time.perf_counter()
        frame, mixing = study_checkpoint(path, run_dir, args.rates, args.quick, device)
        frames.append(frame)
        print(f"epoch {int(frame['epoch'].iloc[0])}: {len(frame)} settings scored in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    frame = pd.concat(frames, ignore_index=True)
    with atomic_output(out / "detect.csv") as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    write_markdown(frame, out / "detect.md")
    mixing["epoch"] = int(frames[-1]["epoch"].iloc[0])  # the final encoder
    write_json(out / "confusion.json", mixing)
    write_figure(frame, out / "detect_pr.png")
    print(f"detection study of {run_dir}: {len(frame)} rows -> {out}/detect.csv, detect.md, detect_pr.png")
    return 0
