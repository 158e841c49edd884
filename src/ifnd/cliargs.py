"""The two options of every config-taking command: ``--config FILE [FILE...]`` and ``--set k=v``.

The first file is the base config (``config/config.yaml`` by default, the packaged copy outside
a checkout, or a small override file beside it); further files are merged on top in order;
``--set dotted.key=value`` pairs (values parsed as YAML) are applied last. See
:func:`ifnd.config.load_config`.
"""

from __future__ import annotations

from .config import DEFAULT_CONFIG, default_config_path, load_config


def add_config_arguments(parser) -> None:
    parser.add_argument("--config", nargs="+", default=None, metavar="FILE",
                        help="config file(s): the first is the base, later ones are merged on top "
                             f"(default: {DEFAULT_CONFIG}, or outside a checkout the default "
                             "packaged with ifnd)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set",
                        help="override one config value, e.g. --set train.epochs=3 (repeatable)")


def config_from_args(args) -> dict:
    """The validated config described by ``args.config`` and ``args.set``."""
    files = list(getattr(args, "config", None) or [str(default_config_path())])
    overrides = getattr(args, "set", None) or getattr(args, "overrides", None) or []
    return load_config(files[0], list(overrides), extra_files=files[1:])
