#!/usr/bin/env python
"""Images per second of a full SimCLR training step: ours vs the peer (lightly).

A step = augmentation of two views, forward, loss, backward, optimiser step.

* ours: `ifnd.train.Pretrainer` as `ifnd pretrain` runs it (in-memory uint8 data, batched
  augmentation on the device, channels_last, bf16 autocast, the IFND loss path with method
  simclr, SGD);
* peer: lightly's `SimCLRTransform` in a torchvision-style Dataset + DataLoader with worker
  processes (pin_memory on CUDA), `lightly.loss.NTXentLoss`, and the SAME model module (our
  backbone + projection head), optimiser, bf16 autocast and channels_last, batch size.

Runs alternate (ours, peer, ours, peer, ...); warm-up steps are excluded; the script prints the
images/s of every run and the median of the per-pair ratios ours/peer, and appends an entry to
bench/results.json (regenerating bench/RESULTS.md).

    python bench/step_throughput.py                      # default CPU model and ResNet-18
    python bench/step_throughput.py --models default --steps 10 --repeats 5
    python bench/step_throughput.py --quick --impl ours --out /tmp/r.json   # smoke check
    python bench/step_throughput.py --compile            # + ours with train.compile=true

`--compile` adds a third implementation to the alternation, ours under torch.compile (forward
and loss compiled by inductor; on a CPU this needs a C++ compiler). Compilation happens in the
untimed pre-warm steps and is reported separately as it is paid once per run of `ifnd pretrain`.

images/s = training images per second; each image is a pair of two augmented views.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="default,resnet18",
                   help=f"comma-separated, from {sorted(B.MODELS)} (default: default,resnet18)")
    p.add_argument("--impl", choices=["both", "ours", "peer"], default="both")
    p.add_argument("--compile", action="store_true", help="also time ours with train.compile=true")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run (default: per model)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps per run")
    p.add_argument("--repeats", type=int, default=None, help="runs per implementation, alternating "
                   "(default: per model, see benchlib.CPU_RUN_DEFAULTS)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--workers", type=int, default=2, help="peer DataLoader workers (default 2)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--breakdown-steps", type=int, default=None,
                   help="synchronised steps for the per-part breakdown (0: skip; default: per model)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for every model, e.g. train.precision=fp32")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: the tiny model, 2 steps, 1 repeat (numbers mean nothing)")
    p.add_argument("--note", default=None, help="free text stored with the results (e.g. 'CPU busy')")
    p.add_argument("--out", type=Path, default=B.DEFAULT_OUT, help="results JSON (default bench/results.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.models = "tiny"
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = B.resolve_device(args.device)
    threads = B.setup_backend(device, args.threads)
    models = B.parse_models(args.models)
    impls = ["ours", "peer"] if args.impl == "both" else [args.impl]
    if args.compile:
        impls.append("ours-compiled")
    if "peer" in impls:
        try:
            import lightly  # noqa: F401
        except ImportError:
            raise SystemExit("the peer needs lightly: pip install -e '.[bench]' "
                             "(or pip install -r bench/requirements.txt), or pass --impl ours") from None
    settings = {"models": models, "impls": impls, "workers": args.workers,
                "threads": threads, "quick": args.quick, "sets": args.set, "device": str(device)}
    entry = B.new_entry("step_throughput", __file__, argv, device, settings, args.note)
    print(f"step throughput on {device} ({B.cpu_model()}, {threads} torch threads); {B.UNITS}")

    for key in models:
        steps, warmup, repeats, n_breakdown = B.run_defaults(key, device, args.steps, args.warmup,
                                                             args.repeats, args.breakdown_steps)
        settings["steps"], settings["warmup"], settings["repeats"] = steps, warmup, repeats
        cfg = B.load_bench_config(key, sets=args.set)
        bs = cfg["train"]["batch_size"]
        print(f"\n== {key}: {B.MODELS[key]['label']} (batch {bs}, {cfg['train']['precision']}, "
              f"channels_last={cfg['train']['channels_last']}); {steps} timed + {warmup} warm-up "
              f"steps per run, {repeats} runs each")
        runners = []
        if "ours" in impls:
            runners.append(B.OursRunner(cfg, device))
        if "peer" in impls:
            runners.append(B.PeerRunner(cfg, device, args.workers))
        if args.compile:
            ccfg = B.load_bench_config(key, extra={"train.compile": True}, sets=args.set)
            runners.append(B.OursRunner(ccfg, device, name="ours-compiled"))
        t0 = time.perf_counter()
        ips = B.ab_measure(runners, steps, warmup, repeats, device, prewarm=2 if args.compile else 1)
        measure_seconds = time.perf_counter() - t0
        res = {"label": B.MODELS[key]["label"], "batch_size": bs, "steps": steps, "warmup": warmup,
               "repeats": repeats,
               "precision": cfg["train"]["precision"], **ips}
        for name in impls:
            res[f"{name}_median"] = round(statistics.median(ips[name]), 2)
        if "ours" in ips and "peer" in ips:
            res.update(B.summarise_ab(ips, "ours", "peer"))
        if "ours-compiled" in ips:
            res["measure_seconds_incl_compile"] = round(measure_seconds, 1)
            for other in ("peer", "ours"):
                if other in ips:
                    ratio = B.summarise_ab(ips, "ours-compiled", other)["median_ratio"]
                    res[f"compiled_over_{other}_median_ratio"] = ratio
        if n_breakdown > 0:
            res["breakdown"] = {r.name: r.breakdown(n_breakdown) for r in runners if r.name != "ours-compiled"}
        for r in runners:
            r.close()
        entry["results"][key] = res
        line = "  median images/s: " + ", ".join(f"{n} {res.get(n + '_median', 0):.1f}" for n in impls)
        if "median_ratio" in res:
            line += f"; median ratio ours/peer {res['median_ratio']:.2f}x (per run {res['per_run_ratio']})"
        for other in ("peer", "ours"):
            if f"compiled_over_{other}_median_ratio" in res:
                line += f"; ours-compiled/{other} {res[f'compiled_over_{other}_median_ratio']:.2f}x"
        print(line)
        if "breakdown" in res:
            print("  breakdown (median ms per step, synced): " +
                  "; ".join(f"{n}: {d}" for n, d in res["breakdown"].items()))

    md = B.append_entry(args.out, entry)
    print(f"\nwrote {args.out} and {md}")
    return entry


if __name__ == "__main__":
    main()
