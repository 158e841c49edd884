#!/usr/bin/env python
"""The MoCo v2 training step: ours (ifnd.moco in the trainer) vs lightly's MoCo v2 (its memory
bank), same model, batch, queue and inputs, side by side on this machine's CPU.

A step = the momentum update, the online encoder on both views (queries, with gradients), the
momentum encoder on both views (keys, shuffled BatchNorm), the symmetric InfoNCE loss of each
view's queries against the other view's keys and the queue, backward, the SGD step and the
queue update (both views' keys enter the queue: 2B keys a step on either side). The views are
made once before timing (the trainer's own batched augmentation of generated images): the step
is what is timed, not the augmentation.

* ours: :class:`ifnd.train.Pretrainer` with ``train.framework: moco`` and method simclr (plain
  MoCo v2, no false-negative removal), driven exactly as its epoch loop drives it
  (``schedule`` then ``step``): :class:`ifnd.moco.MocoStep`'s momentum update, split-BN forward
  with shuffled keys (``bn_splits`` groups), ``moco_loss`` over the :class:`ifnd.moco.KeyQueue`
  (keys and their images' dataset indexes) and the push after the optimiser step; at this
  machine's ``train.precision``/``channels_last: auto`` (bf16 autocast and channels_last where
  bf16 is native), and again in fp32.
* lightly: the same backbone (``ifnd.models.build_backbone``), a head built with lightly's
  ``ProjectionHead`` from the blocks of ours (Linear without bias, BatchNorm1d, ReLU, Linear:
  the MoCo v2 MLP head as our trainer builds it; ``--lightly-head moco`` takes lightly's
  ``MoCoProjectionHead`` instead, which has no BatchNorm), momentum copies made with
  ``deactivate_requires_grad``, ``update_momentum`` on backbone and head, keys computed on
  ``batch_shuffle``d views and ``batch_unshuffle``d, ``NTXentLoss(memory_bank_size=(K, d))``
  called once per view (each call reads the bank and enqueues the keys it was given), plain
  ``torch.optim.SGD`` with the same learning rate, momentum and weight decay; fp32 and
  contiguous tensors, as lightly's users run it.

Runs alternate (ours, ours fp32, ours fp32 contiguous, lightly, ours, ...); every step is timed
on its own after untimed warm-up steps; the figure is the median step time over all timed steps
of all runs. The queue's memory is measured on the tensors each side keeps.

    python bench/moco_lightly.py                       # batch 256, queues 4096 and 16384
    python bench/moco_lightly.py --inputs fashion-mnist,testbed
    python bench/moco_lightly.py --quick --out /tmp/moco.md   # smoke check, numbers mean nothing

images/s = training images per second; each image is a pair of two augmented views.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402

DEFAULT_OUT = B.BENCH_DIR / "moco_lightly.md"
MOMENTUM = 0.99      # config/moco.yaml
BN_SPLITS = 4        # config/moco.yaml
LR = 0.06            # config/moco.yaml: MoCo's 0.06 per 256 images

# input shapes: the default experiment's Fashion-MNIST (28x28 grey) and the testbed's 32x32 RGB
INPUTS = {
    "fashion-mnist": {"image_size": 28, "channels": 1,
                      "label": "Fashion-MNIST shape (28x28 grey), config/moco.yaml's data"},
    "testbed": {"image_size": 32, "channels": 3,
                "label": "testbed shape (32x32 RGB), the regime exploration's MoCo runs"},
}
FULL_RUN = {"batch": 256, "queues": "4096,16384", "steps": 10, "warmup": 3, "repeats": 3, "n_batches": 4}
QUICK_RUN = {"batch": 32, "queues": "96,192", "steps": 2, "warmup": 1, "repeats": 1, "n_batches": 2}
QUICK_MODEL = {"model.width": 4, "model.proj_hidden": 32, "model.proj_dim": 16}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=None, help="images per step (default 256)")
    p.add_argument("--queues", default=None, help="queue sizes K, comma-separated (default 4096,16384)")
    p.add_argument("--inputs", default="fashion-mnist", help=f"comma-separated, from {sorted(INPUTS)}")
    p.add_argument("--sides", default="ours,ours-fp32,ours-fp32-contiguous,lightly",
                   help="which rows to time (default all four); without lightly installed use "
                   "ours,ours-fp32,ours-fp32-contiguous")
    p.add_argument("--lightly-head", choices=["same", "moco"], default="same",
                   help="same: lightly's ProjectionHead with the blocks of ours (the same model); "
                   "moco: lightly's MoCoProjectionHead (no BatchNorm)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run (default 10)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps per run (default 3)")
    p.add_argument("--repeats", type=int, default=None, help="runs per side, alternating (default 3)")
    p.add_argument("--n-batches", type=int, default=None, help="pre-made batches cycled through (default 4)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--device", default="cpu", help="cpu (the comparison's subject) | cuda")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: a width-4 model and, unless given, batch 32, queues 96 and 192, 2 steps")
    p.add_argument("--note", default=None, help="free text written into the .md")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"markdown file (default {DEFAULT_OUT.name})")
    args = p.parse_args(argv)
    defaults = QUICK_RUN if args.quick else FULL_RUN
    for key, value in defaults.items():  # what is not given: the full run's or --quick's value
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.queues = [int(q) for q in args.queues.split(",") if q.strip()]
    args.inputs = [s.strip() for s in args.inputs.split(",") if s.strip()]
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    bad = [s for s in args.inputs if s not in INPUTS] + [s for s in args.sides if s not in SIDES]
    if bad:
        raise SystemExit(f"unknown input(s)/side(s) {bad}; inputs {sorted(INPUTS)}, sides {list(SIDES)}")
    return args


# --------------------------------------------------------------------------- config and data
def moco_config(batch: int, queue: int, input_name: str, precision: str = "auto",
                channels_last="auto", quick: bool = False, seed: int = 0) -> dict:
    """The validated config of a MoCo v2 run (config/moco.yaml's settings) on generated images
    of ``input_name``'s size, with a training set of exactly ``2 * batch`` images."""
    from ifnd.config import load_config

    inp = INPUTS[input_name]
    overrides = {
        "method.name": "simclr", "train.progress": False, "train.seed": seed,
        "train.framework": "moco",
        "train.moco": {"queue_size": queue, "momentum": MOMENTUM, "bn_splits": BN_SPLITS},
        "train.lr": LR, "train.batch_size": batch, "train.precision": precision,
        "train.channels_last": channels_last, "train.compile": False,
        "data.name": "synthetic", "data.image_size": inp["image_size"],
        "data.train_subset": 2 * batch, "data.val_subset": 16, "data.test_subset": 16,
        "train.knn_monitor_images": 16,
    }
    if quick:
        overrides.update(QUICK_MODEL)
    return load_config(B.BASE_CONFIG, overrides)


@contextlib.contextmanager
def grey_data(channels: int):
    """The trainer's dataset as 1-channel images where the input is grey (the generated set is
    RGB): its first channel, so that the model has Fashion-MNIST's one input channel."""
    if channels == 3:
        yield
        return
    import ifnd.train as T
    from ifnd.data import ArrayDataset

    original = T.load_dataset

    def grey(data_cfg, split):
        ds = original(data_cfg, split)
        return ArrayDataset(ds.images[:, :1].contiguous(), ds.labels, ds.num_classes, ds.name)

    T.load_dataset = grey
    try:
        yield
    finally:
        T.load_dataset = original


def make_inputs(trainer, n_batches: int, seed: int = 1234) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n_batches`` (views (2B, C, H, W) float32 contiguous, image ids (2B,)) made by the
    trainer's own augmentation of its in-memory images; rows i and i+B are one image's views."""
    b, n = trainer.cfg["train"]["batch_size"], len(trainer.train_set)
    gen = torch.Generator(device=trainer.device).manual_seed(seed)
    out = []
    for j in range(n_batches):
        idx = (torch.arange(b) + j * b) % n
        batch = trainer.images[idx.to(trainer.device)]
        x = torch.cat([trainer.augment(batch, gen), trainer.augment(batch, gen)]).contiguous()
        out.append((x, torch.cat([idx, idx]).to(trainer.device)))
    return out


# --------------------------------------------------------------------------- ours
def queue_bytes_ours(moco) -> int:
    """Bytes of the queue's keys and their images' indexes (ifnd.moco.KeyQueue)."""
    q = moco.queue
    return q.keys.numel() * q.keys.element_size() + q.indexes.numel() * q.indexes.element_size()


class OursMoco:
    """Our MoCo v2 step as the trainer runs it: ``Pretrainer.schedule`` then ``Pretrainer.step``."""

    def __init__(self, name: str, cfg: dict, channels: int, device: torch.device):
        from ifnd.train import Pretrainer

        self.name, self.cfg = name, cfg
        with grey_data(channels):
            self.trainer = Pretrainer(cfg, device)
        ex = self.trainer.execution
        self.precision, self.channels_last = ex.precision, ex.channels_last
        self.batch_size = cfg["train"]["batch_size"]
        self.global_step = 0

    def prepare(self, batches):
        """The inputs in this side's memory format (channels_last where the trainer uses it)."""
        self.batches = [(self.trainer.execution.memory_format(x), i) for x, i in batches]

    def step(self, j: int) -> torch.Tensor:
        x, indexes = self.batches[j % len(self.batches)]
        self.trainer.schedule(self.global_step % max(1, self.trainer.total_steps))
        self.global_step += 1
        loss, _ = self.trainer.step(x, indexes)
        return loss

    def queue_bytes(self) -> int:
        return queue_bytes_ours(self.trainer.moco)

    def queue_extra(self) -> str:
        k = self.trainer.moco.queue_before
        return (f"+ {k.numel() * k.element_size():,} B: the indexes of the queue before the step, "
                "kept for the false-negative statistics")


# --------------------------------------------------------------------------- lightly
class LightlyMoco:
    """MoCo v2 from lightly's parts (its API docs): momentum copies, update_momentum,
    batch_shuffle / batch_unshuffle, NTXentLoss with a memory bank; symmetric, as ours."""

    def __init__(self, name: str, cfg: dict, channels: int, device: torch.device, head: str = "same"):
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.models.modules.heads import ProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        from ifnd.models import build_backbone
        from ifnd.optim import scaled_lr

        self.name, self.cfg, self.device = name, cfg, device
        self.precision, self.channels_last = "fp32", False
        m, t = cfg["model"], cfg["train"]
        torch.manual_seed(t["seed"])
        self.backbone = build_backbone(m, channels).to(device)
        feat, hidden, dim = self.backbone.feat_dim, m["proj_hidden"], m["proj_dim"]
        if head == "same":
            self.head = ProjectionHead([(feat, hidden, nn.BatchNorm1d(hidden), nn.ReLU()),
                                        (hidden, dim, None, None)]).to(device)
        else:
            self.head = MoCoProjectionHead(feat, hidden, dim).to(device)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.head_momentum = copy.deepcopy(self.head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.head_momentum)
        self.criterion = NTXentLoss(temperature=t["temperature"],
                                    memory_bank_size=(t["moco"]["queue_size"], dim)).to(device)
        params = list(self.backbone.parameters()) + list(self.head.parameters())
        self.optimizer = torch.optim.SGD(params, lr=scaled_lr(t), momentum=t["momentum"],
                                         weight_decay=t["weight_decay"])
        self.momentum = float(t["moco"]["momentum"])
        self.batch_size = t["batch_size"]

    def prepare(self, batches):
        self.batches = [(x.contiguous(), i) for x, i in batches]

    def _query(self, x):
        return self.head(self.backbone(x).flatten(start_dim=1))

    @torch.no_grad()
    def _key(self, x):
        from lightly.models.utils import batch_shuffle, batch_unshuffle

        x, shuffle = batch_shuffle(x)
        k = self.head_momentum(self.backbone_momentum(x).flatten(start_dim=1))
        return batch_unshuffle(k, shuffle).detach()

    def step(self, j: int) -> torch.Tensor:
        from lightly.models.utils import update_momentum

        x, _ = self.batches[j % len(self.batches)]
        b = self.batch_size
        x0, x1 = x[:b], x[b:]
        update_momentum(self.backbone, self.backbone_momentum, m=self.momentum)
        update_momentum(self.head, self.head_momentum, m=self.momentum)
        q0, q1 = self._query(x0), self._query(x1)
        k0, k1 = self._key(x0), self._key(x1)
        loss = 0.5 * (self.criterion(q0, k1) + self.criterion(q1, k0))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def queue_bytes(self) -> int:
        bank = self.criterion.memory_bank
        return sum(t.numel() * t.element_size() for t in (bank.bank, bank.bank_ptr))

    def queue_extra(self) -> str:
        bank = self.criterion.memory_bank.bank
        return (f"+ {bank.numel() * bank.element_size():,} B transient: each loss call reads a "
                "clone of the bank; no image indexes are kept")


SIDES = {
    # name: (implementation, train.precision, train.channels_last, what it is)
    "ours": ("ours", "auto", "auto", "ours at this machine's defaults (precision and channels_last auto)"),
    "ours-fp32": ("ours", "fp32", "auto", "ours in fp32 (channels_last auto)"),
    "ours-fp32-contiguous": ("ours", "fp32", False, "ours in fp32 and contiguous: lightly's settings"),
    "lightly": ("lightly", "fp32", False, "lightly's MoCo v2, fp32 and contiguous, as its users run it"),
}


def build_sides(args, queue: int, input_name: str, device) -> list:
    channels = INPUTS[input_name]["channels"]
    sides = []
    for name in args.sides:
        impl, precision, cl, _ = SIDES[name]
        cfg = moco_config(args.batch, queue, input_name, precision, cl, args.quick)
        if impl == "ours":
            sides.append(OursMoco(name, cfg, channels, device))
        else:
            sides.append(LightlyMoco(name, cfg, channels, device, args.lightly_head))
    return sides


# --------------------------------------------------------------------------- timing
def step_gflop(side) -> float:
    """FLOPs of one step (forwards, loss, backward) counted by torch's FlopCounterMode: the two
    sides do the same work."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        side.step(0)
    return round(fc.get_total_flops() / 1e9, 3)


def measure(sides: list, steps: int, warmup: int, repeats: int, device, log=print) -> dict:
    """Alternating runs; each run: ``warmup`` untimed steps, then ``steps`` steps timed one by
    one. Returns {side: [seconds per timed step]}."""
    times = {s.name: [] for s in sides}
    counter = {s.name: 0 for s in sides}
    for rep in range(repeats):
        for s in sides:
            for _ in range(warmup):
                s.step(counter[s.name])
                counter[s.name] += 1
            B.sync(device)
            run, losses = [], []
            for _ in range(steps):
                t0 = time.perf_counter()
                loss = s.step(counter[s.name])
                B.sync(device)
                run.append(time.perf_counter() - t0)
                losses.append(float(loss))
                counter[s.name] += 1
            if not all(math.isfinite(v) for v in losses):
                raise RuntimeError(f"{s.name}: non-finite loss {losses}")
            times[s.name] += run
            log(f"  run {rep + 1}/{repeats} {s.name:>21}: median {1e3 * statistics.median(run):8.1f} ms/step "
                f"({s.batch_size / statistics.median(run):7.1f} images/s, mean loss {statistics.mean(losses):.3f})")
    return times


# --------------------------------------------------------------------------- report
TARGET = 1.5  # issue 28: ours at least 1.5x lightly's MoCo v2


def target_line(res: dict) -> str | None:
    """Ours at its defaults against lightly as its users run it, and the fp32 ratios beside."""
    sides = res["sides"]
    if "lightly" not in sides or "ours" not in sides:
        return None
    base = sides["lightly"]["images_per_s"]
    ratio = sides["ours"]["images_per_s"] / base
    fair = ", ".join(f"{n} {sides[n]['images_per_s'] / base:.2f}x" for n in ("ours-fp32", "ours-fp32-contiguous")
                     if n in sides)
    return (f"**ours at its defaults: {ratio:.2f}x lightly** (target {TARGET}x: "
            f"{'met' if ratio >= TARGET else 'NOT met'})" + (f"; in fp32: {fair}" if fair else ""))


def render(entry: dict) -> str:
    m, st = entry["machine"], entry["settings"]
    lines = ["# MoCo v2 step: ours vs lightly (memory bank)", "",
             "Generated by `bench/moco_lightly.py` (do not edit by hand).", ""]
    if st["quick"]:
        lines += ["**`--quick` smoke run: a tiny model, a couple of steps; the numbers mean nothing.**", ""]
    busy = (f" (BUSY: other processes kept {m.get('other_cores_busy_at_start')} cores busy at the start; "
            "timings unreliable)") if m.get("busy") else ""
    lines += [
        f"*{entry['date']}*" + (f"; note: {entry['note']}" if entry.get("note") else ""), "",
        f"    {entry['command']}", "",
        f"- CPU: {m['cpu_model']}, {m['cpu_cores']} cores; torch CPU capability {m['cpu_capability']}"
        f"{', oneDNN capped at ' + m['onednn_max_cpu_isa'] if m.get('onednn_max_cpu_isa') else ''}; "
        f"native bf16: {'yes' if m['cpu_native_bf16'] else 'no'}; torch threads {m['torch_threads']}",
        f"- torch {m['torch']}, torchvision {m['torchvision']}, lightly {m['lightly'] or 'not installed'}; "
        f"device {m['device']}",
        f"- load average at start/end {m['loadavg_at_start'][0]}/{m.get('loadavg_at_end', ['?'])[0]}{busy}",
        f"- batch {st['batch']} images (2 x {st['batch']} views) a step; {st['steps']} timed steps x "
        f"{st['repeats']} alternating runs per side after {st['warmup']} warm-up steps each; "
        f"momentum {MOMENTUM}, our bn_splits {BN_SPLITS}, SGD lr {LR} per 256 images; "
        f"lightly head: {st['lightly_head']}", "",
        "Step time: the median over every timed step of every run. images/s = training images per "
        "second (each image is two augmented views). Queue memory: bytes of the keys (float32) and "
        "of what is kept beside them (ours: each key's image index, int64; lightly: a write "
        "pointer).", ""]
    for res in entry["results"].values():
        inp, queue = res["input"], res["queue"]
        lines += [f"## {INPUTS[inp]['label']}, queue {queue:,}", "",
                  "| side | precision | channels_last | GFLOP/step | median ms/step | images/s | vs lightly "
                  "| queue memory (keys + indexes) |",
                  "|---|---|---|---|---|---|---|---|"]
        base = res["sides"].get("lightly", {}).get("images_per_s")
        for name, r in res["sides"].items():
            ratio = f"{r['images_per_s'] / base:.2f}x" if base else "n/a"
            lines.append(f"| {name} | {r['precision']} | {r['channels_last']} | {r['gflop_per_step']:.2f} | "
                         f"{r['median_ms']:.1f} | "
                         f"{r['images_per_s']:.1f} | {ratio} | {r['queue_bytes']:,} B |")
        lines.append("")
        verdict = target_line(res)
        if verdict:
            lines += [verdict, ""]
        for name, r in res["sides"].items():
            lines.append(f"- {name}: {SIDES[name][3]}; queue {r['queue_extra']}")
        lines.append("")
    lines += ["## How each side is built", "",
              "- **ours**: `ifnd.train.Pretrainer` (train.framework moco, method simclr: plain MoCo v2), "
              "driven as its epoch loop drives it (`schedule`, then `step`): the momentum update of "
              "`ifnd.moco.MocoStep`, the online encoder on both views in `bn_splits` groups, the keys "
              "on a shuffled batch in the same groups (shuffling BN), `moco_loss` (symmetric) over the "
              "`KeyQueue`, backward, SGD (weight decay on weights only), then both views' keys and "
              "their image indexes pushed.",
              "- **lightly**: the same backbone; the head from lightly's `ProjectionHead` with our "
              "head's blocks (or `MoCoProjectionHead` with `--lightly-head moco`); momentum copies "
              "(`deactivate_requires_grad`), `update_momentum` on backbone and head, keys on "
              "`batch_shuffle`d views, `batch_unshuffle`d; `NTXentLoss(memory_bank_size=(K, d))` "
              "once per view (symmetric; each call enqueues its B keys); `torch.optim.SGD`.",
              "- Both sides start from the same weights (the same seed builds the same backbone, "
              "and lightly's head with our blocks, the default `--lightly-head same`, draws the same "
              "initial head), and do the same "
              "FLOPs a step (the GFLOP/step column, torch's FlopCounterMode over one step).",
              "- Inputs: views made once by the trainer's augmentation of generated images, cycled; "
              "the step is timed, not the augmentation (the SimCLR comparison, "
              "`bench/step_throughput.py`, times lightly's data pipeline).", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = B.resolve_device(args.device)
    threads = B.setup_backend(device, args.threads)
    if any(SIDES[s][0] == "lightly" for s in args.sides):
        try:
            import lightly  # noqa: F401
        except ImportError:
            raise SystemExit("the lightly side needs lightly: pip install --no-deps -r "
                             "bench/requirements.txt, or pass --sides ours,ours-fp32") from None
    machine = B.machine_info(device)
    B.warn_if_busy(machine)
    entry = {"benchmark": "moco_lightly", "date": B.now_utc(), "command": B.command_line(__file__, argv),
             "note": args.note, "machine": machine,
             "settings": {"batch": args.batch, "queues": args.queues, "inputs": args.inputs,
                          "sides": args.sides, "steps": args.steps, "warmup": args.warmup,
                          "repeats": args.repeats, "threads": threads, "quick": args.quick,
                          "lightly_head": args.lightly_head},
             "results": {}}
    print(f"MoCo v2 step on {device} ({machine['cpu_model']}, {machine['cpu_capability']}, native bf16 "
          f"{'yes' if machine['cpu_native_bf16'] else 'no'}, {threads} torch threads); {B.UNITS}")
    for input_name in args.inputs:
        for queue in args.queues:
            sides = build_sides(args, queue, input_name, device)
            ours = next((s for s in sides if isinstance(s, OursMoco)), None)
            maker = ours.trainer if ours is not None else OursMoco(
                "inputs", moco_config(args.batch, queue, input_name, "fp32", False, args.quick),
                INPUTS[input_name]["channels"], device).trainer
            batches = make_inputs(maker, args.n_batches)
            for s in sides:
                s.prepare(batches)
                s.gflop = step_gflop(s)  # one untimed step (also the first warm-up)
            print(f"\n== {INPUTS[input_name]['label']}, batch {args.batch}, queue {queue}: "
                  f"{args.steps} timed + {args.warmup} warm-up steps per run, {args.repeats} runs each")
            times = measure(sides, args.steps, args.warmup, args.repeats, device)
            res = {"input": input_name, "queue": queue, "sides": {}}
            for s in sides:
                med = statistics.median(times[s.name])
                res["sides"][s.name] = {"precision": s.precision, "channels_last": s.channels_last,
                                        "median_ms": round(1e3 * med, 2),
                                        "images_per_s": round(s.batch_size / med, 2),
                                        "step_ms": [round(1e3 * t, 2) for t in times[s.name]],
                                        "gflop_per_step": s.gflop,
                                        "queue_bytes": s.queue_bytes(), "queue_extra": s.queue_extra()}
            entry["results"][f"{input_name}/{queue}"] = res
            base = res["sides"].get("lightly", {}).get("images_per_s")
            for name, r in res["sides"].items():
                ratio = f"{r['images_per_s'] / base:5.2f}x lightly" if base else ""
                print(f"  {name:>21} ({r['precision']}, channels_last={r['channels_last']}): "
                      f"{r['median_ms']:8.1f} ms/step {r['images_per_s']:8.1f} images/s {ratio}  "
                      f"queue {r['queue_bytes']:,} B")
            if target_line(res):
                print("  " + target_line(res).replace("**", ""))
    entry["machine"]["loadavg_at_end"] = [round(v, 2) for v in __import__("os").getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(entry))
    print(f"\nwrote {args.out}")
    return entry


if __name__ == "__main__":
    main()
