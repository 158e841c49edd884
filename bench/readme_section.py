#!/usr/bin/env python
"""Print a short markdown "Performance" section for the README from bench/results.json
(the newest full run of each benchmark; --quick smoke runs are left out unless
--include-quick). With --regenerate it also rewrites bench/RESULTS.md from the JSON.

    python bench/readme_section.py                 # print the section
    python bench/readme_section.py --regenerate    # and rewrite bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402


def _gib(v):
    return f"{v:.2f} GiB" if isinstance(v, (int, float)) else "n/a"


def section(data: dict, include_quick: bool = False, results_link: str = "bench/RESULTS.md") -> str:
    entries = data.get("entries", [])

    def get(bench):
        return B.latest(entries, bench, full_only=not include_quick)

    picked = [e for e in (get(b) for b in B.RENDERERS if b != "gpu") if e is not None]
    lines = ["## Performance", ""]
    if not picked:
        return "\n".join(lines + ["No benchmark results yet: run `bench/run_all.sh` (see bench/README.md).", ""])
    m = picked[0]["machine"]
    dates = sorted(e["date"][:10] for e in picked)
    lines += [f"Measured on {m.get('cpu_model')} ({m.get('cpu_cores')} cores), torch {m.get('torch')}, "
              f"{dates[0]}{' to ' + dates[-1] if dates[-1] != dates[0] else ''}. Images/s counts training "
              f"images, each a pair of augmented views. Full tables, per-run numbers and the exact "
              f"commands: [{results_link}]({results_link}).", ""]
    quick = any(e.get("settings", {}).get("quick") for e in picked)
    busy = [e for e in picked if e.get("machine", {}).get("busy") and e["benchmark"] != "memory"]
    if busy:
        lines += [f"**Some figures ({', '.join(e['benchmark'] for e in busy)}) were measured on a busy "
                  f"machine and are unreliable; rerun `bench/run_all.sh` on a quiet one.**", ""]
    if quick:
        lines += ["**Smoke-run figures (--quick, tiny model): they only show that the scripts run.**", ""]

    for kind in B.cpu_kinds(entries, "step_throughput"):
        e = B.latest(entries, "step_throughput", full_only=not include_quick, kind=kind)
        if not e:
            continue
        parts, precisions = [], set()
        for key, r in e["results"].items():
            precisions.add(r.get("precision"))
            s = f"{r.get('label', key)}: ours {B.fmt(r.get('ours_median'), 0)} images/s"
            if r.get("peer_median"):
                s += (f" vs {B.fmt(r.get('peer_median'), 0)} for lightly "
                      f"(median ratio {B.fmt(r.get('median_ratio'), 2)}x)")
            if r.get("compiled_over_peer_median_ratio"):
                s += (f"; with train.compile {B.fmt(r.get('ours-compiled_median'), 0)} images/s "
                      f"({B.fmt(r.get('compiled_over_peer_median_ratio'), 2)}x lightly)")
            parts.append(s)
        prec = "/".join(sorted(p for p in precisions if p))
        lines.append(f"- Training step on {kind}, {e['date'][:10]} (augmentation, forward, backward, "
                     f"SGD; same model, batch and {prec} as the peer): " + "; ".join(parts) + ".")
    for kind in B.cpu_kinds(entries, "mfu"):
        e = B.latest(entries, "mfu", full_only=not include_quick, kind=kind)
        if not e:
            continue
        parts = [f"{r.get('label', k).split(':')[0]}: {B.fmt(r.get('mfu_percent'), 1)}% of the "
                 f"{r.get('peak_precision', 'bf16')} peak {B.si(r.get('peak_flops_per_second'), 'FLOP/s')} "
                 f"({B.si(r.get('achieved_flops_per_second'), 'FLOP/s')})"
                 for k, r in e["results"].items() if not k.startswith("_")]
        lines.append(f"- Model FLOPs utilisation on {kind}, against the measured matmul peak of the "
                     f"precision in use: " + "; ".join(parts) + ".")
    e = get("cluster_overhead")
    if e:
        r = e["results"]
        ref = next(iter(r.get("variants", {}).values()), {})
        lines.append(f"- IFND clustering step ({r.get('n_train')} images): "
                     f"{B.fmt(ref.get('share_trainpy_percent'), 1)}% of a baseline epoch as train.py runs it "
                     f"(k-means + selection; the embedding pass is shared with the kNN monitor), "
                     f"{B.fmt(ref.get('share_separate_percent'), 1)}% with a separate embedding pass "
                     f"(target: at most {B.fmt(r.get('target_percent'), 0)}%).")
    e = get("memory")
    if e:
        r = B.with_other_memory_runs(entries, e)["results"]
        runs = [f"{k} {_gib(v.get('max_rss_gib'))}" for k, v in r.items() if isinstance(v, dict)]
        lines.append("- Peak memory (max RSS) of a one-epoch default `ifnd pretrain`: " + ", ".join(runs)
                     + f" (target: below {B.fmt(r.get('target_gib'), 0)} GiB).")
    e = B.latest(B.gpu_entries(entries), "gpu", full_only=not include_quick)
    if e:
        r = e["results"]
        parts = [f"{k} {B.fmt(v.get('median'), 0)} images/s (MFU {B.fmt(v.get('mfu_percent'), 1)}%)"
                 for k, v in r.get("impls", {}).items()]
        ratios = "; median ratios " + ", ".join(f"{k} {B.fmt(v, 2)}x" for k, v in r["ratios"].items()) \
            if r.get("ratios") else ""
        lines.append(f"- GPU ({r.get('card')}, ResNet-18 CIFAR stem, batch {r.get('batch_size')}, "
                     f"{e['date'][:10]}): " + ", ".join(parts) + ratios + ".")
    else:
        lines.append("- GPU: still to be measured (`python bench/gpu.py` on a CUDA machine).")
    return "\n".join(lines) + "\n"


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=B.DEFAULT_OUT, help="results JSON (default bench/results.json)")
    p.add_argument("--include-quick", action="store_true", help="also use --quick smoke runs")
    p.add_argument("--regenerate", action="store_true", help="rewrite the RESULTS.md beside the JSON")
    p.add_argument("--readme", type=Path, default=None,
                   help="also replace the block between the performance markers of this file")
    args = p.parse_args(argv)
    data = B.load_results(args.results)
    if args.regenerate:
        md = B.markdown_path(args.results)
        B.write_markdown(data, md, args.results)
        print(f"regenerated {md}", file=sys.stderr)
    text = section(data, args.include_quick)
    print(text, end="")
    if args.readme:
        replace_block(args.readme, text)
    return text


START, END = "<!-- performance:start -->", "<!-- performance:end -->"


def replace_block(readme: Path, text: str) -> None:
    """Put ``text`` between the performance markers of ``readme`` (nothing typed by hand)."""
    doc = readme.read_text()
    if START not in doc or END not in doc:
        sys.exit(f"readme_section: {readme} has no {START} ... {END} block")
    head, rest = doc.split(START, 1)
    headings = [line for line in head.splitlines() if line.startswith("## ")]
    if headings and headings[-1].strip() == "## Performance":  # the README has its own heading
        text = text.split("\n", 1)[1].lstrip("\n") if text.startswith("## Performance") else text
    readme.write_text(head + START + "\n" + text.rstrip("\n") + "\n" + END + rest.split(END, 1)[1])


if __name__ == "__main__":
    main()
