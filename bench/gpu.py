#!/usr/bin/env python
"""GPU benchmark, prepared for one CUDA card (under 3 minutes on one H100):
ResNet-18 with CIFAR stem at batch 512 on 32x32 RGB images, our training step vs the peer's
(lightly: SimCLRTransform on the CPU in DataLoader workers with pin_memory, as its users run
it) on the same GPU, optionally our step under torch.compile (--compile), and the MFU of each
against the bf16 matmul peak (8192^3 torch.mm) measured in the same run. Records the card's
name. On CUDA it also counts the host-device synchronisations in our step loop
(torch.cuda.set_sync_debug_mode), with the source lines that cause them.

Device-agnostic: `--device cpu --quick` smoke-tests it on a CPU (tiny model).

    python bench/gpu.py                   # on a CUDA machine
    python bench/gpu.py --compile         # + torch.compile for ours
    python bench/gpu.py --device cpu --quick --out /tmp/r.json

images/s = training images per second; each image is a pair of two augmented views.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto | cuda | cpu")
    p.add_argument("--model", default="resnet18-b512", help=f"one of {sorted(B.MODELS)}")
    p.add_argument("--compile", action="store_true", help="also time ours with train.compile=true")
    p.add_argument("--impl", choices=["both", "ours"], default="both", help="ours only: skip the peer")
    p.add_argument("--steps", type=int, default=50, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per run")
    p.add_argument("--prewarm", type=int, default=3, help="untimed steps per implementation before the first run "
                   "(cuDNN autotuning, torch.compile)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="peer DataLoader workers")
    p.add_argument("--peak-n", type=int, default=None, help="matmul side (default 8192 on CUDA, 2048 on CPU)")
    p.add_argument("--peak-repeats", type=int, default=10)
    p.add_argument("--sync-steps", type=int, default=5, help="steps under CUDA sync debug mode (0: skip)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override")
    p.add_argument("--quick", action="store_true", help="smoke check: tiny model, 2 steps, 1 repeat")
    p.add_argument("--note", default=None)
    p.add_argument("--out", type=Path, default=B.DEFAULT_OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.model, args.steps, args.warmup, args.prewarm, args.repeats = "tiny", 2, 1, 1, 1
        args.workers = min(args.workers, 2)
        args.peak_n, args.peak_repeats, args.sync_steps = args.peak_n or 512, 3, min(args.sync_steps, 2)
    return args


def count_syncs(runner, steps: int) -> dict:
    """Synchronising CUDA calls in our step loop, by source line (CUDA only)."""
    if runner.device.type != "cuda" or steps <= 0:
        return {}
    runner.step()
    runner.flush()
    torch.cuda.synchronize()
    where = collections.Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                runner.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    for w in caught:
        if "synchroniz" in str(w.message).lower():
            where[f"{os.path.relpath(w.filename, B.REPO)}:{w.lineno}"] += 1
    runner.flush()
    return {"steps": steps, "syncs_per_step": sum(where.values()) / steps,
            "by_line": dict(where.most_common())}


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = B.resolve_device(args.device)
    threads = B.setup_backend(device)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"none (CPU: {B.cpu_model()})"
    impls = ["ours"] + (["peer"] if args.impl == "both" else []) + (["ours-compiled"] if args.compile else [])
    if "peer" in impls:
        try:
            import lightly  # noqa: F401
        except ImportError:
            raise SystemExit("the peer needs lightly: pip install -e '.[bench]', or pass --impl ours") from None
    settings = {"model": args.model, "impls": impls, "steps": args.steps, "warmup": args.warmup,
                "prewarm": args.prewarm, "repeats": args.repeats, "workers": args.workers,
                "quick": args.quick, "sets": args.set, "device": str(device), "threads": threads}
    entry = B.new_entry("gpu", __file__, argv, device, settings, args.note)
    t_start = time.perf_counter()
    print(f"GPU benchmark on {device}: {card}")

    peaks = [B.matmul_peak(device, args.peak_n, args.peak_repeats)]
    print(f"bf16 matmul peak (before): {peaks[0]['flops_per_second'] / 1e12:.1f} TFLOP/s")

    cfg = B.load_bench_config(args.model, sets=args.set)
    print(f"model: {B.MODELS[args.model]['label']}")
    runners = [B.OursRunner(cfg, device)]
    if "peer" in impls:
        runners.append(B.PeerRunner(cfg, device, args.workers))
    if args.compile:
        ccfg = B.load_bench_config(args.model, extra={"train.compile": True}, sets=args.set)
        runners.append(B.OursRunner(ccfg, device, name="ours-compiled"))
    flops = B.model_flops_per_image(runners[0].model, cfg, runners[0].trainer.train_set.channels, device)
    print(f"FLOPs per image (both views, forward + backward): {flops['flops_per_image'] / 1e9:.3f} GFLOP")

    t0 = time.perf_counter()
    ips = B.ab_measure(runners, args.steps, args.warmup, args.repeats, device, prewarm=args.prewarm)
    print(f"timed runs (incl. warm-up and compilation): {time.perf_counter() - t0:.1f} s")
    breakdown = {r.name: r.breakdown(1 if args.quick else 3) for r in runners if r.name != "ours-compiled"}
    syncs = count_syncs(runners[0], args.sync_steps)
    for r in runners:
        r.close()

    peaks.append(B.matmul_peak(device, args.peak_n, args.peak_repeats))
    peak = max(peaks, key=lambda r: r["flops_per_second"])
    res = {"card": card, "model": args.model, "label": B.MODELS[args.model]["label"],
           "batch_size": cfg["train"]["batch_size"], "precision": cfg["train"]["precision"],
           **flops, "peak": peak, "peak_flops_per_second": peak["flops_per_second"], "impls": {},
           "breakdown": breakdown, "sync_debug": syncs}
    for name, runs in ips.items():
        med = statistics.median(runs)
        res["impls"][name] = {"images_per_second": runs, "median": med,
                              "mfu_percent": 100 * flops["flops_per_image"] * med / peak["flops_per_second"]}
    ratios = {}
    if "peer" in ips:
        ratios["ours/peer"] = B.summarise_ab(ips, "ours", "peer")["median_ratio"]
    if "ours-compiled" in ips:
        ratios["ours-compiled/ours"] = B.summarise_ab(ips, "ours-compiled", "ours")["median_ratio"]
        if "peer" in ips:
            ratios["ours-compiled/peer"] = B.summarise_ab(ips, "ours-compiled", "peer")["median_ratio"]
        try:
            import torch._dynamo.utils as dynamo_utils
            res["dynamo_counters"] = {k: dict(v) for k, v in dynamo_utils.counters.items()
                                      if v and k in ("stats", "frames", "graph_break", "recompiles")}
        except Exception:  # diagnostics only
            pass
    res["ratios"] = ratios
    res["total_seconds"] = time.perf_counter() - t_start
    entry["results"] = res

    print(f"\ncard: {card}; bf16 peak {peak['flops_per_second'] / 1e12:.1f} TFLOP/s")
    for name, v in res["impls"].items():
        print(f"  {name:>14}: median {v['median']:9.1f} images/s (runs {v['images_per_second']}); "
              f"MFU {v['mfu_percent']:.1f}%")
    if ratios:
        print("  median ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    print(f"  breakdown (median ms per step, synced): {breakdown}")
    if syncs:
        print(f"  host-device syncs in our loop: {syncs['syncs_per_step']:.1f} per step: {syncs['by_line']}")
    print(f"  total {res['total_seconds']:.0f} s")
    md = B.append_entry(args.out, entry)
    print(f"\nwrote {args.out} and {md}")
    return entry


if __name__ == "__main__":
    main()
