"""Load, override, validate and dump the experiment configuration.

One YAML file (``config/config.yaml``) is the single source of truth. Variants are small
override files merged on top of it, or ``--set dotted.key=value`` pairs. The result is
validated against ``config.schema.yaml`` (also used by Snakemake), so an unknown or
ill-typed key fails before any work starts.
"""

from __future__ import annotations

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from .errors import UserError
from .fileio import atomic_write_text
from .vocabulary import RESUME_FREE_KEYS

DEFAULT_CONFIG = Path("config/config.yaml")
# The same file shipped inside the package (tests/test_library.py keeps the two identical), so
# that `ifnd` finds a default outside a checkout of the repository.
PACKAGED_CONFIG = "configs/default.yaml"


def default_config_path() -> Path:
    """``config/config.yaml`` of the working directory when there is one (a checkout of the
    repository), else the default config packaged with ifnd."""
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    return Path(str(resources.files("ifnd").joinpath(PACKAGED_CONFIG)))


def load_schema() -> dict:
    text = resources.files("ifnd").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping at top level")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """Return ``base`` with ``override`` merged in (nested mappings merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "ablations":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# keys the schema allows to be absent (absent = their default in the code): an override may add them
OPTIONAL_KEYS = ("train.sync_batchnorm", "train.save_epochs", "fnd.control", "data.scenes",
                 "train.framework", "train.moco", "fnd.encoder", "eval.semisup.subsets", "workflow.frameworks")


def set_dotted(cfg: dict, key: str, value: Any) -> None:
    """Set ``cfg["a"]["b"] = value`` for ``key == "a.b"``; the key must already exist, or be one
    of :data:`OPTIONAL_KEYS` (or lie below one that exists)."""
    if key in OPTIONAL_KEYS:
        *parents, name = key.split(".")
        node = cfg
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.setdefault(name, None)
    parts = key.split(".")
    node = cfg
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise UserError(f"unknown config key: {'.'.join(parts[: i + 1])}")
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise UserError(f"unknown config key: {key}")
    node[parts[-1]] = value


_ABSENT = object()


def get_dotted(cfg: dict | None, key: str, default: Any = _ABSENT) -> Any:
    """``cfg["a"]["b"]`` for ``key == "a.b"``; where a part is absent, ``default`` when one is
    given, else KeyError. The one dotted getter of the package (configs, recorded configs of
    runs, the pipeline's run configs)."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _ABSENT:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def parse_override(item: str) -> tuple[str, Any]:
    """``"train.epochs=3"`` -> ``("train.epochs", 3)``; the value is parsed as YAML."""
    if "=" not in item:
        raise UserError(f"override must look like key=value, got: {item!r}")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_overrides(cfg: dict, overrides: Iterable[str] | dict) -> dict:
    cfg = copy.deepcopy(cfg)
    items = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides)
    for key, value in items:
        set_dotted(cfg, key, value)
    return cfg


def validate(cfg: dict) -> dict:
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        if err.validator == "additionalProperties":
            raise UserError(f"invalid config at {where}: {err.message}")
        raise UserError(f"invalid config value at {where}: {err.message}")
    _check_consistency(cfg)
    return cfg


def _check_consistency(cfg: dict) -> None:
    fnd = cfg["fnd"]
    if len(fnd["kmeans_seeds"]) != len(fnd["levels"]):
        raise UserError(
            f"fnd.kmeans_seeds needs one seed per level: {len(fnd['levels'])} levels, "
            f"{len(fnd['kmeans_seeds'])} seeds"
        )
    if (cfg.get("workflow") or {}).get("evaluate_on") == "val" and not cfg["data"].get("val_subset"):
        raise UserError("workflow.evaluate_on: val needs a validation split: set data.val_subset")
    lo, hi = cfg["augment"]["crop_scale"]
    if lo > hi:
        raise UserError(f"augment.crop_scale must be [low, high] with low <= high, got {[lo, hi]}")


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Iterable[str] | dict = (),
    extra_files: Iterable[str | os.PathLike] = (),
) -> dict:
    """Read the base config, merge override files, apply ``key=value`` overrides, validate.

    Without ``path``: :func:`default_config_path`. ``overrides`` are ``"key=value"`` strings
    or a ``{"dotted.key": value}`` dict.

    An override file that holds only some keys is merged on top of ``config/config.yaml``
    (found beside it); a complete file stands on its own.
    """
    path = Path(path) if path is not None else default_config_path()
    cfg = _read_yaml(path)
    required = set(load_schema()["required"])
    if not required.issubset(cfg):
        base_path = path.parent / "config.yaml"
        if base_path.resolve() == path.resolve() or not base_path.is_file():
            missing = sorted(required - set(cfg))
            raise UserError(f"config {path} lacks sections {missing} and has no config.yaml beside it")
        cfg = deep_merge(_read_yaml(base_path), cfg)
    for extra in extra_files:
        cfg = deep_merge(cfg, _read_yaml(Path(extra)))
    cfg = apply_overrides(cfg, overrides)
    return validate(cfg)


def dump_config(cfg: dict, path: str | os.PathLike) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False))


def flatten(cfg: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(old: dict, new: dict) -> list[str]:
    """"key: old -> new" for every setting two configs disagree on, the keys that may change
    between a run and its resume (:data:`ifnd.vocabulary.RESUME_FREE_KEYS`) left out."""

    a, b = flatten(old), flatten(new)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key.startswith(RESUME_FREE_KEYS):
            continue
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            diffs.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return diffs
