"""Shared pieces of the evaluation commands: loading a run, and writing metrics.json."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch

from ..cliargs import add_config_arguments, config_from_args
from ..config import apply_overrides, load_config, parse_override, validate
from ..data import load_dataset
from ..errors import UserError
from ..models import build_model, load_pretrained
from ..hardware import hardware_info
from ..vocabulary import EVALUATION_KEYS
from ..runinfo import code_version, package_versions, resolve_device, set_threads, write_json


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def add_split_argument(parser, default_suffix: bool = False) -> None:
    """``--on test|val``: the split an evaluation scores (docs/method.md, Validation split)."""
    parser.add_argument("--on", choices=("test", "val"), default="test",
                        help="the images scored: test (reporting; the default) or val, the "
                             "validation split carved from the training images (data.val_subset), "
                             "which every choice of settings reads"
                             + (" (default output gets a _val suffix)" if default_suffix else ""))


def add_run_arguments(parser, default_name: str) -> None:
    """Options of the evaluations of a pretrained run (knn, linear, semisup)."""
    parser.add_argument("run_dir", help="a pretraining run folder (holds model.pt)")
    parser.add_argument("--random-init", action="store_true",
                        help="evaluate the same architecture at a seeded random initialisation "
                             f"instead (default output RUN_DIR/eval/{default_name}_random.json)")
    parser.add_argument("--out", default=None,
                        help=f"metrics file to write (default: RUN_DIR/eval/{default_name}.json)")
    parser.add_argument("--device", default=None, help="override train.device (auto|cpu|cuda)")
    add_split_argument(parser, default_suffix=True)
    parser.add_argument("--config", nargs="+", default=None, metavar="FILE",
                        help="take the evaluation settings (the eval section) from these config "
                             "files instead of the run's stored config, so that changing them "
                             "does not mean pretraining again")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set",
                        help="override one eval.* value of --config, or of the run's stored config "
                             "without --config (repeatable)")




def evaluation_overrides(items: list[str]) -> list[str]:
    """``--set`` items for an evaluation; a pretraining setting is refused (one error line)."""
    for item in items:
        key = parse_override(item)[0]
        if not key.startswith(EVALUATION_KEYS):
            raise UserError(f"--set {key}: an evaluation can change only eval.*, train.progress, "
                            "train.threads and train.device; the rest comes from the pretraining run")
    return items


def open_run(args):
    """(model, run config, checkpoint meta, device) for an evaluation command; with
    ``--random-init`` the model is the run's architecture at a seeded random initialisation."""
    model, cfg, meta = load_pretrained(args.run_dir)
    sets = evaluation_overrides(getattr(args, "set", None) or [])
    if getattr(args, "config", None):
        cfg = {**cfg, "eval": config_from_args(args)["eval"]}  # --config files + --set eval.*
    if sets:
        cfg = validate(apply_overrides(cfg, sets))
    device = resolve_device(args.device or cfg["train"]["device"])
    set_threads(cfg["train"]["threads"])
    if getattr(args, "random_init", False):
        torch.manual_seed(int(cfg["train"]["seed"]))
        model = build_model(cfg, int(meta["in_channels"]))
    return model.to(device), cfg, meta, device


def add_reference_arguments(parser) -> None:
    """Options of the reference rows computed from a config alone (rawpixels, supervised)."""
    add_config_arguments(parser)
    parser.add_argument("--out", required=True, help="metrics file to write (JSON)")
    parser.add_argument("--device", default=None, help="override train.device (auto|cpu|cuda)")
    add_split_argument(parser)


def open_config(args):
    """(validated config, device, training split, scored split) for a reference command."""
    cfg = config_from_args(args)
    device = resolve_device(args.device or cfg["train"]["device"])
    set_threads(cfg["train"]["threads"])
    return (cfg, device, *datasets_of(cfg, args.on))


def datasets_of(cfg: dict, on: str = "test"):
    """(training split, scored split): ``on`` is "test" or "val" (the validation split)."""
    return load_dataset(cfg["data"], "train"), load_dataset(cfg["data"], on)


def metrics_path(args, name: str) -> Path:
    """``--out``, else RUN_DIR/eval/NAME.json (NAME_val.json when scored on the validation split)."""
    if args.out:
        return Path(args.out)
    suffix = "_val" if getattr(args, "on", "test") == "val" else ""
    return Path(args.run_dir) / "eval" / f"{name}{suffix}.json"


def write_metrics(path: str | Path, evaluation: str, metrics: dict, *, run_dir=None, cfg=None,
                  started: float | None = None, execution=None, evaluated_on: str | None = None,
                  **inputs) -> dict:
    """Write ``metrics`` with the identity of what produced them (run, inputs, code, and the
    machine with the resolved precision and memory format); ``evaluated_on`` names the scored
    split ("test" or "val")."""
    record = {"evaluation": evaluation, **metrics}
    if evaluated_on is not None:
        record["evaluated_on"] = evaluated_on
    identity = {"code_version": code_version(), "packages": package_versions(),
                "hardware": hardware_info(execution)}
    if run_dir is not None:
        ckpt = Path(run_dir) / "model.pt"
        identity["run_dir"] = str(run_dir)
        if ckpt.is_file():
            identity["checkpoint_sha256"] = file_sha256(ckpt)
    identity.update({k: v for k, v in inputs.items() if v is not None})
    if cfg is not None:
        identity["config"] = cfg
    if started is not None:
        now = time.time()
        record["seconds"] = round(now - started, 2)
        record["finished_at"] = round(now, 1)  # Unix time: the report's pipeline wall time
    record["inputs"] = identity
    write_json(path, record)
    return record


__all__ = ["add_run_arguments", "open_run", "datasets_of", "metrics_path", "write_metrics",
           "file_sha256", "load_config"]
