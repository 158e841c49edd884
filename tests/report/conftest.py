"""A small fake results tree, as the pipeline would write it, shared by the report tests.

Two seeds of simclr / ifnd / oracle, one ablation seed (attraction; all_at_once has no
evaluations), a class sweep (2 and 5 classes) and the reference rows. Accuracies are chosen so
that means, stds and paired differences are easy to check by hand (see ``LINEAR``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from ifnd.runspec import class_subset_overrides

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "config.yaml"

# linear / kNN / semi-supervised top-1 per (method, seed), as fractions
LINEAR = {("simclr", 0): 0.70, ("simclr", 1): 0.72, ("ifnd", 0): 0.73, ("ifnd", 1): 0.74,
          ("oracle", 0): 0.80, ("oracle", 1): 0.81}
KNN = {("simclr", 0): 0.60, ("simclr", 1): 0.62, ("ifnd", 0): 0.61, ("ifnd", 1): 0.64,
       ("oracle", 0): 0.70, ("oracle", 1): 0.70}
SEMI1 = {k: v - 0.2 for k, v in LINEAR.items()}
SEMI10 = {k: v - 0.1 for k, v in LINEAR.items()}
# the untrained encoder of each seed; SimCLR minus it is paired: linear 5 and 8 points (CI spans
# zero), 10% labels 1.5 points at both seeds (CI clears zero although the means are close)
RANDOM_INIT = {("linear", 0): 0.65, ("linear", 1): 0.64, ("knn", 0): 0.55, ("knn", 1): 0.55,
               ("semisup_1", 0): 0.45, ("semisup_1", 1): 0.46,
               ("semisup_10", 0): 0.585, ("semisup_10", 1): 0.605}
ABLATION_LINEAR = {("attraction", 0): 0.71}
ABLATION_KNN = {("attraction", 0): 0.60}
SWEEP_LINEAR = {("simclr", 2): 0.95, ("oracle", 2): 0.96, ("simclr", 5): 0.85, ("oracle", 5): 0.88}
# final-epoch in-batch statistics of IFND per seed: fn_per_anchor, precision, recall, true fn
FINAL_FN = {0: (100.0, 0.40, 0.50, 80.0), 1: (120.0, 0.50, 0.60, 100.0)}
EPOCHS = 3


def base_config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def run_config(method: str, seed: int, overrides: dict | None = None, classes=None) -> dict:
    cfg = base_config()
    cfg.pop("workflow", None)
    cfg["method"]["name"] = method
    cfg["train"]["seed"] = seed
    cfg["train"]["epochs"] = EPOCHS
    if classes is not None:  # the sweep's own draw, as `ifnd pretrain --run classes/...` makes it
        for key, value in class_subset_overrides(base_config(), classes, seed):
            cfg["data"][key.split(".")[1]] = value
    for key, value in (overrides or {}).items():
        node = cfg
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = copy.deepcopy(value)
    return cfg


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def write_train_log(path: Path, method: str, seed: int) -> None:
    rows = ["epoch,loss,lr,knn_top1,epoch_seconds,cluster_seconds,images_per_second,acceptance_rate"]
    for e in range(1, EPOCHS + 1):
        knn = "" if e == 2 else f"{0.5 + 0.05 * e + 0.01 * seed:.4f}"   # no monitor at epoch 2
        rate = 0.0 if method != "ifnd" or e == 1 else 0.5 * (e - 1)
        rows.append(f"{e},{5 - e * 0.5},{0.1},{knn},{10 + seed},{0.0 if e == 1 else 2.0},{1000},{rate}")
    path.write_text("\n".join(rows) + "\n")


def write_fn_stats(path: Path, method: str, seed: int, levels=(10, 20), final=None) -> None:
    head = ("epoch,level,n_clusters,acceptance_rate,nmi,ari,purity_all,purity_accepted,accepted_fraction,"
            "fn_per_anchor,fn_precision,fn_recall,true_fn_per_anchor")
    rows = [head]
    for e in range(1, EPOCHS + 1):
        rate = 0.0 if e == 1 else 0.5 * (e - 1)
        if method in ("ifnd",) and e >= 2:
            for k in levels:
                rows.append(f"{e},{k},{k},,{0.3 + 0.1 * e + 0.01 * seed},{0.2 + 0.05 * e},{0.5 + 0.05 * e},"
                            f"{0.6 + 0.05 * e},{rate},,,,")
        if method == "simclr" or e == 1:
            batch = (0.0, "", 0.0, 90.0)
        elif method == "oracle":
            batch = (90.0, 1.0, 1.0, 90.0)
        elif e == EPOCHS and final is not None:
            batch = final
        else:
            batch = (50.0, 0.3, 0.3, 90.0)
        fn, prec, rec, true_fn = batch
        rows.append(f"{e},batch,,{rate if method == 'ifnd' else ''},,,,,,{fn},{prec},{rec},{true_fn}")
    path.write_text("\n".join(rows) + "\n")


def write_run(root: Path, sub: str, method: str, seed: int, cfg: dict, evals: dict, final=None,
              levels=(10, 20)) -> None:
    run = root / "runs" / sub
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.resolved.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    write_json(run / "meta.json", {"code_version": "abc123", "packages": {"python": "3.11", "torch": "2"},
                                   "seed": seed, "device": {"device": "cpu", "torch_threads": 2},
                                   "timings": {"total_seconds": 100.0 + seed}})
    write_train_log(run / "train_log.csv", method, seed)
    write_fn_stats(run / "fn_stats.csv", method, seed, levels=levels, final=final)
    for name, top1 in evals.items():
        write_json(root / "evals" / sub / f"{name}.json",
                   {"evaluation": name, "top1": top1, "seconds": 5.0, "inputs": {"run_dir": str(run)}})


def build_results(root: Path, references: bool = True) -> Path:
    for (method, seed), lin in LINEAR.items():
        evals = {"linear": lin, "knn": KNN[(method, seed)], "semisup_1": SEMI1[(method, seed)],
                 "semisup_10": SEMI10[(method, seed)]}
        final = FINAL_FN[seed] if method == "ifnd" else None
        write_run(root, f"main/{method}/s{seed}", method, seed, run_config(method, seed), evals, final)
    write_run(root, "ablation/attraction/s0", "ifnd", 0,
              run_config("ifnd", 0, {"method.removal": "attr"}),
              {"linear": ABLATION_LINEAR[("attraction", 0)], "knn": ABLATION_KNN[("attraction", 0)]},
              final=(90.0, 0.45, 0.40, 80.0))
    # an ablation whose evaluations have not been run: only the run folder
    write_run(root, "ablation/all_at_once/s0", "ifnd", 0, run_config("ifnd", 0, {"fnd.schedule": "all"}), {})
    for (method, n), lin in SWEEP_LINEAR.items():
        write_run(root, f"classes/{method}/c{n}/s0", method, 0, run_config(method, 0, classes=n),
                  {"linear": lin, "knn": lin - 0.05})
    if references:
        ref = root / "reference"
        write_json(ref / "rawpixels.json", {"knn_top1": 0.757, "linear_top1": 0.78, "knn_top1_unstandardised": 0.7,
                                            "semisup_10_linear_top1": 0.702})
        for (evaluation, seed), top1 in RANDOM_INIT.items():
            write_json(ref / "random_init" / f"s{seed}" / f"{evaluation}.json",
                       {"evaluation": evaluation, "top1": top1})
        write_json(ref / "supervised" / "s0.json", {"evaluation": "supervised", "top1": 0.90})
        write_json(ref / "supervised" / "s1.json", {"evaluation": "supervised", "top1": 0.92})
    return root


@pytest.fixture
def results_dir(tmp_path) -> Path:
    return build_results(tmp_path / "results")
