"""Optimisers and the learning-rate schedule of pretraining (docs/method.md, One training
epoch): SGD or LARS with weight decay on weights only, the learning rate scaled linearly with
the batch size, a linear warm-up and a cosine decay to zero, stepped every batch."""

from __future__ import annotations

import math

import torch

__all__ = ["LARS", "build_optimizer", "scaled_lr", "learning_rate", "set_learning_rate"]


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You et al., 2017).

    Parameters in groups with ``lars=False`` (biases, BatchNorm) take plain SGD steps."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, eta=0.02):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      eta=eta, lars=True))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad.add(p, alpha=group["weight_decay"])
                if group["lars"]:
                    p_norm, g_norm = torch.norm(p), torch.norm(d_p)
                    trust = torch.where((p_norm > 0) & (g_norm > 0),
                                        group["eta"] * p_norm / g_norm, torch.ones_like(p_norm))
                    d_p = d_p.mul(trust)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = d_p.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(d_p)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])


def build_optimizer(model: torch.nn.Module, train_cfg: dict) -> torch.optim.Optimizer:
    """Weight decay (and LARS adaptation) on weights only; biases and BatchNorm excluded."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    lr, wd = scaled_lr(train_cfg), train_cfg["weight_decay"]
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    if train_cfg["optimizer"] == "lars":
        groups[1]["lars"] = False
        return LARS(groups, lr=lr, momentum=train_cfg["momentum"])
    return torch.optim.SGD(groups, lr=lr, momentum=train_cfg["momentum"])


def scaled_lr(train_cfg: dict) -> float:
    """``train.lr`` is given for batch 256 and scaled linearly (Goyal et al., 2017)."""
    return train_cfg["lr"] * train_cfg["batch_size"] / 256


def learning_rate(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up to ``base_lr``, then cosine decay to 0."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group of ``optimizer`` the learning rate ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr
