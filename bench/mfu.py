#!/usr/bin/env python
"""Model FLOPs utilisation (MFU) of our training step.

    MFU = FLOPs per image x measured images/s / peak FLOP/s

* FLOPs per image: `torch.utils.flop_counter.FlopCounterMode` over one forward + backward of
  the model on both views (plus the contrastive loss's similarity matmul at the configured
  batch size), i.e. matmuls and convolutions; BatchNorm, activations and the optimiser are not
  counted (the usual MFU convention).
* images/s: our full training step (augmentation, forward, loss, backward, SGD step) as
  `ifnd pretrain` runs it; warm-up steps excluded; median of --repeats runs.
* peak: the best of repeated large `torch.mm` (2048^3 on CPU, 8192^3 on CUDA) in the precision
  the step runs in (`train.precision`, `auto` resolved on this machine: bf16 where it is
  native, else fp32), measured in the same run before and after the throughput runs. The
  fp32 peak is always recorded as context; the bf16 peak only where bf16 is native (on a CPU
  without native bf16 units, or capped below them with ONEDNN_MAX_CPU_ISA, bf16 is emulated:
  one 2048^3 product takes minutes, and the step runs in fp32 there anyway).

    python bench/mfu.py                          # default CPU model and ResNet-18
    python bench/mfu.py --models default --repeats 5
    python bench/mfu.py --quick --out /tmp/r.json   # smoke check
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="default,resnet18", help=f"comma-separated, from {sorted(B.MODELS)}")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run (default: per model)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps per run")
    p.add_argument("--repeats", type=int, default=None, help="runs (default: per model)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--peak-n", type=int, default=None, help="matmul side (default 2048 CPU, 8192 CUDA)")
    p.add_argument("--peak-repeats", type=int, default=10)
    p.add_argument("--count-batch", type=int, default=16, help="images for the FLOP count of the model part")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override")
    p.add_argument("--quick", action="store_true", help="smoke check: tiny model, small matmul")
    p.add_argument("--note", default=None)
    p.add_argument("--out", type=Path, default=B.DEFAULT_OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.models = "tiny"
        args.peak_n, args.peak_repeats, args.count_batch = args.peak_n or 512, 3, 4
    return args


def best_peak(device, n, repeats, dtype=torch.bfloat16):
    r = B.matmul_peak(device, n, repeats, dtype)
    print(f"  {r['dtype']} matmul {r['n']}^3: best {r['flops_per_second'] / 1e12:.3f} TFLOP/s")
    return r


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = B.resolve_device(args.device)
    threads = B.setup_backend(device, args.threads)
    models = B.parse_models(args.models)
    settings = {"models": models, "threads": threads, "quick": args.quick,
                "sets": args.set, "device": str(device), "count_batch": args.count_batch}
    entry = B.new_entry("mfu", __file__, argv, device, settings, args.note)
    print(f"MFU on {device} ({B.cpu_model()}, {threads} torch threads)")
    dtypes = {"fp32": torch.float32}
    from ifnd.hardware import native_bf16
    if native_bf16(device):
        dtypes["bf16"] = torch.bfloat16  # emulated bf16 matmuls take minutes: measured only where native
    print("peak (before):")
    peaks = {name: [best_peak(device, args.peak_n, args.peak_repeats, dt)] for name, dt in dtypes.items()}

    measured = {}
    for key in models:
        steps, warmup, repeats, _ = B.run_defaults(key, device, args.steps, args.warmup, args.repeats)
        cfg = B.load_bench_config(key, sets=args.set)
        print(f"\n== {key}: {B.MODELS[key]['label']}; {steps} timed + {warmup} warm-up steps, "
              f"{repeats} runs")
        runner = B.OursRunner(cfg, device)
        flops = B.model_flops_per_image(runner.model, cfg, runner.trainer.train_set.channels,
                                        device, args.count_batch)
        ips = B.ab_measure([runner], steps, warmup, repeats, device)["ours"]
        # the model step alone (forward, loss, backward, SGD; no augmentation), synchronised:
        # what the kernels reach, the bound on the MFU of the whole step
        step_ms = runner.breakdown(max(2, steps // 2))["step_ms"]
        measured[key] = (cfg, flops, ips, steps, warmup, step_ms)
        runner.close()
        del runner

    print("\npeak (after):")
    for name, dt in dtypes.items():
        peaks[name].append(best_peak(device, args.peak_n, args.peak_repeats, dt))
    best = {name: max(runs, key=lambda r: r["flops_per_second"]) for name, runs in peaks.items()}
    entry["results"]["_peak"] = best
    for key, (cfg, flops, ips, steps, warmup, step_ms) in measured.items():
        med = statistics.median(ips)
        achieved = flops["flops_per_image"] * med
        precision = cfg["train"]["precision"]
        peak = best[precision]
        res = {"label": B.MODELS[key]["label"], "batch_size": cfg["train"]["batch_size"],
               "precision": cfg["train"]["precision"], "steps": steps, "warmup": warmup,
               **flops, "images_per_second_runs": ips, "images_per_second": round(med, 2),
               "achieved_flops_per_second": achieved, "peak_flops_per_second": peak["flops_per_second"],
               "peak_precision": precision,
               "bf16_peak_flops_per_second": best.get("bf16", {}).get("flops_per_second"),
               "fp32_peak_flops_per_second": best["fp32"]["flops_per_second"],
               "mfu_percent": 100 * achieved / peak["flops_per_second"],
               "model_step_ms": step_ms,
               "model_step_mfu_percent": 100 * flops["flops_per_image"] * cfg["train"]["batch_size"]
               / (step_ms / 1e3) / peak["flops_per_second"]}
        entry["results"][key] = res
        print(f"\n{key}: FLOPs/image {flops['flops_per_image'] / 1e9:.3f} GFLOP "
              f"(model {flops['model_flops_per_image'] / 1e9:.3f}, "
              f"loss {flops['loss_flops_per_image'] / 1e6:.2f} MFLOP); "
              f"{med:.1f} images/s; achieved {achieved / 1e12:.4f} TFLOP/s; "
              f"{precision} peak {peak['flops_per_second'] / 1e12:.3f} TFLOP/s; MFU {res['mfu_percent']:.1f}% "
              f"(model step alone {res['model_step_mfu_percent']:.1f}%)")
    md = B.append_entry(args.out, entry)
    print(f"\nwrote {args.out} and {md}")
    return entry


if __name__ == "__main__":
    main()
