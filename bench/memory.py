#!/usr/bin/env python
"""Peak memory of a default pretraining run: `ifnd pretrain` for one epoch as a child process.

Reports the child's maximum resident set size (ru_maxrss from os.wait4, i.e.
resource.getrusage of that child) and, on CUDA, torch.cuda.max_memory_allocated / reserved
inside the child. Target: below 4 GiB.

Runs (each in a fresh temporary run folder):

* default: `ifnd pretrain --config config/config.yaml --set train.epochs=1`, exactly the
  default experiment for one epoch (method ifnd; its first clustering is after fnd.warmup_epochs
  = 2 epochs, so this run does not cluster);
* clustering: the same with fnd.warmup_epochs=0 and fnd.rate_start=0.5, so the single epoch
  starts with an embedding pass, k-means at every level and false-negative masks in every
  step: the peak of a clustering epoch.

    python bench/memory.py
    python bench/memory.py --runs default --set data.train_subset=null   # all 60k images
    python bench/memory.py --quick --out /tmp/r.json                     # config/test.yaml
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402

TARGET_GIB = 4.0
RUNS = {
    "default": [],
    "clustering": ["fnd.warmup_epochs=0", "fnd.rate_start=0.5"],
}
# Runs `ifnd pretrain` in-process in the child (the same code path as the console script) and
# records the CUDA peaks, which only the child can read.
WRAPPER = """\
import json, sys
from ifnd.cli import main
rc = main(sys.argv[2:])
info = {"returncode": rc}
try:
    import torch
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        info["cuda_max_memory_allocated"] = torch.cuda.max_memory_allocated()
        info["cuda_max_memory_reserved"] = torch.cuda.max_memory_reserved()
except Exception as exc:
    info["cuda_error"] = repr(exc)
with open(sys.argv[1], "w") as f:
    json.dump(info, f)
sys.exit(rc)
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="default,clustering", help=f"comma-separated, from {sorted(RUNS)}")
    p.add_argument("--config", nargs="+", default=[str(B.BASE_CONFIG.relative_to(B.REPO))],
                   help="config file(s) for ifnd pretrain (default: config/config.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override")
    p.add_argument("--device", default="auto", help="train.device for the child: auto | cpu | cuda")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per child run")
    p.add_argument("--quick", action="store_true", help="smoke check: config/test.yaml on top")
    p.add_argument("--note", default=None)
    p.add_argument("--out", type=Path, default=B.DEFAULT_OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.config = args.config + ["config/test.yaml"]
    return args


def run_child(args, name: str, extra_sets: list[str]) -> dict:
    sets = ["train.epochs=1", "train.progress=false", *extra_sets, *args.set]
    if args.device != "auto":
        sets.append(f"train.device={args.device}")
    with tempfile.TemporaryDirectory(prefix="ifnd-bench-mem-") as tmp:
        tmp = Path(tmp)
        info_path, log_path = tmp / "child.json", tmp / "child.log"
        ifnd_args = ["pretrain", "--config", *args.config]
        for s in sets:
            ifnd_args += ["--set", s]
        ifnd_args += ["--out", str(tmp / "run"), "--state-dir", str(tmp / "state")]
        cmd = [sys.executable, "-c", WRAPPER, str(info_path), *ifnd_args]
        shown = shlex.join(["ifnd", *ifnd_args]).replace(str(tmp), "$TMP")
        print(f"  {name}: {shown}", flush=True)
        t0 = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, cwd=B.REPO, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + args.timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.2)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        res = {"command": shown, "returncode": proc.returncode, "wall_seconds": wall,
               "max_rss_bytes": usage.ru_maxrss * 1024,  # Linux reports KiB
               "max_rss_gib": usage.ru_maxrss * 1024 / 2**30,
               "user_seconds": usage.ru_utime, "system_seconds": usage.ru_stime}
        if info_path.is_file():
            import json
            res.update({k: v for k, v in json.loads(info_path.read_text()).items() if k != "returncode"})
        if proc.returncode != 0:
            tail = log_path.read_text()[-2000:]
            res["log_tail"] = tail
            print(f"    child failed (exit {proc.returncode}):\n{tail}", file=sys.stderr)
    return res


def main(argv=None) -> dict:
    args = parse_args(argv)
    names = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in names if r not in RUNS]
    if unknown:
        raise SystemExit(f"unknown run(s) {unknown}; choose from {sorted(RUNS)}")
    device = B.resolve_device(args.device)
    settings = {"runs": names, "config": args.config, "sets": args.set, "quick": args.quick,
                "device": str(device)}
    entry = B.new_entry("memory", __file__, argv, device, settings, args.note)
    print(f"peak memory of `ifnd pretrain` (one epoch) on {device}; target < {TARGET_GIB} GiB")
    for name in names:
        res = run_child(args, name, RUNS[name])
        res["within_target"] = res["max_rss_gib"] < TARGET_GIB
        entry["results"][name] = res
        cuda = res.get("cuda_max_memory_allocated")
        print(f"    max RSS {res['max_rss_gib']:.2f} GiB"
              + (f", CUDA max allocated {cuda / 2**30:.2f} GiB" if cuda else "")
              + f"; exit {res['returncode']}; {res['wall_seconds']:.1f} s; "
              + ("within" if res["within_target"] else "ABOVE") + f" the {TARGET_GIB} GiB target")
    entry["results"]["target_gib"] = TARGET_GIB
    md = B.append_entry(args.out, entry)
    print(f"\nwrote {args.out} and {md}")
    failed = [n for n in names if entry["results"][n]["returncode"] != 0]
    if failed:
        raise SystemExit(f"pretraining failed in run(s) {failed}")
    return entry


if __name__ == "__main__":
    main()
