"""The regime exploration of config/regime.yaml: floors and SimCLR per variant, validation only.

    python workflow/scripts/regime.py run [--config config/regime.yaml] [--only NAME ...]
    python workflow/scripts/regime.py summary [--config config/regime.yaml]

``run`` calls the ``ifnd`` commands in order for every variant and skips a step whose output
exists, so an interrupted exploration goes on where it stopped (a pretraining resumes from its
state folder). Outputs go to results/<experiment>/: ``runs/`` (DVC/ignored), ``metrics/<variant>/``
(JSON of every evaluation), ``detect/<variant>/`` (the detection study). ``summary`` writes
``explore.csv`` (one row per variant, kept epoch and clustered space) and ``explore.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
RATES = ("0.5", "1.0")


def load(path: Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def sets(spec: dict, name: str) -> list[str]:
    out = []
    for item in list(spec.get("base") or []) + list(spec["variants"][name] or []):
        out += ["--set", item]
    return out


def step(out: Path, argv: list[str], log: Path) -> None:
    """Run ``ifnd`` with ``argv`` unless ``out`` exists; stdout and stderr go to ``log``."""
    if out.exists():
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "IFND_THREADS": "1", "OMP_NUM_THREADS": "1"}
    print(f"[regime] {' '.join(argv[:2])} -> {out}", flush=True)
    with open(log, "a") as fh:
        done = subprocess.run(["ifnd", *argv], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"error: ifnd {argv[0]} failed for {out} (see {log})")


def run_variant(spec: dict, name: str) -> None:
    res = ROOT / "results" / spec["experiment"]
    cfg = ["--config", "config/config.yaml", *sets(spec, name)]
    metrics, logs = res / "metrics" / name, ROOT / "logs" / "regime" / name
    run_dir = res / "runs" / name
    step(metrics / "rawpixels.json", ["rawpixels", *cfg, "--on", "val", "--out", str(metrics / "rawpixels.json")],
         logs / "rawpixels.log")
    step(metrics / "detect_floor.json", ["detect-floor", *cfg, "--rates", *RATES,
                                         "--out", str(metrics / "detect_floor.json")], logs / "floor.log")
    step(run_dir / "model.pt", ["pretrain", *cfg, "--out", str(run_dir),
                                "--state-dir", str(ROOT / "state" / "regime" / name)], logs / "pretrain.log")
    for kind in ("knn", "linear"):
        step(metrics / f"{kind}.json", [kind, str(run_dir), "--on", "val", "--set", "train.threads=1",
                                        "--out", str(metrics / f"{kind}.json")], logs / f"{kind}.log")
    step(res / "detect" / name / "detect.csv", ["detect", str(run_dir), "--quick", "--rates", *RATES,
                                               "--out", str(res / "detect" / name)], logs / "detect.log")


def summary(spec: dict) -> None:
    res = ROOT / "results" / spec["experiment"]
    rows = []
    for name in spec["variants"]:
        metrics = res / "metrics" / name

        def read(f, metrics=metrics):
            return json.loads((metrics / f).read_text()) if (metrics / f).is_file() else {}

        pix, knn, lin, floor = read("rawpixels.json"), read("knn.json"), read("linear.json"), read("detect_floor.json")
        floors = {(r["space"], r["rate"]): r for r in floor.get("rows", [])}
        detect = res / "detect" / name / "detect.csv"
        if not detect.is_file():
            continue
        frame = pd.read_csv(detect)
        base = frame[(frame["confidence"] == "cosine") & (frame["ranking"] == "per_cluster")
                     & (frame["gate"] == "none") & (frame["levels"].astype(str).str.contains(r"\+"))
                     & (frame["combine"] == "union")]
        for (epoch, space, rate), part in base.groupby(["epoch", "features", "rate"]):
            r, f = part.iloc[0], floors.get(("pixels", float(rate)), {})
            rows.append({"variant": name, "epoch": int(epoch), "space": space, "rate": float(rate),
                         "precision": r["precision"], "recall": r["recall"],
                         "pixel_precision": f.get("precision"), "pixel_recall": f.get("recall"),
                         "random_init_precision":
                             floors.get((f"random_init_{space}", float(rate)), {}).get("precision"),
                         "knn_top1": knn.get("top1"), "linear_top1": lin.get("top1"),
                         "pixel_knn_top1": pix.get("knn_top1"), "pixel_linear_top1": pix.get("linear_top1")})
    frame = pd.DataFrame(rows)
    frame.to_csv(res / "explore.csv", index=False, float_format="%.4f")
    checks = criteria(frame)
    checks.to_csv(res / "criteria.csv", index=False, float_format="%.4f")
    lines = ["# Regime exploration (validation split)", "",
             "Generated by `python workflow/scripts/regime.py summary` from the variants of "
             "config/regime.yaml (every variant tried is listed). SimCLR seed 0 per variant; "
             "floors: the same bank and split. Pair precision / recall of IFND's own detection "
             "setting (levels by union, per-cluster cosine ranking) on the encoder kept after "
             "each epoch; pixel floor at the same rate.", ""]
    lines += ["## The targets, per variant and clustered space", "",
              "kNN and linear: SimCLR minus the pixels (target: at least +5 points each). Detection, "
              "at each acceptance rate: the precision of the last kept encoder before the end of "
              "IFND's ramp (epoch 10; `fnd.ramp_end_epoch` 11) minus the pixel floor at the same "
              "rate (target: +15 points or more), and the least-squares slope of the precision over "
              "the kept epochs (target: above zero). One seed: these numbers chose the regime; "
              "none of them is a test-split number.", "",
              checks.to_markdown(index=False, floatfmt="+.1f"), ""]
    versus = against_simclr(spec, res)
    if len(versus):
        lines += ["## Against SimCLR on the same data (validation split)", "",
                  "Methods other than SimCLR, minus the SimCLR variant with the same data, seed and "
                  "training settings (`against`): one seed each, no interval, so a difference of the "
                  "size of the seed-to-seed spread (tables/power.md of an experiment with seeds) "
                  "says nothing.", "", versus.to_markdown(index=False, floatfmt="+.2f"), ""]
    for name, part in frame.groupby("variant", sort=False):
        first = part.iloc[0]
        lines += [f"## {name}", "",
                  f"Overrides: `{' '.join(spec['variants'][name] or []) or '(none)'}`", "",
                  f"kNN top-1 {100 * first['knn_top1']:.2f} (pixels {100 * first['pixel_knn_top1']:.2f}); "
                  f"linear top-1 {100 * first['linear_top1']:.2f} (pixels {100 * first['pixel_linear_top1']:.2f})", ""]
        prec = part.pivot_table(index=["space", "rate"], columns="epoch", values="precision") * 100
        rec = part.pivot_table(index=["space", "rate"], columns="epoch", values="recall") * 100
        show = prec.astype(object)
        for col in prec.columns:
            show[col] = [f"{p:.1f} / {r:.1f}" for p, r in zip(prec[col], rec[col])]
        floor_cols = ["pixel_precision", "pixel_recall", "random_init_precision"]
        floor = part.groupby(["space", "rate"])[floor_cols].first() * 100
        show["pixels"] = [f"{p:.1f} / {r:.1f}" for p, r in zip(floor["pixel_precision"], floor["pixel_recall"])]
        show["random init"] = [f"{p:.1f}" for p in floor["random_init_precision"]]
        show.columns = [f"epoch {c}" if isinstance(c, (int, np.integer)) else c for c in show.columns]
        lines += ["Pair precision / recall (%) after each kept epoch; floors at the same rate:", "",
                  show.to_markdown(), ""]
    (res / "explore.md").write_text("\n".join(lines))
    print(f"wrote {res / 'explore.csv'} and {res / 'explore.md'}")


def against_simclr(spec: dict, res: Path) -> pd.DataFrame:
    """kNN and linear top-1 of every variant that changes only method settings (method.*, fnd.*,
    train.framework/moco/lr) of a SimCLR variant, minus that SimCLR variant's (the same data,
    seed and training settings), in points."""
    def evals(name):
        out = {}
        for kind in ("knn", "linear"):
            path = res / "metrics" / name / f"{kind}.json"
            out[kind] = json.loads(path.read_text())["top1"] if path.is_file() else None
        return out

    method_keys = ("method.", "fnd.", "train.framework", "train.moco", "train.lr")
    rest = {name: frozenset(o for o in (overrides or []) if not o.startswith(method_keys))
            for name, overrides in spec["variants"].items()}
    plain = {rest[name]: name for name, overrides in spec["variants"].items()
             if rest[name] == frozenset(overrides or []) and rest[name]}
    rows = []
    for name, overrides in spec["variants"].items():
        base = plain.get(rest[name])
        extra = [o for o in (overrides or []) if o.startswith(method_keys)]
        if base is None or base == name or not extra:
            continue
        got, ref = evals(name), evals(base)
        if got["knn"] is None or ref["knn"] is None:
            continue
        rows.append({"variant": name, "against": base, "changes": " ".join(extra),
                     "kNN - SimCLR": 100 * (got["knn"] - ref["knn"]),
                     "linear - SimCLR": 100 * (got["linear"] - ref["linear"])})
    return pd.DataFrame(rows)


def criteria(frame: pd.DataFrame, ramp_end: int = 10) -> pd.DataFrame:
    """One row per (variant, space, rate): the regime issue's targets, in points."""
    out = []
    for (name, space, rate), part in frame.groupby(["variant", "space", "rate"], sort=False):
        part = part.sort_values("epoch")
        by_ramp = part[part["epoch"] <= ramp_end]
        last = by_ramp.iloc[-1] if len(by_ramp) else part.iloc[0]
        slope = float(np.polyfit(part["epoch"], part["precision"], 1)[0]) if len(part) > 1 else np.nan
        out.append({"variant": name, "space": space, "rate": f"{100 * rate:g}%",
                    "knn - pixels": 100 * (last["knn_top1"] - last["pixel_knn_top1"]),
                    "linear - pixels": 100 * (last["linear_top1"] - last["pixel_linear_top1"]),
                    "epoch": int(last["epoch"]),
                    "precision - pixel floor": 100 * (last["precision"] - last["pixel_precision"]),
                    "recall - pixel recall": 100 * (last["recall"] - last["pixel_recall"]),
                    "slope (points / 10 epochs)": 1000 * slope})
    table = pd.DataFrame(out)
    table["meets all"] = ((table["knn - pixels"] >= 5) & (table["linear - pixels"] >= 5)
                          & (table["precision - pixel floor"] >= 15)
                          & (table["slope (points / 10 epochs)"] > 0))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "summary"))
    parser.add_argument("--config", default=str(ROOT / "config" / "regime.yaml"))
    parser.add_argument("--only", nargs="+", default=None)
    args = parser.parse_args()
    spec = load(Path(args.config))
    if args.action == "summary":
        summary(spec)
        return
    for name in args.only or spec["variants"]:
        if name not in spec["variants"]:
            sys.exit(f"error: no variant {name!r} in {args.config}")
        run_variant(spec, name)


if __name__ == "__main__":
    main()
