"""Suite-wide settings."""

import atexit
import os
import sys

_exit_status = {}


def _leave_without_cxx_exit_handlers():
    # torch 2.14's oneDNN primitive cache can crash in its destructor at interpreter exit after
    # many bf16 convolutions in one process (seen under gdb: ~jit_generator_t inside
    # ~primitive_cache_t, from libc's exit handlers), turning a green run into exit code 139.
    # Python's atexit handlers run before those, and by now pytest has reported everything.
    if "code" in _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["code"])


def pytest_configure(config):
    atexit.register(_leave_without_cxx_exit_handlers)


def pytest_sessionfinish(session, exitstatus):
    _exit_status["code"] = int(exitstatus)
