"""Suite-wide settings: generated datasets are cached in a folder of the test session, never in
the user's cache. (The suite once left through os._exit to hide a crash at exit; see
ifnd.cli.entry for why that is no longer needed.)"""

import os
import tempfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache():
    old = os.environ.get("IFND_CACHE")
    with tempfile.TemporaryDirectory(prefix="ifnd-cache-") as folder:
        os.environ["IFND_CACHE"] = folder
        yield
    if old is None:
        os.environ.pop("IFND_CACHE", None)
    else:
        os.environ["IFND_CACHE"] = old


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """A command run in-process (``ifnd pretrain`` sets the thread count of its job) must not
    change the threads the next test computes with."""
    import torch

    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
