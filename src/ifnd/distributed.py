"""Multi-process pretraining (DistributedDataParallel) under ``torchrun``.

``torchrun --nproc-per-node N ifnd pretrain ...`` starts N processes with the rendezvous
variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` set; :func:`from_environment` reads them and :meth:`Group.start` joins the
process group (``nccl`` on CUDA, one GPU per local rank; ``gloo`` on the CPU). Without those
variables the run is one plain process and nothing here touches it.

The helpers make N ranks at a per-rank batch of B/N the same experiment as one process at
batch B (docs/method.md, "Several processes"):

* :func:`gather_views` concatenates every rank's projections into the global batch, in the
  row layout of one process (all first views, then all second views), with gradients: its
  backward sums the gradient of the gathered rows over the ranks and hands each rank its own
  rows, so after DDP's gradient average every parameter receives the gradient of the global
  loss;
* :class:`GlobalBatchNorm` (the CPU/gloo counterpart of :class:`torch.nn.SyncBatchNorm`,
  which runs on GPUs only) normalises with the statistics of the global batch;
* :func:`embed_shard_bounds` and :func:`gather_rows` split a dataset pass into contiguous
  shards of whole embedding batches and put the results back together in dataset order, with
  no duplicates and no padding left in.
"""

from __future__ import annotations

import datetime
import os
import socket
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from .errors import UserError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass
class Group:
    """This process's place among the training processes (a single process by default)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launched: bool = False          # started by torchrun (a process group is used)
    backend: str | None = None
    devices: list = field(default_factory=list)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether a process group is in use (also for torchrun with one process)."""
        return self.launched and dist.is_initialized()

    # ---- start and stop ------------------------------------------------------------------
    def start(self, device_name: str) -> torch.device:
        """Join the process group and return this rank's device (``train.device``: auto, cpu
        or cuda; under torchrun CUDA means the GPU of the local rank)."""
        if not self.launched:
            from .runinfo import resolve_device
            device = resolve_device(device_name)
            self.devices = [{"rank": 0, "host": socket.gethostname(), "device": str(device)}]
            return device
        use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
        if use_cuda:
            if not torch.cuda.is_available():
                raise UserError("train.device is cuda but no CUDA device is available")
            if self.local_rank >= torch.cuda.device_count():
                raise UserError(f"local rank {self.local_rank} has no GPU: this host has "
                                f"{torch.cuda.device_count()}; start at most that many processes "
                                f"per node (torchrun --nproc-per-node)")
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
            self.backend = "nccl"
        else:
            device = torch.device("cpu")
            self.backend = "gloo"
        if not dist.is_initialized():
            kwargs = {"device_id": device} if device.type == "cuda" else {}
            try:
                dist.init_process_group(self.backend, init_method="env://", rank=self.rank,
                                        world_size=self.world_size,
                                        timeout=datetime.timedelta(minutes=30), **kwargs)
            except (RuntimeError, ValueError) as exc:
                raise UserError(f"cannot join the process group ({self.backend}): "
                                f"{str(exc).splitlines()[0]}") from None
        self.devices = all_gather_object({"rank": self.rank, "host": socket.gethostname(),
                                          "device": str(device)})
        return device

    def stop(self) -> None:
        if self.active:
            dist.destroy_process_group()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def require_even_split(self, batch_size: int) -> None:
        """Every rank takes the same share of the global batch."""
        if batch_size % self.world_size:
            raise UserError(f"train.batch_size {batch_size} does not split evenly over "
                            f"{self.world_size} processes")

    def info(self) -> dict:
        """What meta.json records about the processes."""
        return {"world_size": self.world_size, "backend": self.backend,
                "devices": self.devices or None}

    # ---- agreeing on failures ----------------------------------------------------------------
    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` in DistributedDataParallel under torchrun (gradients averaged over the
        ranks in backward), else ``model`` itself."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def on_main(self, fn, *args):
        """Run ``fn`` on rank 0 only and hand its result to every rank. A :class:`UserError`
        there is raised on every rank, any other failure stops every rank too (so no rank
        waits for a peer that has stopped)."""
        if not self.active:
            return fn(*args)
        payload = None
        if self.is_main:
            try:
                payload = ("ok", fn(*args))
            except UserError as exc:
                payload = ("error", str(exc))
            except BaseException as exc:
                broadcast_object(("crash", f"{type(exc).__name__}: {exc}"))
                raise
        payload = broadcast_object(payload)
        if payload[0] == "error":
            raise UserError(payload[1])
        if payload[0] == "crash":
            raise RuntimeError(f"rank 0 failed: {payload[1]}")
        return payload[1]


def from_environment(environ=None) -> Group:
    """The process group torchrun describes in the environment, or a single process."""
    env = os.environ if environ is None else environ
    if not all(k in env for k in ENV_KEYS):
        return Group()
    try:
        rank, world, local = (int(env[k]) for k in ENV_KEYS)
        local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    except ValueError:
        raise UserError("RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be integers "
                        "(as torchrun sets them)") from None
    if not (world >= 1 and 0 <= rank < world and 0 <= local < max(local_world, 1)):
        raise UserError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world} "
                        f"LOCAL_RANK={local} LOCAL_WORLD_SIZE={local_world}")
    for key in ("MASTER_ADDR", "MASTER_PORT"):
        if key not in env:
            raise UserError(f"{key} is not set: start several processes with torchrun")
    return Group(rank, world, local, local_world, launched=True)


# ---- collectives ---------------------------------------------------------------------------
def _ready() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_object(obj, src: int = 0):
    if not _ready():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj) -> list:
    if not _ready():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class _GatherRows(torch.autograd.Function):
    """Concatenate equal-sized tensors of all ranks along dim 0; backward: the gradient of the
    gathered rows summed over the ranks, this rank's rows of it."""

    @staticmethod
    def forward(ctx, x):
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rows = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        rank = dist.get_rank()
        return grad[rank * ctx.rows:(rank + 1) * ctx.rows]


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) with gradients: the backward sums the gradient over the ranks too."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


def gather_views(z: torch.Tensor) -> torch.Tensor:
    """The projections of the global batch from every rank's ``z`` (2b, d) = [first views;
    second views], with gradients: (2B, d) laid out as one process lays out batch
    B = b * world_size (rows i and i + B pair up), ranks in order within each view."""
    if not _ready():
        return z
    world, b = dist.get_world_size(), z.shape[0] // 2
    gathered = _GatherRows.apply(z)                                     # (world * 2b, d)
    return gathered.view(world, 2, b, -1).transpose(0, 1).reshape(2 * world * b, -1)


def gather_indices(idx: torch.Tensor) -> torch.Tensor:
    """The image indices (B,) of the global batch from every rank's (b,), ranks in order."""
    if not _ready():
        return idx
    parts = [torch.empty_like(idx) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, idx.contiguous())
    return torch.cat(parts)


def embed_shard_bounds(n: int, batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows [lo, hi) of an ``n``-row dataset pass that ``rank`` embeds: a contiguous run of
    whole ``batch_size`` batches (the same batches one process would use), so the ranks'
    shards cover the dataset once, in order."""
    n_batches = -(-n // batch_size)
    first = n_batches * rank // world_size
    last = n_batches * (rank + 1) // world_size
    return min(n, first * batch_size), min(n, last * batch_size)


def gather_rows(x: torch.Tensor, n_rows: list[int]) -> torch.Tensor:
    """Concatenate the ranks' (n_rows[r], ...) tensors in rank order. Shards may differ in
    size: each is padded to the largest for the collective and the padding is cut off."""
    if not _ready():
        return x
    most = max(n_rows)
    padded = x.new_zeros((most, *x.shape[1:]))
    padded[:x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in n_rows]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, n_rows)])


# ---- batch normalisation over the global batch ---------------------------------------------
class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the batch of all ranks together.

    The same parameters, buffers and state-dict keys as ``nn.BatchNorm1d/2d``; in eval mode,
    or without a process group of more than one rank, it is plain BatchNorm. The mean and the
    (biased) variance come from two all-reduced sums (differentiable, so each rank's gradient
    includes the other ranks' use of its activations); the running variance is the unbiased
    one, as in ``F.batch_norm``.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, x):
        if not (self.training and _ready()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        local = torch.cat([xf.sum(dims), xf.new_full((1,), xf.numel() // xf.shape[1])])
        total = _SumOverRanks.apply(local)
        count = total[-1].detach()
        mean = total[:-1] / count
        centred = xf - mean.view(shape)
        var = _SumOverRanks.apply(centred.square().sum(dims)) / count
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                     else self.momentum)
                self.running_mean.mul_(1 - f).add_(mean.detach(), alpha=f)
                unbiased = var.detach() * (count / (count - 1).clamp(min=1))
                self.running_var.mul_(1 - f).add_(unbiased, alpha=f)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of ``module`` normalised over the global batch: torch's fused
    :class:`~torch.nn.SyncBatchNorm` on CUDA, :class:`GlobalBatchNorm` elsewhere. Parameters
    and buffers are kept (the same tensors), so the state dict is unchanged."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_batchnorm(child, device))
    return module


def resolve_sync_batchnorm(value, group: Group) -> bool:
    """``train.sync_batchnorm`` (``auto``: on when the batch is split over several ranks)."""
    if value == "auto":
        return group.world_size > 1
    return bool(value) and group.world_size > 1


def default_threads(group: Group) -> int | None:
    """CPU threads per rank when ``train.threads`` is null: the cores shared among the ranks
    of this node (None in one process: runinfo.set_threads decides)."""
    if group.local_world_size <= 1 or os.environ.get("IFND_THREADS"):
        return None
    return max(1, (os.cpu_count() or 1) // group.local_world_size)


__all__ = ["Group", "GlobalBatchNorm", "all_gather_object", "broadcast_object", "convert_batchnorm",
           "default_threads", "embed_shard_bounds", "from_environment", "gather_rows",
           "gather_indices", "gather_views", "resolve_sync_batchnorm"]
