"""The trainer of contrastive pretraining: SimCLR or MoCo v2, with IFND, the oracle or a control.

The command around it (run folder, resume, CLI) is :mod:`ifnd.pretrain`. One epoch: (if due)
cluster the embeddings of all training images and accept pseudo-labels; then for every batch
draw two augmented views, compute normalised projections, build the false-negative mask from
the accepted pseudo-labels of the batch's images and minimise the contrastive loss with the
false negatives eliminated (or attracted). After each epoch the model embeds the training set
once: those embeddings feed both the online kNN monitor and the next epoch's clustering.

Under ``torchrun --nproc-per-node N`` the same command trains with DistributedDataParallel
(ifnd.distributed): ``train.batch_size`` stays the global batch, each rank augments and
trains on its slice of it, the contrastive loss and the false-negative masks are computed over
the gathered global batch, BatchNorm normalises over it (``train.sync_batchnorm``), every rank
embeds a shard of the training set for the clustering, which rank 0 runs, and only rank 0
writes the run folder and the state. The true labels are read only to measure the detected false
negatives, for the kNN monitor, and as the oracle's labels: never to train an IFND run.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .augment import BatchedSimCLRAugment
from .config import config_differences
from .data import ArrayDataset, balanced_part, load_dataset, require_one_batch
from .distributed import (Group, convert_batchnorm, embed_shard_bounds, gather_indices, gather_rows,
                          gather_views, resolve_sync_batchnorm)
from .errors import UserError
from .features import embed_both, extract_features
from .fnd import FNCounter, build_detector
from .fnd.controls import with_experiment
from .hardware import resolve_execution
from .knn import knn_accuracy
from .losses import combine_levels, ifnd_loss
from .models import build_model
from .moco import MocoStep
from .optim import build_optimizer, learning_rate, scaled_lr, set_learning_rate
from .vocabulary import experiment_name
from .runinfo import code_version, resolve_device


class Pretrainer:
    """Holds the model, optimiser, data and false-negative detector of one pretraining run."""

    def __init__(self, cfg: dict, device: torch.device | None = None, group: Group | None = None):
        self.cfg = cfg
        # the commit as training starts (one made while it trains did not make its epochs);
        # a resume puts the earlier processes' commits first
        self.code_versions = [code_version()]
        tcfg = cfg["train"]
        self.device = device or resolve_device(tcfg["device"])
        self.group = group or Group()  # a single process unless started by torchrun
        self.train_set = load_dataset(cfg["data"], "train")
        # the monitor watches the validation split (test images only without one)
        self.monitor_split = "val" if cfg["data"].get("val_subset") else "test"
        self.monitor_set = balanced_part(load_dataset(cfg["data"], self.monitor_split),
                                         tcfg["knn_monitor_images"], tcfg["seed"])
        require_one_batch(tcfg, len(self.train_set))
        self.group.require_even_split(tcfg["batch_size"])
        self.local_batch = tcfg["batch_size"] // self.group.world_size
        self.size = cfg["data"]["image_size"]
        torch.manual_seed(tcfg["seed"])
        # bf16 and channels-last where this machine runs them fast (train.precision/channels_last: auto)
        self.execution = resolve_execution(tcfg, self.device)
        self.model = self.execution.prepare(build_model(cfg, self.train_set.channels).to(self.device))
        self.sync_batchnorm = resolve_sync_batchnorm(tcfg.get("sync_batchnorm", "auto"), self.group)
        if self.sync_batchnorm:
            self.model = convert_batchnorm(self.model, self.device)
        # MoCo v2 (train.framework: moco): a momentum encoder and a queue of keys beside the model
        self.framework = tcfg.get("framework") or "simclr"
        self.moco = (MocoStep(self.model, tcfg, cfg["model"]["proj_dim"], self.device, self.group.world_size)
                     if self.framework == "moco" else None)
        # the training forward goes through DDP under torchrun; embedding passes use the model
        self.net = self.group.wrap(self.model, self.device)
        self.optimizer = build_optimizer(self.model, tcfg)
        self.augment = BatchedSimCLRAugment(cfg["augment"], self.size)
        self.steps_per_epoch = len(self.train_set) // tcfg["batch_size"]
        self.total_steps = self.steps_per_epoch * tcfg["epochs"]
        self.warmup_steps = self.steps_per_epoch * tcfg["warmup_epochs"]
        self.base_lr = scaled_lr(tcfg)
        # True labels: statistics, kNN monitor and the oracle only.
        self.true_labels = self.train_set.labels.to(self.device)
        # a structured control's confusion file may name this experiment's detection study
        fnd_cfg = with_experiment(cfg["fnd"], experiment_name(cfg))
        self.detector = build_detector(cfg["method"]["name"], fnd_cfg, tcfg["seed"], self.train_set.labels.numpy())
        self.in_memory = getattr(self.train_set, "in_memory", True)
        if self.in_memory:
            # The whole dataset lives on the training device as uint8 (airbench style).
            self.images = self.train_set.images.to(self.device)
        # the embedding pass reads the device copy too (no per-epoch host-to-device transfer)
        self.embed_set = (ArrayDataset(self.images, self.train_set.labels, self.train_set.num_classes,
                                       self.train_set.name) if self.in_memory else self.train_set)
        # torch.compile covers the forward pass and the loss (and so, through AOTAutograd, their
        # backward); the optimiser step stays eager: compiled, it would recompile whenever the
        # scheduled learning rate (a Python float) changes.
        forward = self._moco_forward_loss if self.framework == "moco" else self._forward_loss
        self.forward_loss = torch.compile(forward) if tcfg["compile"] else forward
        self.epoch = 0
        # the embedding pass that ended the last epoch, for the next epoch's clustering
        self.next_embeddings: torch.Tensor | None = None
        self.train_rows: list[dict] = []
        self.fn_rows: list[dict] = []

    # ---- one optimisation step -------------------------------------------------------
    def _forward_loss(self, x: torch.Tensor, indexes: torch.Tensor):
        """``x``: this rank's views; ``indexes``: the image ids of the global batch's rows."""
        cfg = self.cfg
        with self.execution.autocast():
            z = self.net(x)
        z = gather_views(z)  # the global batch (with gradients) under DDP
        masks = self.detector.level_masks(indexes) if self.detector is not None else None
        loss = ifnd_loss(z, indexes, cfg["train"]["temperature"], masks,
                         cfg["method"]["removal"], cfg["fnd"]["combine"])
        return loss, masks

    def _moco_forward_loss(self, x: torch.Tensor, indexes: torch.Tensor):
        """MoCo v2's loss (:class:`ifnd.moco.MocoStep`): (loss, queue masks, keys)."""
        cfg = self.cfg
        labels = self.detector.labels_on(indexes.device) if self.detector is not None else None
        return self.moco.forward_loss(self.net, x, indexes, labels, gather_views, self.execution.autocast,
                                      cfg["train"]["temperature"], cfg["method"]["removal"],
                                      cfg["fnd"]["combine"])

    def schedule(self, step: int) -> float:
        """Set the learning rate of global step ``step`` (warm-up, then cosine) and return it."""
        lr = learning_rate(step, self.total_steps, self.warmup_steps, self.base_lr)
        set_learning_rate(self.optimizer, lr)
        return lr

    def step(self, x: torch.Tensor, indexes: torch.Tensor):
        """One optimisation step on the views ``x`` of the images ``indexes`` (both views' rows,
        as :meth:`batches` yields them, the indices repeated): (loss, false-negative masks)."""
        if self.moco is not None:
            self.moco.update_key_model(self.model)
            loss, masks, keys = self.forward_loss(x, indexes)
        else:
            loss, masks = self.forward_loss(x, indexes)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.moco is not None:  # counted against the queue as it was for this step
            self.moco.after_step(masks, keys, indexes)
            masks = None
        return loss.detach(), masks

    def views(self, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Two augmented views of the images ``idx``, stacked: rows i and i+B pair up."""
        batch = self.images[idx]
        return self.execution.memory_format(torch.cat([self.augment(batch, gen), self.augment(batch, gen)]))

    def _rank_share(self, x: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's rows of the global batch's views ``x`` (2B) and images ``idx`` (B)."""
        bs, b, r = idx.shape[0], self.local_batch, self.group.rank
        mine = torch.cat([x[r * b:(r + 1) * b], x[bs + r * b:bs + (r + 1) * b]])
        return self.execution.memory_format(mine), idx[r * b:(r + 1) * b]

    def batches(self, epoch: int):
        """(views, image indices) for one epoch; the order depends only on (seed, epoch). Under
        DDP every rank draws the same global batch and its views and keeps its share, so the
        ranks together see exactly what one process sees."""
        seed = self.cfg["train"]["seed"] * 1_000_003 + epoch
        bs = self.cfg["train"]["batch_size"]
        if self.in_memory:
            cpu_gen = torch.Generator().manual_seed(seed)
            order = torch.randperm(len(self.train_set), generator=cpu_gen).to(self.device)
            gen = torch.Generator(device=self.device).manual_seed(seed)
            for s in range(self.steps_per_epoch):
                idx = order[s * bs:(s + 1) * bs]
                if self.group.world_size == 1:
                    yield self.views(idx, gen), idx
                else:
                    yield self._rank_share(self.views(idx, gen), idx)
        else:
            shard = {} if self.group.world_size == 1 else {"rank": self.group.rank,
                                                           "world_size": self.group.world_size}
            loader = self.train_set.pretrain_loader(bs, self.cfg["augment"], self.cfg["train"]["seed"],
                                                    epoch, num_workers=min(8, os.cpu_count() or 1), **shard)
            for v1, v2, idx in loader:
                x = torch.cat([v1, v2]).to(self.device, non_blocking=True)
                yield self.execution.memory_format(x), idx.to(self.device)

    # ---- embedding pass ----------------------------------------------------------------
    def clusters_momentum_encoder(self) -> bool:
        """MoCo clusters the momentum encoder's embeddings (PCL's choice) unless
        ``fnd.encoder: online``."""
        return self.framework == "moco" and (self.cfg["fnd"].get("encoder") or "momentum") == "momentum"

    def embed_train(self, model=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(backbone features, projections) of every training image by ``model`` (default:
        the online model), both L2-normalised, in dataset order. Under DDP each rank embeds a
        contiguous shard of whole embedding batches and the shards are gathered."""
        model = self.model if model is None else model
        ebs, world = self.cfg["fnd"]["embed_batch_size"], self.group.world_size
        kwargs = dict(batch_size=ebs, precision=self.execution.precision, channels_last=self.execution.channels_last)
        if world == 1:
            return embed_both(model, self.embed_set, self.size, self.device, **kwargs)
        n = len(self.embed_set)
        bounds = [embed_shard_bounds(n, ebs, r, world) for r in range(world)]
        lo, hi = bounds[self.group.rank]
        if hi > lo:
            shard = (ArrayDataset(self.images[lo:hi], self.train_set.labels[lo:hi],
                                  self.train_set.num_classes, self.train_set.name)
                     if self.in_memory else self.train_set.take(range(lo, hi)))
            feats, projs = embed_both(model, shard, self.size, self.device, **kwargs)
        else:  # fewer embedding batches than ranks
            feats = torch.zeros(0, self.model.backbone.feat_dim, device=self.device)
            projs = torch.zeros(0, self.cfg["model"]["proj_dim"], device=self.device)
        counts = [b - a for a, b in bounds]
        return gather_rows(feats, counts), gather_rows(projs, counts)

    @torch.no_grad()
    def knn_monitor(self, bank: torch.Tensor) -> float:
        queries = extract_features(self.model, self.monitor_set, self.size, self.device,
                                   batch_size=self.cfg["fnd"]["embed_batch_size"],
                                   precision=self.execution.precision,
                                   channels_last=self.execution.channels_last).to(self.device)
        ev = self.cfg["eval"]
        return knn_accuracy(bank, self.true_labels, queries, self.monitor_set.labels.to(self.device),
                            self.train_set.num_classes, ev["knn_k"], ev["knn_t"])["top1"]

    # ---- epochs ------------------------------------------------------------------------
    def cluster_model(self):
        return self.moco.key_model if self.clusters_momentum_encoder() else self.model

    def clustered_features(self, feats: torch.Tensor, projs: torch.Tensor) -> torch.Tensor:
        """The embeddings k-means clusters (``fnd.features``): backbone features or projections."""
        return feats if self.cfg["fnd"]["features"] == "backbone" else projs

    def cluster(self, epoch: int, embeddings: torch.Tensor | None = None) -> tuple[list[dict], float]:
        """Cluster ``embeddings`` (the previous epoch's pass, handed on by :meth:`train_epoch`;
        None: embed the training set now, as after a resume) and update the detector."""
        started = time.perf_counter()
        if embeddings is None:
            embeddings = self.clustered_features(*self.embed_train(self.cluster_model()))
        # k-means once, on rank 0; every rank then masks with the same pseudo-labels
        stats, state = self.group.on_main(self._update_detector, embeddings.cpu().numpy(), epoch)
        if not self.group.is_main:
            self.detector.load_state_dict(state)
        return stats, time.perf_counter() - started

    def _update_detector(self, emb, epoch: int):
        stats = self.detector.update(emb, epoch, true_labels=self.train_set.labels.numpy())
        return stats, (self.detector.state_dict() if self.group.world_size > 1 else None)

    def train_epoch(self, epoch: int, progress: bool) -> dict:
        """One epoch (clustering first where it is due): the train_log row and the fn_stats
        rows. The embedding pass that ends an epoch is kept (:attr:`next_embeddings`) for the
        next epoch's clustering, which takes it and lets it go; without one (a fresh start, a
        resume) the clustering embeds the training set itself."""
        tcfg = self.cfg["train"]
        embeddings, self.next_embeddings = self.next_embeddings, None
        level_stats, cluster_seconds = [], 0.0
        if self.detector is not None and self.detector.is_cluster_epoch(epoch):
            level_stats, cluster_seconds = self.cluster(epoch, embeddings)
        del embeddings  # freed before training, not held through the epoch
        rate = self.detector.rate_at(epoch) if self.detector is not None else 0.0
        if self.detector is not None and self.detector.pseudo_labels is None:
            rate = 0.0
        counter = FNCounter()
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        started = time.perf_counter()
        bar = tqdm(self.batches(epoch), total=self.steps_per_epoch, disable=not progress,
                   desc=f"epoch {epoch + 1}/{tcfg['epochs']}", leave=False, file=sys.stderr)
        for s, (x, idx) in enumerate(bar):
            lr = self.schedule(epoch * self.steps_per_epoch + s)
            idx = gather_indices(idx)  # the images of the global batch under DDP
            indexes = torch.cat([idx, idx])
            loss, masks = self.step(x, indexes)
            loss_sum += loss
            if self.moco is not None:  # the anchors against the queue entries they met
                counter.update(None if self.moco.masks is None else combine_levels(self.moco.masks, "union"),
                               indexes, self.true_labels, key_indexes=self.moco.queue_before)
            else:
                counter.update(None if masks is None else combine_levels(masks, "union"), indexes, self.true_labels)
        train_seconds = time.perf_counter() - started
        loss = (loss_sum / max(1, self.steps_per_epoch)).item()
        if not math.isfinite(loss):
            raise RuntimeError(f"training diverged at epoch {epoch + 1}: loss {loss}")

        # One embedding pass serves the kNN monitor and the next epoch's clustering.
        started = time.perf_counter()
        knn_top1 = math.nan
        last = epoch + 1 == tcfg["epochs"]
        monitor = last or (tcfg["knn_every"] > 0 and (epoch + 1) % tcfg["knn_every"] == 0)
        next_clusters = (not last and self.detector is not None
                         and self.detector.is_cluster_epoch(epoch + 1))
        momentum = next_clusters and self.clusters_momentum_encoder()
        if monitor or (next_clusters and not momentum):
            feats, projs = self.embed_train()
            if next_clusters and not momentum:
                self.next_embeddings = self.clustered_features(feats, projs)
            if monitor and self.group.is_main:
                knn_top1 = self.knn_monitor(feats)
        if momentum:  # MoCo clusters the momentum encoder's embeddings
            self.next_embeddings = self.clustered_features(*self.embed_train(self.moco.key_model))
        monitor_seconds = time.perf_counter() - started

        row = {"epoch": epoch + 1, "loss": loss, "lr": lr, "knn_top1": knn_top1,
               "epoch_seconds": round(train_seconds, 3), "cluster_seconds": round(cluster_seconds, 3),
               "monitor_seconds": round(monitor_seconds, 3),
               "images_per_second": round(self.steps_per_epoch * tcfg["batch_size"] / train_seconds, 1),
               "acceptance_rate": rate}
        return {"train": row, "fn": counter.rows(epoch + 1, level_stats, rate)}

    # ---- state -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"format": "ifnd-state-1", "config": self.cfg, "epoch": self.epoch,
                "world_size": self.group.world_size,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "detector": None if self.detector is None else self.detector.state_dict(),
                "train_rows": self.train_rows, "fn_rows": self.fn_rows,
                "torch_rng": torch.get_rng_state(), "code_versions": self.code_versions,
                **(self.moco.state_dict() if self.moco is not None else {})}

    def load_state_dict(self, state: dict, path: Path) -> None:
        made_by = int(state.get("world_size", 1))
        if made_by != self.group.world_size:
            raise UserError(f"state {path} was made by {made_by} process(es), this run has "
                            f"{self.group.world_size}; resume with the same number of processes "
                            f"(torchrun --nproc-per-node, --nnodes) or use another --state-dir")
        diffs = config_differences(state.get("config", {}), self.cfg)
        if diffs:
            shown = "; ".join(diffs[:3]) + ("; ..." if len(diffs) > 3 else "")
            raise UserError(f"state {path} was made with another config ({shown}); "
                            f"use another --state-dir or remove it to start afresh")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise UserError(f"state {path} does not fit this model: {str(exc).splitlines()[0]}") from None
        if self.detector is not None:
            self.detector.load_state_dict(state["detector"])
        if self.moco is not None:
            self.moco.load_state_dict(state)
        self.epoch = int(state["epoch"])
        self.train_rows = list(state["train_rows"])
        self.fn_rows = list(state["fn_rows"])
        torch.set_rng_state(state["torch_rng"])
        # states written before code_versions existed lack it
        earlier = [str(v) for v in state.get("code_versions", [])]
        self.code_versions = earlier + [v for v in self.code_versions if v not in earlier]
