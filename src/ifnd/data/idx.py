"""A strict reader for the IDX format (MNIST / Fashion-MNIST), gzipped or not."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError

UBYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise UserError(f"{path} is a corrupt or truncated gzip file ({exc})") from None
    return raw


def parse_idx(data: bytes, path: Path | str, ndim: int) -> np.ndarray:
    """Parse an IDX ubyte array with ``ndim`` dimensions; every inconsistency is a UserError."""
    if len(data) < 4:
        raise UserError(f"{path} is not an IDX file: only {len(data)} bytes")
    zero, dtype, dims = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0:
        raise UserError(f"{path} is not an IDX file: bad magic number 0x{data[:4].hex()}")
    if dtype != UBYTE:
        raise UserError(f"{path}: IDX data type 0x{dtype:02x} is not supported (expected 0x08, unsigned byte)")
    if dims != ndim:
        raise UserError(f"{path}: IDX file has {dims} dimensions, expected {ndim} "
                        f"(magic 0x{data[:4].hex()})")
    header = 4 + 4 * dims
    if len(data) < header:
        raise UserError(f"{path} is truncated: the IDX header needs {header} bytes, file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise UserError(f"{path} is {what}: shape {shape} needs {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: Path | str, ndim: int) -> np.ndarray:
    path = Path(path)
    return parse_idx(read_bytes(path), path, ndim)
