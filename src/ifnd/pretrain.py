"""The pretraining command: ``ifnd pretrain``, resumable, one run folder per run.

    ifnd pretrain --config config/config.yaml --run main/ifnd/s0     # a run of the experiment
    ifnd pretrain --config config/config.yaml --set method.name=ifnd --out results/runs/my_run

The run folder receives model.pt, train_log.csv, fn_stats.csv, config.resolved.yaml, meta.json
and epochs/ (the encoders kept by ``train.save_epochs``). Resumable state (last.pt) lives in the
state folder and is written atomically after every epoch; rerunning the same command resumes
from it and ends with bitwise the same weights as an uninterrupted run (CPU). Under ``torchrun``
the same command is one rank of a DDP run (ifnd.distributed); only rank 0 writes. One epoch's
work is :class:`ifnd.train.Pretrainer`'s.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from .cliargs import add_config_arguments, config_from_args
from .config import dump_config, validate
from .distributed import Group, default_threads, from_environment
from .errors import UserError
from .fileio import atomic_output, atomic_torch_save, atomic_write_text, writable_folder
from .hardware import hardware_info
from .pipeline import Pipeline
from .runspec import RunSpec
from .runinfo import package_versions, set_threads, write_json
from .train import Pretrainer
from .vocabulary import FN_STATS_COLUMNS, TRAIN_LOG_COLUMNS


def _write_csv(rows: list[dict], columns, path: Path) -> None:
    atomic_write_text(path, pd.DataFrame(rows, columns=list(columns)).to_csv(index=False))


def epoch_line(row: dict, batch: dict, epochs: int) -> str:
    """One plain, greppable line per epoch for log files: loss, acceptance rate, the detected
    false negatives' precision, the kNN monitor and the time."""
    def num(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    return (f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f} rate {row['acceptance_rate']:.2f} "
            f"fn_precision {num(batch.get('fn_precision'), '.3f')} knn {num(row['knn_top1'], '.4f')} "
            f"time {row['epoch_seconds']:.1f}s")


def final_checkpoint(trainer: Pretrainer) -> dict:
    return {"format": "ifnd-model-1", "model": trainer.model.state_dict(), "config": trainer.cfg,
            "in_channels": trainer.train_set.channels, "num_classes": trainer.train_set.num_classes,
            "epoch": trainer.epoch}


def epoch_checkpoint(folder: Path, epoch: int) -> Path:
    """Where ``train.save_epochs`` keeps the model after ``epoch`` below ``folder`` (the state
    folder while training, the run folder at the end; same format as model.pt)."""
    return Path(folder) / "epochs" / f"epoch_{epoch:03d}.pt"


def pretrain(cfg: dict, out_dir: str | Path, state_dir: str | Path | None = None,
             stop_after: int | None = None) -> Path:
    """Run (or resume) pretraining; returns the run folder. ``stop_after`` ends the process
    early after that many epochs (for resume tests), leaving only the state file. Started by
    torchrun (its environment variables set), this process is one rank of a DDP run."""
    group = from_environment()
    device = group.start(cfg["train"]["device"])
    try:
        return _pretrain(cfg, Path(out_dir), state_dir, stop_after, group, device)
    finally:
        group.stop()


def _pretrain(cfg: dict, out_dir: Path, state_dir, stop_after, group: Group,
              device: torch.device) -> Path:
    state_path = Path(state_dir or out_dir / "state") / "last.pt"
    tcfg = cfg["train"]
    threads = set_threads(tcfg["threads"] if tcfg["threads"] is not None else default_threads(group))
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    # fail now, not after an epoch of work, when an output or state folder cannot be written
    # (only rank 0 writes; a failure there stops every rank)
    group.on_main(writable_folder, out_dir)
    group.on_main(writable_folder, state_path.parent)
    trainer = Pretrainer(cfg, device, group)
    resumed_from = 0
    state = group.on_main(lambda: load_checkpoint_state(state_path) if state_path.is_file() else None)
    if state is not None:
        trainer.load_state_dict(state, state_path)
        resumed_from = trainer.epoch
        if group.is_main:
            print(f"resuming from {state_path} after epoch {resumed_from}", file=sys.stderr)
    del state
    kept_dir = state_path.parent
    if resumed_from == 0:  # a fresh start: encoders kept by an earlier run are not this run's
        group.on_main(lambda: shutil.rmtree(kept_dir / "epochs", ignore_errors=True))
    started = time.time()
    # progress bars on a terminal only; a log file gets one plain line per epoch
    progress = tcfg["progress"] and group.is_main and sys.stderr.isatty()
    epochs = tqdm(range(trainer.epoch, tcfg["epochs"]), initial=trainer.epoch, total=tcfg["epochs"],
                  desc=f"pretrain {cfg['method']['name']}", disable=not progress, file=sys.stderr)
    for epoch in epochs:
        result = trainer.train_epoch(epoch, progress)
        trainer.train_rows.append(result["train"])
        trainer.fn_rows.extend(result["fn"])
        trainer.epoch = epoch + 1
        # the kept encoder goes beside the state, before it (a kill between the two cannot skip
        # it on resume); write_run_folder copies the kept encoders into the run folder
        if trainer.epoch in (tcfg.get("save_epochs") or ()) and trainer.epoch < tcfg["epochs"]:
            group.on_main(lambda: atomic_torch_save(final_checkpoint(trainer),
                                                    epoch_checkpoint(kept_dir, trainer.epoch)))
        group.on_main(lambda: atomic_torch_save(trainer.state_dict(), state_path))
        row = result["train"]
        epochs.set_postfix(loss=f"{row['loss']:.3f}", knn=f"{row['knn_top1']:.3f}")
        if not progress and group.is_main:
            print(epoch_line(row, result["fn"][-1], tcfg["epochs"]), file=sys.stderr, flush=True)
        if stop_after is not None and trainer.epoch >= stop_after and trainer.epoch < tcfg["epochs"]:
            return out_dir
    finished = time.time()
    group.on_main(write_run_folder, trainer, out_dir, threads, resumed_from, finished - started,
                  kept_dir)
    return out_dir


def write_run_folder(trainer: Pretrainer, out_dir: Path, threads: int, resumed_from: int,
                     total_seconds: float, kept_dir: Path | None = None) -> None:
    """model.pt, train_log.csv, fn_stats.csv, config.resolved.yaml, meta.json and the encoders
    kept beside the state (``train.save_epochs``) as epochs/epoch_NNN.pt."""
    cfg, tcfg = trainer.cfg, trainer.cfg["train"]
    _write_csv(trainer.train_rows, TRAIN_LOG_COLUMNS, out_dir / "train_log.csv")
    _write_csv(trainer.fn_rows, FN_STATS_COLUMNS, out_dir / "fn_stats.csv")
    dump_config(cfg, out_dir / "config.resolved.yaml")
    log = pd.DataFrame(trainer.train_rows)
    write_json(out_dir / "meta.json", {
        "code_version": trainer.code_versions[-1], "code_versions": trainer.code_versions,
        "packages": package_versions(), "seed": tcfg["seed"],
        "method": cfg["method"]["name"], "device": hardware_info(trainer.execution), "threads": threads,
        **trainer.group.info(), "sync_batchnorm": trainer.sync_batchnorm,
        "command": sys.argv, "resumed_from_epoch": resumed_from,
        **({"control_reached": trainer.detector.reached} if hasattr(trainer.detector, "reached") else {}),
        "final_knn_top1": float(log["knn_top1"].iloc[-1]), "monitor_split": trainer.monitor_split,
        "timings": {"total_seconds": round(total_seconds, 2),
                    "finished_at": round(time.time(), 1),  # Unix time: the report's pipeline wall time
                    "train_seconds": round(float(log["epoch_seconds"].sum()), 2),
                    "cluster_seconds": round(float(log["cluster_seconds"].sum()), 2),
                    "monitor_seconds": round(float(log["monitor_seconds"].sum()), 2),
                    "mean_images_per_second": round(float(log["images_per_second"].mean()), 1)},
    })
    copy_kept_encoders(kept_dir, out_dir)
    atomic_torch_save(final_checkpoint(trainer), out_dir / "model.pt")  # last: the run is complete


def copy_kept_encoders(kept_dir: Path | None, out_dir: Path) -> None:
    """out_dir/epochs/ becomes a copy of kept_dir/epochs/ (stale files of an earlier run go); it
    exists, possibly empty, after every run: it is a declared output of the pretraining job."""
    kept = {p.name: p for p in sorted((Path(kept_dir) / "epochs").glob("epoch_*.pt"))} if kept_dir else {}
    target = Path(out_dir) / "epochs"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("epoch_*.pt"):
        if old.name not in kept:
            old.unlink()
    for name, src in kept.items():
        with atomic_output(target / name) as tmp:
            shutil.copyfile(src, tmp)


def load_checkpoint_state(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"cannot resume: state file {path} is unreadable ({type(exc).__name__}); "
                        f"it was left in place, remove it to start afresh") from None
    if not isinstance(state, dict) or state.get("format") != "ifnd-state-1":
        raise UserError(f"cannot resume: {path} is not an ifnd training state")
    return state


# --------------------------------------------------------------------------- command line
def add_arguments(parser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--ablation", metavar="NAME", default=None,
                        help="an IFND ablation: apply the overrides of workflow.ablations.NAME")
    parser.add_argument("--classes", metavar="N", type=int, default=None,
                        help="train on N classes chosen with the run seed (Figure 1's class-count "
                             "sweep: matched on difficulty where workflow.class_sweep_match names a "
                             "confusion for the dataset, else drawn at random) and as many training "
                             "images as the full run (data.train_subset), so that only the number of "
                             "classes changes")
    parser.add_argument("--run", metavar="PATH", default=None,
                        help="a run of the experiment the config describes (main/ifnd/s0, ablation/NAME/s1, "
                             "classes/simclr/c2/s0, moco/ifnd/s0): its variant, seed, run folder and state folder come "
                             "from the pipeline definition (ifnd.pipeline), as the workflow runs it")
    parser.add_argument("--out", default=None, help="run folder for model.pt, logs, config and meta "
                                                    "(required without --run)")
    parser.add_argument("--state-dir", default=None,
                        help="folder for the resumable state last.pt (default: OUT/state); "
                             "an existing state is resumed if its config matches")


def run_of_experiment(args) -> tuple[dict, str, str]:
    """(the run's config, its run folder, its state folder) for ``--run PATH``: the experiment
    config is loaded and validated once, the run's config (its overrides applied) once; the
    run folder and state folder are the run specification's, computed in this process."""
    if args.ablation is not None or args.classes is not None:
        raise UserError("--run names the run's variant; leave out --ablation and --classes")
    base = config_from_args(args)
    pipe = Pipeline(base, args.config or [])
    run = pipe.find_run(args.run)
    return validate(run.config(base)), args.out or pipe.run_dir(run), args.state_dir or pipe.state_dir(run)


def run_of_flags(args) -> dict:
    """The config of ``--ablation NAME`` or ``--classes N`` on top of the given config: the run
    specification of that variant at the config's seed (and method, for a class subset)."""
    cfg = config_from_args(args)
    if args.ablation is not None and args.classes is not None:
        raise UserError("--ablation and --classes are exclusive")
    seed = int(cfg["train"]["seed"])
    if args.ablation is not None:
        run = RunSpec("ablation", args.ablation, seed)
    elif args.classes is not None:
        run = RunSpec("classes", cfg["method"]["name"], seed, args.classes)
    else:
        return cfg
    return validate(run.config(cfg))


def run(args) -> int:
    if args.run:
        cfg, out_dir, state_dir = run_of_experiment(args)
    elif args.out:
        cfg = run_of_flags(args)
        out_dir, state_dir = args.out, args.state_dir
    else:
        raise UserError("pretrain needs --out (a run folder) or --run (a run of the experiment)")
    out = pretrain(cfg, out_dir, state_dir)
    if not from_environment().is_main:
        return 0  # rank 0 reports
    log = pd.read_csv(out / "train_log.csv")
    print(f"{cfg['method']['name']}: {len(log)} epochs, final loss {log['loss'].iloc[-1]:.4f}, "
          f"kNN top-1 {100 * log['knn_top1'].iloc[-1]:.2f}% -> {out}")
    return 0
