"""Validate a config and check that its dataset can be read, before any long job starts.

    ifnd check --config config/config.yaml [config/cifar10.yaml] [--set key=value ...]

Exits 0 and prints a one-line summary, or prints one error line naming the problem and exits 2.
"""

from __future__ import annotations

from .cliargs import add_config_arguments, config_from_args
from .data import load_dataset, require_one_batch


def add_arguments(parser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--no-data", action="store_true", help="check the config only")


def run(args) -> int:
    cfg = config_from_args(args)
    summary = f"config ok: {cfg['data']['name']}, {cfg['model']['arch']}, method {cfg['method']['name']}"
    if not args.no_data:
        train = load_dataset(cfg["data"], "train")
        test = load_dataset(cfg["data"], "test")
        # the validation split is checked now too: one that does not fit fails here, not mid-run
        val = len(load_dataset(cfg["data"], "val")) if cfg["data"].get("val_subset") else 0
        summary += (f"; data ok: {len(train)} training, {val} validation and {len(test)} test "
                    f"images, {train.num_classes} classes")
        require_one_batch(cfg["train"], len(train))
    print(summary)
    return 0
