"""The report's reading of the paper's four claims at this scale, computed from the results.

The claims, from the paper's abstract (docs/method.md):

(a) false negatives hurt more when there are more semantic classes;
(b) as the encoder improves, IFND detects increasingly many, high-quality false negatives;
(c) IFND improves linear and semi-supervised (1% / 10% labels) accuracy over SimCLR;
(d) elimination is the better removal strategy, and the design (incremental acceptance,
    several clustering levels, confidence ranking within clusters) is what makes IFND work.

Each is stated with the evidence for and against it: seed-paired differences with 95% t
intervals (:mod:`ifnd.report.stats`), and a verdict that says plainly where an interval
includes zero ("not resolved at this scale") or where a single seed gives no interval.
"""

from __future__ import annotations

import pandas as pd

from .collect import Results, read_csv
from .stats import Stat, paired_difference, summarise, verdict

EVALUATIONS = {"linear": "linear top-1", "knn": "kNN top-1", "semisup_1": "1%-label top-1",
               "semisup_10": "10%-label top-1"}
# Table 3's ablations and what each one tests of claim (d) (a positive difference to the default
# speaks against the default's choice)
DESIGN = {"attraction": "attraction instead of elimination",
          "all_at_once": "every pseudo-label accepted at once instead of incrementally",
          "one_level": "one clustering level instead of several",
          "global_ranking": "confidence ranked globally instead of within clusters",
          "per_cluster_ranking": "confidence ranked within clusters instead of globally",
          "projection_features": "the projection clustered instead of the backbone features",
          "backbone_features": "the backbone features clustered instead of the projection",
          "full_acceptance": "every pseudo-label accepted by the end of the ramp instead of a capped share",
          "half_acceptance": "the ramp capped at half the pseudo-labels instead of all",
          "backbone_global": "backbone features ranked globally instead of the projection within clusters",
          "backbone_global_half": "backbone features ranked globally, capped at half the pseudo-labels"}


def _points(d: Stat) -> str:
    if d.n == 0:
        return "no seed-matched results"
    if d.n == 1:
        return f"{100 * d.mean:+.2f} points (one seed, no interval)"
    return f"{100 * d.mean:+.2f} points [95% CI {100 * d.ci_low:+.2f}, {100 * d.ci_high:+.2f}], {d.n} seeds"


def _word(d: Stat, support: str, against: str) -> str:
    """The plain verdict of a paired difference whose positive sign means ``support``."""
    return {"above zero": support, "below zero": against,
            "not resolved": "not resolved at this scale (the interval includes zero)",
            "one seed": "not resolved", "no data": "no data"}[verdict(d)]


def class_gaps(results: Results) -> dict[int, dict[int, float]]:
    """class count -> seed -> oracle − SimCLR linear top-1 (the harm from false negatives):
    the class sweep's runs, and the main runs for the full class count."""
    full = results.full_class_count()
    gaps: dict[int, dict[int, float]] = {}
    for n in sorted(set(results.class_counts("simclr")) | set(results.class_counts("oracle"))
                    | ({full} if full else set())):
        group, classes = (("main", None) if n == full and not results.select("classes", "simclr", n)
                          else ("classes", n))
        a = results.metric(group, "oracle", "linear", classes=classes)
        b = results.metric(group, "simclr", "linear", classes=classes)
        per_seed = {s: a[s] - b[s] for s in sorted(set(a) & set(b))}
        if per_seed:
            gaps[n] = per_seed
    return gaps


def claim_a(results: Results) -> list[str]:
    """The oracle − SimCLR gap at each class count, and whether it is larger with the most
    classes than with the fewest, paired over the seeds both counts have."""
    gaps = class_gaps(results)
    if len(gaps) < 2:
        return ["(a) More classes, more harm from false negatives: needs the class sweep and the "
                "main runs (oracle and SimCLR); not enough results."]
    parts = [f"{n} classes {_points(summarise(g))}" for n, g in gaps.items()]
    fewest, most = min(gaps), max(gaps)
    trend = paired_difference(gaps[most], gaps[fewest])
    return ["(a) More classes, more harm from false negatives. Oracle − SimCLR linear gap: "
            + "; ".join(parts) + f". Gap at {most} minus gap at {fewest} classes: {_points(trend)}: "
            + _word(trend, "supported: the gap grows with the number of classes",
                    "contradicted: the gap shrinks with the number of classes") + "."]


def detect_rows(results: Results) -> list[tuple[str, pd.DataFrame]]:
    """(run path, the rows of the run's own detection setting) of every detect.csv of the
    detection study (``ifnd detect``), read through the checked CSV reader."""
    out = []
    for path in sorted((results.root / "detect").glob("main/*/s*/detect.csv")):
        frame = read_csv(path, ("epoch", "rate", "precision", "recall", "run_setting"),
                         ("epoch", "rate", "precision", "recall"))
        mine = frame[frame["run_setting"].str.strip().str.lower() == "true"].copy()
        mine["epoch"] = mine["epoch"].astype(int)
        if not mine.empty:
            out.append((path.parent.relative_to(results.root / "detect").as_posix(), mine))
    return out


def claim_b(results: Results, rate: float = 0.5) -> list[str]:
    """Precision and recall of the run's own detection setting at a fixed acceptance rate on
    the encoders kept at several epochs (``ifnd detect``): the quality is measured, not made to
    rise by the schedule. The detection study covers the first seed only."""
    found = detect_rows(results)
    if not found:
        return ["(b) Detection quality rises as the encoder improves: needs the detection study "
                "(`ifnd detect`); not found."]
    texts, rises = [], []
    for run, rows in found:
        at = rows[(rows["rate"] - rate).abs() < 1e-9].sort_values("epoch")
        if len(at) < 2:
            continue
        first, last = at.iloc[0], at.iloc[-1]
        rises.append(bool(last["precision"] > first["precision"]))
        change = "rises" if rises[-1] else "does not rise"
        texts.append(f"`{run}`: precision {100 * first['precision']:.1f}% after epoch "
                     f"{int(first['epoch'])}, {100 * last['precision']:.1f}% after epoch "
                     f"{int(last['epoch'])} (recall {100 * first['recall']:.1f}% -> "
                     f"{100 * last['recall']:.1f}%): it {change}")
    if not texts:
        return [f"(b) Detection quality rises as the encoder improves: the detection study has "
                f"no acceptance rate {rate:g} at two epochs."]
    word = ("supported on every encoder studied" if all(rises)
            else "not supported" if not any(rises) else "mixed")
    return [f"(b) Detection quality rises as the encoder improves, measured at a fixed acceptance "
            f"rate of {rate:g} with the run's own setting: " + "; ".join(texts)
            + f". {word.capitalize()}; one seed each, so no interval."]


def claim_c(results: Results) -> list[str]:
    """IFND − SimCLR in every evaluation, and the share of the oracle's linear gain IFND
    recovers, against the attribution controls where they ran."""
    if not results.select("main", "simclr") or not results.select("main", "ifnd"):
        return ["(c) IFND improves linear and semi-supervised accuracy: needs the SimCLR and IFND "
                "main runs; not found."]
    parts, resolved, missing = [], [], []
    for evaluation, label in EVALUATIONS.items():
        d = paired_difference(results.metric("main", "ifnd", evaluation),
                              results.metric("main", "simclr", evaluation))
        if d.n:
            parts.append(f"{label} {_points(d)}")
            resolved.append(verdict(d))
        else:
            missing.append(label)
    if not parts:
        return ["(c) IFND improves linear and semi-supervised accuracy: no seed-matched evaluations."]
    if missing:
        parts.append("not evaluated yet: " + ", ".join(missing))
    if all(v == "above zero" for v in resolved):
        word = "supported in every evaluation" if not missing else "supported in every evaluation found"
    elif "above zero" in resolved:
        word = "supported only where an interval clears zero"
    elif "below zero" in resolved:
        word = "contradicted where an interval lies below zero"
    else:
        word = "not resolved at this scale"
    out = ["(c) IFND improves linear and semi-supervised accuracy over SimCLR. IFND − SimCLR: "
           + "; ".join(parts) + f": {word}."]
    base = results.metric("main", "simclr", "linear")
    gain = paired_difference(results.metric("main", "ifnd", "linear"), base)
    oracle = paired_difference(results.metric("main", "oracle", "linear"), base)
    if gain.n and oracle.n and oracle.mean > 0:
        ifnd_lin, oracle_lin = results.metric("main", "ifnd", "linear"), results.metric("main", "oracle", "linear")
        seeds = [s for s in gain.seeds if s in oracle.seeds]
        # per-seed shares only where the oracle gains at every seed (else they are undefined)
        share_stat = (summarise({s: (ifnd_lin[s] - base[s]) / (oracle_lin[s] - base[s]) for s in seeds})
                      if all(oracle_lin[s] > base[s] for s in seeds) else summarise({}))
        text = (f"Oracle − SimCLR linear: {_points(oracle)}; IFND recovers "
                f"{100 * gain.mean / oracle.mean:.0f}% of it (ratio of the mean gains")
        if share_stat.n > 1:
            text += (f"; per-seed shares {100 * share_stat.mean:.0f}% [95% CI "
                     f"{100 * share_stat.ci_low:.0f}, {100 * share_stat.ci_high:.0f}]")
        out.append(text + ").")
    controls = [(name, label) for name, label in
                (("schedule_matched_oracle", "a perfect detector on IFND's schedule"),
                 ("precision_matched_oracle", "true false negatives degraded to IFND's measured precision "
                  "and recall, random errors"),
                 ("precision_matched_structured", "the same with errors drawn from the class confusion "
                  "of a SimCLR encoder's clusters"))
                if results.select("ablation", name)]
    for name, label in controls:
        vs_simclr = paired_difference(results.metric("ablation", name, "linear"), base)
        vs_ifnd = paired_difference(results.metric("main", "ifnd", "linear"),
                                    results.metric("ablation", name, "linear"))
        out.append(f"Control `{name}` ({label}): − SimCLR {_points(vs_simclr)}; IFND − it "
                   f"{_points(vs_ifnd)}.")
    return out


def claim_d(results: Results) -> list[str]:
    """Each ablation of Table 3 against the IFND default, seed-paired, in linear top-1: a
    difference below zero supports the default's choice, above zero speaks against it."""
    default = results.metric("main", "ifnd", "linear")
    parts = []
    for name, what in DESIGN.items():
        if not results.select("ablation", name):
            continue
        d = paired_difference(results.metric("ablation", name, "linear"), default)
        if not d.n:
            parts.append(f"{what}: not evaluated yet")
            continue
        parts.append(f"{what}: {_points(d)}, "
                     + _word(d, "against the default's choice", "supports the default's choice"))
    if not parts:
        return ["(d) The design choices (elimination, incremental acceptance, several levels, "
                "per-cluster ranking): no ablation results."]
    return ["(d) The design choices, each ablation − IFND default in linear top-1: "
            + "; ".join(parts) + "."]


def section_claims(results: Results) -> list[str]:
    lines = ["## The paper's four claims at this scale", "",
             "Each claim with the evidence for and against it, computed from the tables: "
             "seed-paired differences with 95% t intervals; \"not resolved at this scale\" where "
             f"an interval includes zero. Scored on the {results.split_name} split.", ""]
    for claim in (claim_a, claim_b, claim_c, claim_d):
        first, *more = claim(results)
        lines += [f"- {first}"] + [f"  - {text}" for text in more]
    return lines + [""]
