"""ifnd as a library: the public names, the training loop of docs/library.md (run exactly as
written there), the packaged default config, the version and the packaging metadata."""

import fnmatch
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from packaging.requirements import Requirement

import ifnd
from ifnd.config import PACKAGED_CONFIG, default_config_path, load_config

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
LIBRARY_DOC = REPO / "docs" / "library.md"
LOOP_HEADING = "## IFND in your own training loop"


def doc_block(path: Path, heading: str) -> str:
    """The first ```python block after ``heading`` in a markdown file."""
    text = path.read_text()
    assert heading in text, f"{path} lost its section {heading!r}"
    match = re.search(r"^```python\n(.*?)^```$", text.split(heading, 1)[1], re.S | re.M)
    assert match, f"no python block under {heading!r} in {path}"
    return match.group(1)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


# --------------------------------------------------------------------------- public names
@pytest.mark.parametrize("name", [n for n in ifnd.__all__ if n != "__version__"])
def test_public_name_imports_and_is_documented(name):
    assert name in dir(ifnd)
    assert inspect.getdoc(getattr(ifnd, name)), f"ifnd.{name} has no docstring"


def test_public_names_are_the_defining_objects():
    assert ifnd.ifnd_loss is importlib.import_module("ifnd.losses").ifnd_loss
    assert ifnd.FalseNegativeDetector is importlib.import_module("ifnd.fnd").FalseNegativeDetector
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        ifnd.nonexistent  # noqa: B018


def test_import_ifnd_does_not_load_torch(tmp_path):
    proc = run_python("import sys, ifnd, ifnd.cli; print('torch' in sys.modules, ifnd.__version__)",
                      tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", ifnd.__version__]


# --------------------------------------------------------------------------- docs/library.md
def test_library_doc_loop_runs_as_written(monkeypatch):
    monkeypatch.chdir(REPO)  # load_config() reads config/config.yaml, as a user's checkout would
    torch.manual_seed(0)
    namespace = {"__name__": "library_doc"}
    exec(compile(doc_block(LIBRARY_DOC, LOOP_HEADING), str(LIBRARY_DOC), "exec"), namespace)

    det, images, z, indexes = (namespace[k] for k in ("detector", "images", "z", "indexes"))
    # clustered at epochs 1 and 2; at epoch 2 the ramp has reached the full rate
    assert det.last_epoch == 2 and det.rate == 1.0
    assert det.pseudo_labels.shape == (2, len(images))
    assert bool((det.pseudo_labels >= 0).all())
    assert sorted(int(k) for k in (det.pseudo_labels.max(1).values + 1)) == [5, 10]
    loss = namespace["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss)
    # the last step removed detected false negatives: its loss is below the plain NT-Xent loss
    masks = det.level_masks(indexes)
    assert masks is not None and bool(masks.any())
    plain = ifnd.contrastive_loss(z.detach(), indexes, 0.2)
    assert float(loss.detach()) < float(plain)


def test_library_doc_lists_only_real_names():
    text = LIBRARY_DOC.read_text()
    rows = text.split("| import from `ifnd` |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    first_cells = [row.split("|")[1] for row in rows]
    listed = {name for cell in first_cells for name in re.findall(r"`(\w+)", cell)}
    assert listed, "the name table of docs/library.md is empty"
    assert listed <= set(ifnd.__all__), sorted(listed - set(ifnd.__all__))


# --------------------------------------------------------------------------- packaged config
def test_packaged_default_config_is_config_yaml():
    packaged = REPO / "src" / "ifnd" / PACKAGED_CONFIG
    assert packaged.read_bytes() == (REPO / "config" / "config.yaml").read_bytes(), (
        f"{packaged.relative_to(REPO)} differs from config/config.yaml; after changing the "
        f"default run: cp config/config.yaml {packaged.relative_to(REPO)}")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["ifnd"]
    assert any(fnmatch.fnmatch(PACKAGED_CONFIG, p) for p in patterns), patterns  # in the wheel


def test_default_config_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = default_config_path()
    assert path == REPO / "src" / "ifnd" / PACKAGED_CONFIG  # the editable install's package
    cfg = load_config()
    assert cfg == load_config(path) and cfg["data"]["name"] == "fashion-mnist"


def test_cli_check_and_version_outside_a_checkout(tmp_path):
    proc = run_python("from ifnd.cli import entry; entry()", tmp_path)
    assert proc.returncode == 2 and "<step>" in proc.stderr  # no step: usage error
    cli = "import sys; from ifnd.cli import entry; sys.argv = ['ifnd', *{}]; entry()"
    proc = run_python(cli.format(["check", "--no-data"]), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("config ok: fashion-mnist, resnet_small, method ifnd")
    proc = run_python(cli.format(["--version"]), tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ifnd {ifnd.__version__}"


# --------------------------------------------------------------------------- metadata
def test_version_has_one_source():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ifnd.__version__"}


def test_exact_pins_satisfy_the_package_ranges():
    """pyproject.toml states ranges; the pinned versions of requirements.txt fall inside them."""
    deps = {Requirement(d).name: Requirement(d).specifier
            for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert not any(str(s).startswith("==") for s in deps.values()), deps
    pinned = re.findall(r"^(torch|torchvision)==(\S+)", (REPO / "requirements.txt").read_text(), re.M)
    assert {name for name, _ in pinned} == {"torch", "torchvision"}
    for name, version in pinned:
        assert deps[name].contains(version), f"{name}=={version} is outside pyproject's {deps[name]}"


def test_license_and_citation():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    license_text = (REPO / "LICENSE").read_text()
    assert project["license"] == {"text": "MIT"} and license_text.startswith("MIT License")
    assert "The IFND pipeline authors" in license_text
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == ifnd.__version__ and cff["license"] == "MIT"
    paper = cff["preferred-citation"]
    assert paper["title"] == "Incremental False Negative Detection for Contrastive Learning"
    assert [a["family-names"] for a in paper["authors"]] == ["Chen", "Hung", "Tseng", "Chien", "Yang"]
    assert paper["year"] == 2022 and "ICLR" in paper["conference"]["name"]
    assert "arXiv:2106.03719" in [i["value"] for i in paper["identifiers"]]
