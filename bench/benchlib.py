"""Shared pieces of the benchmarks in bench/: configs, the two training-step implementations
(ours and the peer's), the A/B timing harness, FLOP counting, the bf16 matmul peak, and the
results file (bench/results.json) with its human-readable rendering (bench/RESULTS.md).

Not part of the ``ifnd`` package and not a test: the scripts beside this file import it.

Units: "images/s" counts training IMAGES per second; every image is seen as TWO augmented views
(a positive pair), so the model processes twice as many views per second.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
BASE_CONFIG = REPO / "config" / "config.yaml"
DEFAULT_OUT = BENCH_DIR / "results.json"
RESULTS_FORMAT = "ifnd-bench-1"
UNITS = ("images/s = training images per second; each image is a pair of two augmented views, "
         "so the model processes 2x as many views per second")

# --------------------------------------------------------------------------- model configs
# Every benchmark names its model by one of these keys; `overrides` go on top of
# config/config.yaml (the default CPU experiment). All use method simclr (no detector) except
# where a script sets otherwise.
MODELS = {
    "default": {
        "label": "default CPU model (config/config.yaml): resnet_small width 16, Fashion-MNIST 28x28 grey, batch 256",
        "overrides": {},
    },
    "resnet18": {
        "label": "ResNet-18 CIFAR stem width 64, synthetic 32x32 RGB, batch 256",
        "overrides": {"model.arch": "resnet18", "model.width": 64, "data.name": "synthetic",
                      "data.image_size": 32, "data.train_subset": 4096, "data.test_subset": 256,
                      "train.batch_size": 256},
    },
    "resnet18-b512": {
        "label": "ResNet-18 CIFAR stem width 64, synthetic 32x32 RGB, batch 512",
        "overrides": {"model.arch": "resnet18", "model.width": 64, "data.name": "synthetic",
                      "data.image_size": 32, "data.train_subset": 25600, "data.test_subset": 256,
                      "train.batch_size": 512},
    },
    "tiny": {
        "label": "smoke-test model: resnet_small width 4, synthetic 16x16 RGB, batch 32 (numbers mean nothing)",
        "overrides": {"data.name": "synthetic", "data.image_size": 16, "data.train_subset": 256,
                      "data.test_subset": 64, "model.width": 4, "model.proj_hidden": 32,
                      "model.proj_dim": 16, "train.batch_size": 32},
    },
}


# Per model, on a CPU: (timed steps per run, warm-up steps per run, runs per implementation,
# synchronised breakdown steps). A 2-core CPU does about 0.5 s per default-model step and
# 15-20 s per ResNet-18 step at batch 256.
CPU_RUN_DEFAULTS = {"default": (8, 2, 5, 3), "resnet18": (2, 1, 2, 1), "resnet18-b512": (2, 1, 2, 1),
                    "tiny": (2, 1, 1, 1)}
GPU_RUN_DEFAULTS = (50, 5, 3, 3)


def parse_models(text: str) -> list[str]:
    """A comma-separated list of MODELS keys, checked."""
    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    return models


def run_defaults(model: str, device: torch.device, steps=None, warmup=None, repeats=None,
                 breakdown=None) -> tuple[int, int, int, int]:
    """(steps, warmup, repeats, breakdown steps): the given values, else per-model defaults."""
    d = CPU_RUN_DEFAULTS.get(model, (5, 1, 3, 1)) if device.type == "cpu" else GPU_RUN_DEFAULTS
    given = (steps, warmup, repeats, breakdown)
    return tuple(g if g is not None else v for g, v in zip(given, d))


def load_bench_config(model: str, extra: dict | None = None, sets: list[str] | None = None,
                      method: str = "simclr") -> dict:
    """The validated config of benchmark model ``model`` (a key of MODELS)."""
    from ifnd.config import load_config, parse_override

    overrides = {"method.name": method, "train.progress": False}
    overrides.update(MODELS[model]["overrides"])
    overrides.update(extra or {})
    for item in sets or []:
        key, value = parse_override(item)
        overrides[key] = value
    cfg = load_config(BASE_CONFIG, overrides)
    # train.precision / channels_last `auto` resolved as `ifnd pretrain` resolves them on this
    # machine, so that ours and the peer run (and the results record) the same concrete choice.
    from ifnd.hardware import resolve_execution

    ex = resolve_execution(cfg["train"], resolve_device(cfg["train"]["device"]))
    cfg["train"]["precision"], cfg["train"]["channels_last"] = ex.precision, ex.channels_last
    return cfg


def resolve_device(name: str) -> torch.device:
    """ifnd's device choice (``auto``: CUDA where there is one), its error as the exit message."""
    from ifnd.errors import UserError
    from ifnd.runinfo import resolve_device as resolve

    try:
        return resolve(name)
    except UserError as exc:
        raise SystemExit(str(exc)) from None


def setup_backend(device: torch.device, threads: int | None = None) -> int:
    """What `ifnd pretrain` sets: all cores for torch on the CPU, cuDNN autotuning and TF32."""
    from ifnd.runinfo import set_threads

    n = set_threads(threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return n


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- our step
class OursRunner:
    """Our training step exactly as `Pretrainer.train_epoch` runs it: batched augmentation of
    in-memory uint8 images on the device (`Pretrainer.batches` / `views`), the learning-rate
    schedule, `Pretrainer.step` (forward under autocast, IFND loss path, backward, SGD step),
    the on-device loss sum and the false-negative counter."""

    name = "ours"

    def __init__(self, cfg: dict, device: torch.device, name: str = "ours"):
        from ifnd.fnd import FNCounter
        from ifnd.train import Pretrainer

        self.name = name
        self.cfg = cfg
        self.device = device
        self.trainer = Pretrainer(cfg, device)
        self.batch_size = cfg["train"]["batch_size"]
        self.counter = FNCounter()
        self.loss_sum = torch.zeros((), device=device)
        self.epoch, self.global_step = 0, 0
        self._batches = None

    @property
    def model(self):
        return self.trainer.model

    def _next(self):
        if self._batches is None:
            self._batches = iter(self.trainer.batches(self.epoch))
        try:
            return next(self._batches)
        except StopIteration:
            self.epoch += 1
            self._batches = iter(self.trainer.batches(self.epoch))
            return next(self._batches)

    def set_lr(self) -> None:
        self.trainer.schedule(self.global_step % max(1, self.trainer.total_steps))
        self.global_step += 1

    def start_run(self) -> None:
        pass

    def fetch(self):
        """The next batch: two augmented views of B in-memory images (ours: on the device)."""
        return self._next()

    def compute(self, batch) -> None:
        x, idx = batch
        self.set_lr()
        indexes = torch.cat([idx, idx])
        loss, masks = self.trainer.step(x, indexes)
        self.loss_sum += loss
        self._masks, self._indexes = masks, indexes

    def count(self) -> None:
        from ifnd.losses import combine_levels

        masks = self._masks
        self.counter.update(None if masks is None else combine_levels(masks, "union"),
                            self._indexes, self.trainer.true_labels)

    def step(self) -> None:
        self.compute(self.fetch())
        self.count()

    def flush(self) -> float:
        loss = float(self.loss_sum)  # the one host sync of a run
        self.loss_sum.zero_()
        return loss

    def end_run(self) -> float:
        return self.flush()

    def close(self) -> None:
        pass

    def breakdown(self, steps: int) -> dict:
        """Median milliseconds per step of each part, with a device sync after each part (so
        the parts add up to a little more than an unsynchronised step)."""
        parts = {"augment_ms": [], "step_ms": [], "counter_ms": []}
        self.step()
        for _ in range(steps):
            sync(self.device)
            t0 = time.perf_counter()
            batch = self.fetch()
            sync(self.device)
            t1 = time.perf_counter()
            self.compute(batch)
            sync(self.device)
            t2 = time.perf_counter()
            self.count()
            sync(self.device)
            t3 = time.perf_counter()
            parts["augment_ms"].append(1e3 * (t1 - t0))
            parts["step_ms"].append(1e3 * (t2 - t1))
            parts["counter_ms"].append(1e3 * (t3 - t2))
        self.flush()
        return {k: round(statistics.median(v), 2) for k, v in parts.items()}


# --------------------------------------------------------------------------- the peer's step
class PILArrayDataset(torch.utils.data.Dataset):
    """Images held as a uint8 array and turned into PIL images per item, as torchvision's
    CIFAR10 / FashionMNIST datasets do; images smaller than ``size`` are zero-padded once here
    (as ours pads 28 -> 32 before cropping), so both pipelines crop the same picture."""

    def __init__(self, images: torch.Tensor, size: int, transform):
        x = images.numpy()  # (N, C, H, W) uint8
        h, w = x.shape[-2:]
        if h > size or w > size:
            raise ValueError(f"peer dataset: images of {h}x{w} larger than image_size {size}")
        if h < size or w < size:
            ph, pw = size - h, size - w
            x = np.pad(x, ((0, 0), (0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
        self.images = np.ascontiguousarray(x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), i


def peer_transform(cfg: dict, channels: int):
    """lightly's SimCLRTransform (two views) with our augmentation settings (crop scale, flip,
    jitter, grayscale, blur) and our normalisation, for 1- or 3-channel images."""
    from ifnd.augment import MEAN, STD
    from lightly.transforms import SimCLRTransform

    a = cfg["augment"]
    return SimCLRTransform(
        input_size=cfg["data"]["image_size"], cj_prob=a["jitter_prob"], cj_strength=1.0,
        cj_bright=a["brightness"], cj_contrast=a["contrast"], cj_sat=a["saturation"],
        cj_hue=a["hue"], min_scale=a["crop_scale"][0], random_gray_scale=a["grayscale_prob"],
        gaussian_blur=a["blur_prob"], hf_prob=0.5 if a["flip"] else 0.0,
        normalize={"mean": [MEAN] * channels, "std": [STD] * channels})


class PeerRunner:
    """The peer (lightly) as its users run it: a torchvision-style Dataset of PIL images,
    `lightly.transforms.SimCLRTransform` in DataLoader worker processes, `lightly.loss.NTXentLoss`;
    the SAME model module as ours (our backbone + projection head), the same SGD optimiser and
    learning-rate schedule, bf16 autocast and channels_last, batch size and precision."""

    name = "peer"

    def __init__(self, cfg: dict, device: torch.device, workers: int):
        from lightly.loss import NTXentLoss

        from ifnd.data import load_dataset
        from ifnd.models import build_model
        from ifnd.optim import build_optimizer, scaled_lr

        self.cfg, self.device = cfg, device
        tcfg = cfg["train"]
        train_set = load_dataset(cfg["data"], "train")
        channels = train_set.channels
        # Grey images stay 1-channel PIL images (mode L) and the model has 1 input channel, as
        # ours; lightly's default normalisation is RGB's, so ours (one scalar) is passed.
        self.dataset = PILArrayDataset(train_set.images, cfg["data"]["image_size"],
                                       peer_transform(cfg, channels))
        self.batch_size = tcfg["batch_size"]
        self.workers = workers
        torch.manual_seed(tcfg["seed"])
        self.model = build_model(cfg, channels).to(device)
        if tcfg["channels_last"]:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, tcfg)
        self.loss_fn = NTXentLoss(temperature=tcfg["temperature"])
        self.base_lr = scaled_lr(tcfg)
        self.steps_per_epoch = len(train_set) // self.batch_size
        self.total_steps = self.steps_per_epoch * tcfg["epochs"]
        self.warmup_steps = self.steps_per_epoch * tcfg["warmup_epochs"]
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, shuffle=True, drop_last=True,
            num_workers=workers, pin_memory=device.type == "cuda",
            persistent_workers=False, generator=torch.Generator().manual_seed(tcfg["seed"]))
        self.loss_sum = torch.zeros((), device=device)
        self.global_step = 0
        self._it = None

    def start_run(self) -> None:
        self._it = iter(self.loader)  # fresh workers; their start-up falls in the warm-up steps

    def fetch(self):
        """The next batch from the DataLoader (two views made by the worker processes)."""
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            return next(self._it)

    def compute(self, batch) -> None:
        from ifnd.features import autocast
        from ifnd.optim import learning_rate, set_learning_rate

        (x0, x1), _ = batch
        set_learning_rate(self.optimizer, learning_rate(self.global_step % max(1, self.total_steps),
                                                        self.total_steps, self.warmup_steps, self.base_lr))
        self.global_step += 1
        x = torch.cat([x0, x1]).to(self.device, non_blocking=True)
        if self.cfg["train"]["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.cfg["train"]["precision"]):
            z = self.model(x)
        loss = self.loss_fn(z[: self.batch_size], z[self.batch_size:])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach()

    def step(self) -> None:
        self.compute(self.fetch())

    def flush(self) -> float:
        loss = float(self.loss_sum)
        self.loss_sum.zero_()
        return loss

    def end_run(self) -> float:
        loss = self.flush()
        self.close()
        return loss

    def close(self) -> None:
        # Shut the workers down now, so that they do not prefetch during the other runs.
        it, self._it = self._it, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    def breakdown(self, steps: int) -> dict:
        """Median milliseconds per step waiting for the DataLoader vs computing (synced)."""
        self.start_run()
        for _ in range(2):
            self.step()
        wait, compute = [], []
        for _ in range(steps):
            sync(self.device)
            t0 = time.perf_counter()
            batch = self.fetch()
            t1 = time.perf_counter()
            self.compute(batch)
            sync(self.device)
            t2 = time.perf_counter()
            wait.append(1e3 * (t1 - t0))
            compute.append(1e3 * (t2 - t1))
        self.end_run()
        return {"loader_wait_ms": round(statistics.median(wait), 2),
                "step_ms": round(statistics.median(compute), 2)}


# --------------------------------------------------------------------------- A/B harness
def ab_measure(runners: list, steps: int, warmup: int, repeats: int, device: torch.device,
               log=print, prewarm: int = 1) -> dict:
    """Alternating runs (r1, r2, ..., r1, r2, ...): each run = ``warmup`` untimed steps, then
    ``steps`` timed steps. Before the first run every runner takes ``prewarm`` untimed steps
    (the very first steps pay one-time costs: oneDNN/cuDNN kernel selection, allocator growth,
    torch.compile). Returns {runner name: [images/s per run]}."""
    out = {r.name: [] for r in runners}
    losses = {r.name: [] for r in runners}
    for r in runners:
        if prewarm > 0:
            r.start_run()
            for _ in range(prewarm):
                r.step()
            r.end_run()
    for rep in range(repeats):
        for r in runners:
            r.start_run()
            for _ in range(warmup):
                r.step()
            r.flush()  # waits for the warm-up's work
            sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                r.step()
            loss = r.end_run()  # syncs
            dt = time.perf_counter() - t0
            ips = steps * r.batch_size / dt
            out[r.name].append(round(ips, 2))
            losses[r.name].append(loss / steps)
            if not math.isfinite(loss):
                raise RuntimeError(f"{r.name}: non-finite loss {loss}")
            log(f"  run {rep + 1}/{repeats} {r.name:>14}: {ips:9.1f} images/s "
                f"({steps} steps of {r.batch_size} images in {dt:.2f} s, mean loss {loss / steps:.3f})")
    return out


def summarise_ab(ips: dict, a: str, b: str) -> dict:
    """Medians, and the median of the per-repeat ratios a/b (adjacent runs pair up)."""
    ra, rb = ips[a], ips[b]
    ratios = [x / y for x, y in zip(ra, rb)]
    return {f"{a}_median": round(statistics.median(ra), 2), f"{b}_median": round(statistics.median(rb), 2),
            "per_run_ratio": [round(r, 3) for r in ratios],
            "median_ratio": round(statistics.median(ratios), 3)}


# --------------------------------------------------------------------------- FLOPs and peak
def model_flops_per_image(model, cfg: dict, channels: int, device: torch.device,
                          count_batch: int = 16) -> dict:
    """FLOPs of one training step per image (both views), with FlopCounterMode.

    The model part (forward + backward of 2 views) is linear in the batch, so it is counted on
    ``count_batch`` images and divided; the loss part (the (2B)^2 d similarity matmul, forward
    and backward) is quadratic in B and is counted at the configured batch size B."""
    from torch.utils.flop_counter import FlopCounterMode

    from ifnd.features import autocast
    from ifnd.losses import ifnd_loss

    tcfg = cfg["train"]
    size = cfg["data"]["image_size"]
    b = count_batch
    x = torch.randn(2 * b, channels, size, size, device=device)
    if tcfg["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    was_training = model.training
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    with FlopCounterMode(display=False) as fc:
        with autocast(device, tcfg["precision"]):
            z = model(x)
        z.sum().backward()
    model_flops = fc.get_total_flops() / b
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state, strict=False)  # undo the BatchNorm statistics update
    model.train(was_training)

    B = tcfg["batch_size"]
    d = cfg["model"]["proj_dim"]
    zz = torch.nn.functional.normalize(torch.randn(2 * B, d, device=device), dim=1).requires_grad_()
    idx = torch.arange(B, device=device)
    with FlopCounterMode(display=False) as fc:
        ifnd_loss(zz, torch.cat([idx, idx]), tcfg["temperature"], None, "elim", "union").backward()
    loss_flops = fc.get_total_flops() / B
    return {"model_flops_per_image": model_flops, "loss_flops_per_image": loss_flops,
            "flops_per_image": model_flops + loss_flops}


def matmul_peak(device: torch.device, n: int | None = None, repeats: int = 10,
                dtype=torch.bfloat16) -> dict:
    """Best achieved FLOP/s of an n x n x n ``torch.mm`` in ``dtype`` on ``device``."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(2):
        torch.mm(a, b, out=c)
    sync(device)
    best = math.inf
    inner = 5 if device.type == "cuda" else 1  # several mm per timing on the GPU (launch jitter)
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b, out=c)
        sync(device)
        best = min(best, (time.perf_counter() - t0) / inner)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "repeats": repeats,
            "best_seconds": best, "flops_per_second": 2 * n**3 / best}


# --------------------------------------------------------------------------- provenance
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat (Linux), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def other_cpu_use(interval: float = 1.0) -> float | None:
    """Cores kept busy by *other* processes over the next ``interval`` seconds, measured now
    (while this process sleeps), from /proc/stat; None where /proc/stat is missing. Unlike the
    load average, this does not lag: a benchmark script that has just ended does not count."""
    a = _cpu_times()
    if a is None:
        return None
    time.sleep(interval)
    b = _cpu_times()
    total = b[1] - a[1]
    return (os.cpu_count() or 1) * (b[0] - a[0]) / total if total > 0 else 0.0


def busy_now() -> tuple[bool, float | None]:
    """(busy, cores used by others): busy when others keep more than half the cores busy
    (falls back to the one-minute load average without /proc/stat)."""
    cores = os.cpu_count() or 1
    used = other_cpu_use()
    if used is None:
        return os.getloadavg()[0] > 0.5 * cores, None
    return used > 0.5 * cores, round(used, 2)


def machine_info(device: torch.device) -> dict:
    busy, others = busy_now()
    info = {
        "cpu_model": cpu_model(), "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "torchvision": _version("torchvision"),
        "lightly": _version("lightly"), "faiss": _version("faiss-cpu"),
        "python": platform.python_version(), "device": str(device),
        "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
        "busy": busy, "other_cores_busy_at_start": others,
    }
    # the instruction set that ran (ATen's kernels, oneDNN's cap, native bf16 yes/no)
    from ifnd.hardware import hardware_info

    hw = hardware_info(device=device)
    info.update({k: hw[k] for k in ("cpu_capability", "onednn_max_cpu_isa", "cpu_native_bf16")})
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def command_line(script: str, argv: list[str] | None) -> str:
    """The exact command, as a user would type it from the repository root."""
    args = sys.argv[1:] if argv is None else list(argv)
    rel = os.path.relpath(Path(script).resolve(), REPO) if Path(script).is_absolute() else script
    return shlex.join(["python", rel, *args])


def warn_if_busy(machine: dict, log=print) -> None:
    """Warn when other processes load the CPU: timings then mean little (and OpenMP thread
    pools with more threads than free cores slow down far more than proportionally)."""
    if machine.get("busy"):
        used = machine.get("other_cores_busy_at_start")
        what = (f"other processes keep {used:.1f} of {os.cpu_count()} cores busy" if used is not None
                else f"load average {machine['loadavg_at_start'][0]:.1f} on {os.cpu_count()} cores")
        log(f"WARNING: {what}: the machine is busy, timings will be unreliable "
            f"(run on a quiet machine; --threads 1 suffers least from contention)")


def new_entry(benchmark: str, script: str, argv, device: torch.device, settings: dict,
              note: str | None = None) -> dict:
    machine = machine_info(device)
    warn_if_busy(machine)
    return {"benchmark": benchmark, "date": now_utc(), "command": command_line(script, argv),
            "machine": machine, "settings": settings, "note": note, "results": {}}


# --------------------------------------------------------------------------- results file
def markdown_path(json_path: Path) -> Path:
    json_path = Path(json_path)
    return json_path.with_name("RESULTS.md" if json_path.stem == "results" else json_path.stem + ".md")


def load_results(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        return {"format": RESULTS_FORMAT, "units": UNITS, "entries": []}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} is not valid JSON ({exc}); move it away to start a new one") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise SystemExit(f"{path} is not a results file of format {RESULTS_FORMAT}")
    return data


def _clean(obj):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def append_entry(path: Path, entry: dict, markdown: bool = True) -> Path:
    """Append ``entry`` to the results file (atomically, under a lock) and regenerate the
    markdown beside it. Returns the markdown path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = dict(entry)
    entry["machine"] = dict(entry.get("machine", {}))
    entry["machine"].setdefault("loadavg_at_end", [round(v, 2) for v in os.getloadavg()])
    # Lock the folder (no lock file left behind) while reading, appending and replacing.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        data = load_results(path)
        data["entries"].append(_clean(entry))
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
        md = markdown_path(path)
        if markdown:
            write_markdown(data, md, path)
    finally:
        os.close(dir_fd)  # releases the lock
    return md


def write_markdown(data: dict, md_path: Path, json_path: Path) -> None:
    tmp = md_path.with_name(md_path.name + ".tmp")
    tmp.write_text(render_markdown(data, json_path.name))
    os.replace(tmp, md_path)


# --------------------------------------------------------------------------- rendering
def gpu_entries(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e.get("benchmark") == "gpu" and e.get("machine", {}).get("gpu")]


NOT_RECORDED = "instruction set not recorded"


def cpu_kind(e: dict) -> str:
    """The CPU code path an entry ran on: ATen's kernels, oneDNN's cap, native bf16 or not."""
    m = e.get("machine", {})
    aten, cap = m.get("cpu_capability"), m.get("onednn_max_cpu_isa")
    if aten is None:
        return NOT_RECORDED
    bf16 = "native bf16" if m.get("cpu_native_bf16") else "no native bf16"
    if cap:
        return f"{cap} path (oneDNN capped at {cap}, ATen {aten}, {bf16})"
    return f"{aten} ({bf16})"


def cpu_kinds(entries: list[dict], benchmark: str) -> list[str]:
    """The CPU kinds with entries of ``benchmark``, recorded ones first, newest kind first."""
    kinds = list(dict.fromkeys(cpu_kind(e) for e in reversed(entries)
                               if e.get("benchmark") == benchmark))
    recorded = [k for k in kinds if k != NOT_RECORDED]
    return recorded or kinds


def latest(entries: list[dict], benchmark: str, full_only: bool = False,
           kind: str | None = None) -> dict | None:
    """The newest entry of ``benchmark`` (on CPU kind ``kind``, if given): a full run on a quiet
    machine if there is one, else a full run on a busy machine, else (unless ``full_only``) a
    --quick smoke run."""
    mine = [e for e in entries if e.get("benchmark") == benchmark
            and (kind is None or cpu_kind(e) == kind)]
    full = [e for e in mine if not e.get("settings", {}).get("quick")]
    quiet = [e for e in full if not e.get("machine", {}).get("busy")]
    pool = quiet or full or ([] if full_only else mine)
    return pool[-1] if pool else None


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def si(v, unit="FLOP"):
    if v is None:
        return "n/a"
    for p, s in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= p:
            return f"{v / p:.2f} {s}{unit}"
    return f"{v:.0f} {unit}"


def _provenance(e: dict) -> list[str]:
    m = e.get("machine", {})
    dev = m.get("gpu") or m.get("device")
    lines = [f"*{e.get('date')}; {m.get('cpu_model')}, {cpu_kind(e)} ({m.get('cpu_cores')} cores, "
             f"{m.get('torch_threads')} torch threads), device {dev}, torch {m.get('torch')}, "
             f"lightly {m.get('lightly')}; load average at start/end "
             f"{m.get('loadavg_at_start', ['?'])[0]}/{m.get('loadavg_at_end', ['?'])[0]}.*",
             "", f"    {e.get('command')}"]
    if m.get("busy"):
        lines[0] = (f"**Measured on a busy machine (load average {m.get('loadavg_at_start', ['?'])[0]} on "
                    f"{m.get('cpu_cores')} cores): timings are unreliable.** ") + lines[0]
    if e.get("settings", {}).get("quick"):
        lines[0] = "**Smoke run (--quick): tiny model, the numbers mean nothing.** " + lines[0]
    if e.get("note"):
        lines[0] += f" Note: {e['note']}"
    return lines + [""]


def _render_throughput(e: dict) -> list[str]:
    out = ["Images/s = training images per second; each image is two augmented views. Runs "
           "alternate ours, peer, ours, peer, ...; warm-up steps are not timed; the ratio is the "
           "median over adjacent pairs of runs.", "",
           "| model | batch | timed steps x runs | ours: images/s per run | peer (lightly): images/s per run "
           "| median ours/peer |",
           "|---|---|---|---|---|---|"]
    for key, r in e["results"].items():
        ours = ", ".join(fmt(v, 0) for v in r.get("ours", [])) or "not run"
        peer = ", ".join(fmt(v, 0) for v in r.get("peer", [])) or "not run"
        ratio = r.get("median_ratio")
        out.append(f"| {r.get('label', key)} | {r.get('batch_size')} | {r.get('steps')} x {r.get('repeats')} | "
                   f"{ours} | {peer} | {fmt(ratio, 2) + 'x' if ratio else 'n/a'} |")
    for key, r in e["results"].items():
        bound = ratio_bound(r)
        if bound is not None and r.get("median_ratio", 99) < 1.5:
            parts = sum(r["breakdown"]["ours"].values())
            whole = 1e3 * r["batch_size"] / r["ours_median"]
            text = (f"What bounds the ratio ({key}): both run the same model module, and our model "
                    f"step alone (forward, loss, backward, SGD; synchronised) takes "
                    f"{fmt(r['breakdown']['ours']['step_ms'], 0)} ms per batch of {r['batch_size']}, while "
                    f"the peer's whole step takes {fmt(1e3 * r['batch_size'] / r['peer_median'], 0)} ms: "
                    f"even with a free data path, ours/peer could not exceed {fmt(bound, 2)}x "
                    f"(measured {fmt(r['median_ratio'], 2)}x, below the 1.5x target).")
            if bound >= 1.5:
                text += (f" The target lies inside that bound: in the timed runs our whole step took "
                         f"{fmt(whole, 0)} ms per batch, {fmt(whole - parts, 0)} ms more than its "
                         f"synchronised parts measured alone ({fmt(parts, 0)} ms), and that gap, not "
                         f"augmentation ({fmt(r['breakdown']['ours'].get('augment_ms'), 1)} ms), is what "
                         f"separates the measured ratio from the bound.")
            out += ["", text]
    compiled = [(key, r) for key, r in e["results"].items() if r.get("ours-compiled")]
    if compiled:
        out += ["", "With `train.compile: true` (torch.compile of forward and loss; compilation in the untimed "
                "pre-warm steps), in the same alternation:", "",
                "| model | ours-compiled: images/s per run | median ours-compiled/peer | median ours-compiled/ours |",
                "|---|---|---|---|"]
        for key, r in compiled:
            def ratio_text(name):
                v = r.get(name)
                return fmt(v, 2) + "x" if v else "n/a"
            out.append(f"| {r.get('label', key)} | {', '.join(fmt(v, 0) for v in r['ours-compiled'])} | "
                       f"{ratio_text('compiled_over_peer_median_ratio')} | "
                       f"{ratio_text('compiled_over_ours_median_ratio')} |")
    bd = [(k, r["breakdown"]) for k, r in e["results"].items() if r.get("breakdown")]
    if bd:
        out += ["", "Per-step breakdown (median ms, device synchronised after each part):", ""]
        for key, b in bd:
            parts = "; ".join(f"{impl}: " + ", ".join(f"{k.replace('_ms', '')} {v:.1f}" for k, v in d.items())
                              for impl, d in b.items())
            out.append(f"- {key}: {parts}")
    return out + [""]


def _headline(e: dict) -> str:
    """The main figures of an entry, for the History table."""
    parts = []
    for key, r in e.get("results", {}).items():
        if not isinstance(r, dict) or key.startswith("_"):
            continue
        if e.get("benchmark") == "step_throughput":
            impls = [f"{n} {fmt(r[n + '_median'], 0)}" for n in ("ours", "peer", "ours-compiled")
                     if r.get(n + "_median")]
            parts.append(f"{key} ({r.get('precision')}): " + ", ".join(impls) + " images/s")
        elif e.get("benchmark") == "mfu" and r.get("mfu_percent") is not None:
            parts.append(f"{key}: MFU {fmt(r['mfu_percent'], 1)}%")
    return "; ".join(parts)


def ratio_bound(r: dict) -> float | None:
    """The highest ours/peer ratio possible when the model step (shared by both) is all that
    ours costs: the peer's measured time per batch over our model step's."""
    try:
        return (1e3 * r["batch_size"] / r["peer_median"]) / r["breakdown"]["ours"]["step_ms"]
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def _render_mfu(e: dict) -> list[str]:
    out = ["| model | precision | FLOPs/image (model + loss) | images/s | achieved | matmul peak of that precision "
           "| MFU | MFU of the model step alone |",
           "|---|---|---|---|---|---|---|---|"]
    bounds = []
    for key, r in e["results"].items():
        if key.startswith("_"):
            continue
        alone = r.get("model_step_mfu_percent")
        out.append(f"| {r.get('label', key)} | {r.get('peak_precision', 'bf16')} | {si(r.get('flops_per_image'))} | "
                   f"{fmt(r.get('images_per_second'), 0)} | {si(r.get('achieved_flops_per_second'), 'FLOP/s')} | "
                   f"{si(r.get('peak_flops_per_second'), 'FLOP/s')} | {fmt(r.get('mfu_percent'), 1)}% | "
                   f"{fmt(alone, 1) + '%' if alone is not None else 'n/a'} |")
        if alone is not None and r.get("mfu_percent", 100) < 50:
            bounds.append(f"{key}: the model step alone (forward, loss, backward, SGD, synchronised; no "
                          f"augmentation) reaches {fmt(alone, 1)}% of the peak, so the convolution and matmul "
                          f"kernels on this model's shapes, not the rest of our step, bound its MFU of "
                          f"{fmt(r.get('mfu_percent'), 1)}% below the 50% target.")
    if bounds:
        out += ["", "What bounds it: " + " ".join(bounds)]
    peaks = e["results"].get("_peak", {})
    context = ", ".join(f"{name} {si(p.get('flops_per_second'), 'FLOP/s')}" for name, p in peaks.items()
                        if isinstance(p, dict))
    return out + ["", "FLOPs counted with torch.utils.flop_counter.FlopCounterMode (matmuls and "
                  "convolutions, forward and backward of both views); the peak is the best "
                  f"torch.mm of the step's precision measured in the same run (all peaks: {context}).", ""]


def _render_cluster(e: dict) -> list[str]:
    r = e["results"]
    out = [f"Baseline epoch: {fmt(r.get('baseline_epoch_seconds'), 2)} s "
           f"({r.get('steps_per_epoch')} steps, {r.get('n_train')} images). "
           f"Embedding pass over the training set: {fmt(r.get('embed_seconds'), 2)} s. "
           f"kNN monitor (test embedding + kNN, context): {fmt(r.get('knn_monitor_seconds'), 2)} s. "
           f"Embeddings from: {r.get('embeddings_from')}.", "",
           "| variant | k-means + selection + statistics (s) | share of epoch, train.py (shared embedding) | "
           "share of epoch, separate embedding pass | FN precision | FN recall | FN/anchor | "
           "label agreement with reference (ARI) |",
           "|---|---|---|---|---|---|---|---|"]
    for name, v in r.get("variants", {}).items():
        q = v.get("quality", {})
        out.append(f"| {name} | {fmt(v.get('update_seconds'), 3)} | {fmt(v.get('share_trainpy_percent'), 1)}% | "
                   f"{fmt(v.get('share_separate_percent'), 1)}% | {fmt(q.get('precision'), 3)} | "
                   f"{fmt(q.get('recall'), 3)} | {fmt(q.get('fn_per_anchor'), 1)} | "
                   f"{fmt(v.get('ari_vs_reference'), 3)} |")
    out += ["", f"Target: at most {r.get('target_percent', 10)}% of a baseline epoch. "
            f"Acceptance rate for the quality columns: {r.get('quality_rate')}.", ""]
    if r.get("recommendation"):
        out += [f"Recommendation: {r['recommendation']}", ""]
    return out


def _render_memory(e: dict) -> list[str]:
    out = ["| run | child max RSS | CUDA max allocated | exit | wall (s) |", "|---|---|---|---|---|"]
    for name, r in e["results"].items():
        if not isinstance(r, dict):
            continue
        if r.get("from_entry"):
            name = f"{name} (from the run of {r['from_entry']})"
        cuda = r.get("cuda_max_memory_allocated")
        out.append(f"| {name} | {fmt(r.get('max_rss_gib'), 2)} GiB | "
                   f"{fmt(cuda / 2**30, 2) + ' GiB' if cuda else 'n/a (CPU)'} | {r.get('returncode')} | "
                   f"{fmt(r.get('wall_seconds'), 1)} |")
    return out + ["", "Target: below 4 GiB.", ""]


def _render_gpu(e: dict) -> list[str]:
    r = e["results"]
    out = [f"Card: {r.get('card')}. Batch {r.get('batch_size')}; bf16 matmul peak "
           f"{si(r.get('peak_flops_per_second'), 'FLOP/s')}; FLOPs/image {si(r.get('flops_per_image'))}.", "",
           "| implementation | images/s per run | median | MFU |", "|---|---|---|---|"]
    for impl, v in r.get("impls", {}).items():
        out.append(f"| {impl} | {', '.join(fmt(x, 0) for x in v['images_per_second'])} | "
                   f"{fmt(v.get('median'), 0)} | {fmt(v.get('mfu_percent'), 1)}% |")
    if r.get("ratios"):
        out += ["", "Median ratios (per adjacent pair of runs): " +
                ", ".join(f"{k} {fmt(v, 2)}x" for k, v in r["ratios"].items())]
    if r.get("sync_debug"):
        out += ["", f"Host-device synchronisations in our step loop (torch.cuda sync debug mode): {r['sync_debug']}"]
    return out + [""]


def with_other_memory_runs(entries: list[dict], e: dict) -> dict:
    """Add the runs (default / clustering) that ``e`` lacks from older entries of the same
    kind (quick or not, on the same device), newest first, marked with their date."""
    e = dict(e, results=dict(e["results"]))
    kind = (bool(e.get("settings", {}).get("quick")), e.get("machine", {}).get("device"))
    for other in reversed(entries):
        if other is e or other.get("benchmark") != "memory":
            continue
        if (bool(other.get("settings", {}).get("quick")), other.get("machine", {}).get("device")) != kind:
            continue
        for name, r in other.get("results", {}).items():
            if isinstance(r, dict) and name not in e["results"]:
                e["results"][name] = dict(r, from_entry=other.get("date"))
    return e


RENDERERS = {
    "step_throughput": ("Training-step throughput: ours vs the peer (lightly)", _render_throughput),
    "mfu": ("Model FLOPs utilisation of our training step", _render_mfu),
    "cluster_overhead": ("Cost of the IFND clustering step", _render_cluster),
    "memory": ("Peak memory of a default pretraining run", _render_memory),
    "gpu": ("GPU: ResNet-18 (CIFAR stem), ours vs the peer", _render_gpu),
}


def render_markdown(data: dict, json_name: str = "results.json") -> str:
    entries = data.get("entries", [])
    lines = ["# Benchmark results", "",
             f"Generated from `{json_name}` by the bench/ scripts (do not edit by hand; "
             f"`python bench/readme_section.py` prints the short README version). "
             f"For each benchmark the newest full run on a quiet machine is shown (else the newest "
             f"full run on a busy one, else a `--quick` smoke run); every run is listed under "
             f"History.", "",
             f"Units: {UNITS}.", ""]
    for bench, (title, render) in RENDERERS.items():
        lines += [f"## {title}", ""]
        e = latest(entries, bench)
        if bench == "gpu":  # a run on a real GPU beats a newer CPU smoke run of gpu.py
            e = latest(gpu_entries(entries), "gpu") or e
        if bench == "memory" and e is not None:
            e = with_other_memory_runs(entries, e)
        gpu_entry = e is not None and bench == "gpu" and e.get("machine", {}).get("gpu")
        if bench == "gpu" and not gpu_entry:
            lines += ["**GPU figures are still to be measured**: no GPU was available when these "
                      "benchmarks were written. Run `python bench/gpu.py` (add `--compile` for "
                      "torch.compile) on a CUDA machine; it is sized to take under 3 minutes on one H100.", ""]
            if e is not None:
                lines += ["Latest CPU smoke run of the script:", ""]
            else:
                continue
        if e is None:
            lines += ["Not measured yet.", ""]
            continue
        # one block per CPU kind (instruction-set path), newest first
        shown = [e] if bench in ("gpu", "memory") or gpu_entry else [
            latest(entries, bench, kind=k) for k in cpu_kinds(entries, bench)]
        for e in shown:
            if len(shown) > 1:
                lines += [f"### {cpu_kind(e)}", ""]
            lines += _provenance(e)
            try:
                lines += render(e)
            except (KeyError, TypeError, ValueError) as exc:  # an older or partial entry
                lines += [f"(cannot render this entry: {type(exc).__name__}: {exc})", ""]
    lines += ["## History", "", "| date | benchmark | CPU path | quick | load avg | note | figures | command |",
              "|---|---|---|---|---|---|---|---|"]
    for e in entries:
        m = e.get("machine", {})
        lines.append(f"| {e.get('date')} | {e.get('benchmark')} | {cpu_kind(e)} | "
                     f"{'yes' if e.get('settings', {}).get('quick') else 'no'} | "
                     f"{m.get('loadavg_at_start', ['?'])[0]}{' (busy)' if m.get('busy') else ''} | "
                     f"{e.get('note') or ''} | {_headline(e)} | `{e.get('command')}` |")
    return "\n".join(lines) + "\n"


def merge_main(argv=None) -> None:
    """`python bench/benchlib.py merge SRC [--out bench/results.json]`: append the entries of a
    results file written elsewhere (e.g. by bench/gpu_check.sh on a GPU machine)."""
    import argparse
    p = argparse.ArgumentParser(prog="benchlib.py merge", description=merge_main.__doc__)
    p.add_argument("src", type=Path)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    entries = load_results(args.src)["entries"]
    md = None
    for i, e in enumerate(entries):
        md = append_entry(args.out, e, markdown=i == len(entries) - 1)
    print(f"merged {len(entries)} entries from {args.src} into {args.out}" + (f" and {md}" if md else ""))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "merge":
        raise SystemExit("usage: python bench/benchlib.py merge SRC [--out FILE]")
    merge_main(sys.argv[2:])
