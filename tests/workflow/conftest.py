"""Fixtures of the workflow tests (helpers in workflow_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_support import TestConfigRun, copy_workflow


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path / "repo")


@pytest.fixture(scope="session")
def test_config_run(tmp_path_factory):
    """The end-to-end run of config/test.yaml, once per session (started by the first test that
    asks for it; killed at the end if still running)."""
    run = TestConfigRun(tmp_path_factory.mktemp("test-config"))
    yield run
    run.stop()
