"""How a run executes on the machine it lands on: numeric precision, memory format, CPU kind.

``train.precision: auto`` picks bf16 autocast only where the hardware runs bf16 natively, and
fp32 elsewhere: on a CPU without AVX-512-BF16 (or AMX) oneDNN emulates bf16, about ten times
slower than fp32. ``train.channels_last: auto`` picks the channels-last memory format where it
is measured to be faster (bench/memory_format.md). Explicit
``bf16``/``fp32`` and ``true``/``false`` are honoured as given.

Training, evaluations and the supervised reference all resolve through :func:`resolve_execution`,
and every ``meta.json`` and metrics file records the result with :func:`hardware_info`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from dataclasses import dataclass

import torch

# oneDNN's CPU instruction-set levels, lowest first (the values ONEDNN_MAX_CPU_ISA accepts).
# Native bf16 arithmetic starts at AVX512_CORE_BF16; the later levels add to it.
_ONEDNN_ISA_ORDER = ["SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                     "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16",
                     "AVX10_1_512_AMX", "AVX512_CORE_AMX", "AVX10_1_512_AMX_FP16",
                     "AVX512_CORE_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2"]
_FIRST_NATIVE_BF16 = _ONEDNN_ISA_ORDER.index("AVX512_CORE_BF16")


def onednn_isa_cap() -> str | None:
    """The instruction-set cap set for oneDNN (``ONEDNN_MAX_CPU_ISA`` or its old name), if any."""
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return value.strip().upper() if value else None


def _cap_allows_bf16(cap: str | None) -> bool:
    if cap is None or cap in ("ALL", "DEFAULT"):
        return True
    if cap not in _ONEDNN_ISA_ORDER:
        return True  # a level newer than this list: all newer levels keep bf16
    return _ONEDNN_ISA_ORDER.index(cap) >= _FIRST_NATIVE_BF16


@functools.lru_cache(maxsize=1)
def _cpu_flags_and_model() -> tuple[frozenset, str]:
    flags, model = set(), platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                if flags and key == "model name":
                    break
    except OSError:
        pass
    return frozenset(flags), model


def cpu_native_bf16() -> bool:
    """Whether the CPU runs bf16 arithmetic natively for oneDNN (AVX-512-BF16 or AMX), with any
    ``ONEDNN_MAX_CPU_ISA`` cap applied."""
    if not _cap_allows_bf16(onednn_isa_cap()):
        return False
    flags, _ = _cpu_flags_and_model()
    if flags:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # no /proc/cpuinfo: ask oneDNN


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_native_bf16()
    return False


def resolve_precision(value: str, device: torch.device) -> str:
    """``bf16`` or ``fp32`` for ``train.precision`` (``auto``: bf16 where it is native)."""
    if value == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return value


def resolve_channels_last(value, device: torch.device) -> bool:
    """``train.channels_last`` (``auto``: on CUDA and CPU). On the CPU oneDNN's channels-last
    kernels were measured faster for the default model's fp32 step on both the AVX-512 and the
    AVX2 path, and on par in bf16 (bench/memory_format.md). Other devices keep the default
    memory format. The two formats sum in different orders, so an activation within rounding
    distance of zero can fall on the other side of a ReLU: at the default model's shape that
    moves single gradient tensors by 1-4% (max over elements) in fp32 (channels-first fp32
    against fp64: 0.6%, for the same reason; bf16 against fp64: about 50%), measured on one
    batch of 256; tests/models/test_channels_last.py compares the kernels themselves with a
    smooth activation."""
    if value == "auto":
        return device.type in ("cuda", "cpu")
    return bool(value)


@dataclass(frozen=True)
class Execution:
    """The resolved precision and memory format of one process on one device."""

    device: torch.device
    precision: str          # bf16 | fp32
    channels_last: bool

    def autocast(self):
        return autocast(self.device, self.precision)

    def memory_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=torch.channels_last) if self.channels_last else model


def resolve_execution(train_cfg: dict, device: torch.device) -> Execution:
    precision = resolve_precision(train_cfg["precision"], device)
    return Execution(device, precision, resolve_channels_last(train_cfg["channels_last"], device))


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def hardware_info(execution: Execution | None = None, device: torch.device | None = None) -> dict:
    """The machine and the resolved choices, as recorded in meta.json and metrics files."""
    device = execution.device if execution is not None else (device or torch.device("cpu"))
    _, model = _cpu_flags_and_model()
    info = {"device": str(device), "cpu_model": model, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_cpu_isa": onednn_isa_cap(), "cpu_native_bf16": cpu_native_bf16()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda_bf16"] = bool(torch.cuda.is_bf16_supported())
    if execution is not None:
        info["precision"] = execution.precision
        info["channels_last"] = execution.channels_last
    return info
