"""Atomic outputs: a reader never sees a half-written file, and a crash never leaves one.

Every file ifnd writes goes through :func:`atomic_output`: the data goes to a temporary file
beside the target, is flushed to disk, and only then renamed onto the target. A failure (a
full disk, an unwritable folder, a path below a regular file) removes the temporary file,
leaves the previous version of the target as it was, and becomes one :class:`UserError` line
naming the path and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import UserError

# How torch.save reports a failed write (a full disk, among others).
_TORCH_WRITE_FAILURE = re.compile(r"PytorchStreamWriter|inline_container|file write failed")
# Below this many free bytes a failed write is reported as a full disk.
_NEARLY_FULL = 1 << 20


def public_mode() -> int:
    """The mode an ordinary ``open()`` would give a new file (mkstemp's files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL
    except OSError:
        return False


def write_error(path: Path, exc: BaseException) -> UserError:
    """One clear line for a failed write of ``path``."""
    nearest = _existing(path.parent)
    if nearest.exists() and not nearest.is_dir():
        why = f"{nearest} is a file, not a folder"
    elif (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or _disk_full(nearest):
        why = "no space left on the device"
    elif isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"{nearest} is not writable ({exc.strerror})"
    elif isinstance(exc, OSError):
        why = exc.strerror or str(exc)
    else:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
    return UserError(f"cannot write {path}: {why}; earlier outputs were left as they were")


def _existing(folder: Path) -> Path:
    """``folder`` or its nearest ancestor that exists."""
    for parent in [folder, *folder.parents]:
        if parent.exists():
            return parent
    return folder


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success it is flushed and renamed onto ``path``.

    Errors while writing (``OSError``, or the ``RuntimeError`` that ``torch.save`` raises for a
    failed write) become a :class:`UserError`; the target is then untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())  # the data is on disk before the rename makes it visible
            os.chmod(tmp, public_mode())
            os.replace(tmp, path)
        except OSError as exc:
            raise write_error(path, exc) from None
        except RuntimeError as exc:
            if not _TORCH_WRITE_FAILURE.search(str(exc)):
                raise
            raise write_error(path, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_output(path) as tmp, open(tmp, "w") as fh:
        fh.write(text)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    import torch

    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def writable_folder(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written in it (one error line if
    not), so that a run fails before its work rather than after."""
    path = Path(path)
    probe = path / ".ifnd-write-check"
    atomic_write_text(probe, "")
    probe.unlink()
    return path
