"""The report's reading of the paper's four claims at this scale, computed from the results.

The claims, from the paper's abstract (docs/method.md):

(a) false negatives hurt more when there are more semantic classes;
(b) as the encoder improves, IFND detects increasingly many, high-quality false negatives;
(c) IFND improves linear and semi-supervised (1% / 10% labels) accuracy over SimCLR;
(d) elimination is the better removal strategy, and the design (incremental acceptance,
    several clustering levels, confidence ranking within clusters) is what makes IFND work.

Each is stated with the evidence for and against it, by the rules written down in
docs/method.md (Verdicts) before the runs: seed-paired differences with 95% t intervals
(:mod:`ifnd.report.stats`); within one claim, Holm's correction over its comparisons; beside
every comparison that does not resolve, the smallest effect its seeds could detect (a paired t
test at 5% with 80% power), and "underpowered (detectable: X points)" where that is larger than
IFND's own linear gain; detection numbers beside their floors (the detector on raw pixels and on
the random-init encoder, ``ifnd detect-floor``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..runspec import class_sweep_match, pair_confusability
from ..vocabulary import EVALUATION_LABELS
from .collect import FLOOR_SPACES, Results, read_csv
from .stats import (Stat, detectable_effect, holm, p_value, paired_difference, partial_slope, slope, summarise,
                    unpaired_difference, verdict)

# Table 3's ablations and what each one tests of claim (d) (a positive difference to the default
# speaks against the default's choice)
DESIGN = {"attraction": "attraction instead of elimination",
          "all_at_once": "the final acceptance rate from the first clustering instead of a ramp",
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


def ifnd_gain(results: Results) -> Stat:
    """IFND − SimCLR in linear top-1, seed-paired: the effect size every power statement of the
    report is measured against."""
    return paired_difference(results.metric("main", "ifnd", "linear"),
                             results.metric("main", "simclr", "linear"))


def _power(d: Stat, effect: float) -> str:
    """"" where ``d`` resolves or detects ``effect``; else the detectable effect, and
    "underpowered" where it exceeds ``effect`` (both in points)."""
    mde = detectable_effect(d.std, d.n)
    if not math.isfinite(mde) or verdict(d) in ("above zero", "below zero"):
        return ""
    if math.isfinite(effect) and mde > abs(effect):
        return (f"underpowered (detectable: {100 * mde:.2f} points at 80% power, against IFND's "
                f"gain of {100 * abs(effect):.2f})")
    return f"not resolved although the seeds could detect {100 * mde:.2f} points"


def _holm_text(adj: tuple[float, bool]) -> str:
    p, rejected = adj
    if not math.isfinite(p):
        return ""
    return f"Holm-adjusted p = {p:.3f}" + (" (holds)" if rejected else " (does not hold)")


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


def class_measures(results: Results) -> dict[int, dict[str, dict[int, float]]]:
    """class count -> {"gap": seed -> oracle − SimCLR linear top-1, "relative": seed -> the
    share of SimCLR's linear error the oracle removes, (oracle − SimCLR) / (1 − SimCLR),
    "error": seed -> SimCLR's linear error}."""
    full = results.full_class_count()
    out = {}
    for n, gaps in class_gaps(results).items():
        classes = None if n == full and not results.select("classes", "simclr", n) else n
        group = "main" if classes is None else "classes"
        base = results.metric(group, "simclr", "linear", classes=classes)
        rel = {s: g / (1 - base[s]) for s, g in gaps.items() if base[s] < 1}
        out[n] = {"gap": gaps, "relative": rel, "error": {s: 1 - base[s] for s in gaps}}
    return out


def claim_a(results: Results) -> list[str]:
    """The oracle − SimCLR gap at each class count, absolute and as the share of SimCLR's error
    it removes, and whether either is larger with the most classes than with the fewest. Runs of
    different class subsets share only a seed number, so the counts are compared with unpaired
    (Welch) intervals; the verdict is "inconclusive" where the two measures disagree."""
    measures = class_measures(results)
    if len(measures) < 2:
        return ["(a) More classes, more harm from false negatives: needs the class sweep and the "
                "main runs (oracle and SimCLR); not enough results."]
    parts = [f"{n} classes: gap {_points(summarise(m['gap']))}, {100 * summarise(m['relative']).mean:.0f}% "
             f"of SimCLR's error ({100 * summarise(m['error']).mean:.1f}%)" for n, m in measures.items()]
    fewest, most = min(measures), max(measures)
    absolute = unpaired_difference(measures[most]["gap"], measures[fewest]["gap"])
    relative = unpaired_difference(measures[most]["relative"], measures[fewest]["relative"])
    words = {verdict(absolute), verdict(relative)}
    if words == {"above zero"}:
        word = "supported: both measures grow with the number of classes"
    elif words == {"below zero"}:
        word = "contradicted: both measures shrink with the number of classes"
    elif words == {"above zero", "below zero"} or (
            absolute.n and relative.n and math.copysign(1, absolute.mean) != math.copysign(1, relative.mean)):
        word = "inconclusive: the absolute gap and the relative error reduction point opposite ways"
    else:
        word = "not resolved at this scale"
    rel_text = (f"{100 * relative.mean:+.0f} points of relative error reduction"
                + (f" [95% CI {100 * relative.ci_low:+.0f}, {100 * relative.ci_high:+.0f}]"
                   if relative.n > 1 else " (no interval)"))
    held = difficulty_held_fixed(measures)
    if held.n >= 4 and verdict(held) in ("above zero", "below zero") and word.startswith("not resolved"):
        word = ("supported with difficulty held fixed" if verdict(held) == "above zero"
                else "contradicted with difficulty held fixed")
    if not math.isfinite(held.mean):  # a collinear fit gives no coefficient
        held = Stat(0)
    held_text = (f"With SimCLR's error held fixed (least squares over the {held.n} runs: gap ~ classes "
                 f"+ SimCLR error), each further class changes the gap by {100 * held.mean:+.2f} points"
                 + (f" [95% CI {100 * held.ci_low:+.2f}, {100 * held.ci_high:+.2f}]" if held.n >= 4 else
                    " (too few runs for an interval)") + "." if held.n >= 3 else
                 "Too few runs to hold difficulty fixed by regression.")
    return ["(a) More classes, more harm from false negatives. Oracle − SimCLR linear: "
            + "; ".join(parts) + f". {most} against {fewest} classes (unpaired, Welch): gap "
            + _points(absolute).replace(" seeds", " seeds in the smaller group") + f", {rel_text}: {word}. "
            "The class count also changes the task's difficulty (SimCLR's error above), so neither "
            f"comparison alone isolates the number of classes; {_subsets_text(results)} {held_text}"]


def _subsets_text(results: Results) -> str:
    """How the class sweep chose its subsets (``workflow.class_sweep_match``)."""
    match = class_sweep_match(results.cfg) if results.cfg is not None else None
    if match:
        return (f"the class subsets are matched on difficulty (each one's pairs on average as confusable "
                f"as the full set's, by the class confusion of `{match}`{_achieved(results, match)}), so the "
                "count, not the classes drawn, is what changes, though each further class adds alternatives "
                "per image.")
    return "the class subsets are random draws per seed, so their difficulty varies at a fixed count."


def _achieved(results: Results, match: str) -> str:
    """"; the subsets' mean pair confusability (full set 1): 2 classes 0.91-1.19, ..." from the
    classes the sweep's SimCLR runs recorded; "" where the file or the runs are missing."""
    total = results.full_class_count()
    if not total or not Path(match).is_file():
        return ""
    try:
        pairs = pair_confusability(match, total)
    except UserError:
        return ""
    parts = []
    for n in results.class_counts("simclr"):
        values = []
        for run in results.select("classes", "simclr", n):
            classes = run.cfg("data.classes")
            if isinstance(classes, list) and len(classes) >= 2 and max(classes) < total:
                block = pairs[np.ix_(classes, classes)]
                values.append(float(block[np.triu_indices(len(classes), 1)].mean()))
        if values:
            parts.append(f"{n} classes {min(values):.2f}" + (f"-{max(values):.2f}" if len(values) > 1 else ""))
    return ("; the subsets' mean pair confusability, full set 1: " + ", ".join(parts)) if parts else ""


def difficulty_held_fixed(measures: dict) -> Stat:
    """The oracle − SimCLR gap's change per class with SimCLR's linear error held fixed: the
    coefficient of the class count in a least-squares fit over every (class count, seed) run,
    gap ~ 1 + classes + error (:func:`ifnd.report.stats.partial_slope`)."""
    points = [(n, m["gap"][s], m["error"][s]) for n, m in measures.items() for s in m["gap"]]
    return partial_slope([p[1] for p in points], [p[0] for p in points], [p[2] for p in points])


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


def detection_trend(results: Results, rate: float = 0.5) -> dict[str, dict]:
    """method -> {"series": seed -> epoch -> precision, "recall": the same for recall,
    "slope": :func:`slope` of the precision (per epoch), "final": precision at the last kept
    epoch (Stat over seeds)} of the run's own setting at acceptance ``rate``."""
    series: dict[str, dict[int, dict[int, float]]] = {}
    recall: dict[str, dict[int, dict[int, float]]] = {}
    for run, rows in detect_rows(results):
        method, seed = run.split("/")[1], int(run.split("/")[2][1:])
        at = rows[(rows["rate"] - rate).abs() < 1e-9]
        series.setdefault(method, {})[seed] = dict(zip(at["epoch"].astype(int), at["precision"].astype(float)))
        recall.setdefault(method, {})[seed] = dict(zip(at["epoch"].astype(int), at["recall"].astype(float)))
    out = {}
    for method, per_seed in series.items():
        final = {s: v[max(v)] for s, v in per_seed.items() if v}
        out[method] = {"series": per_seed, "recall": recall[method], "slope": slope(per_seed),
                       "final": summarise(final)}
    return out


def floor_text(results: Results, rate: float, space: str = "pixels") -> str:
    """"raw pixels 21.5% / 36.2%" (precision / recall, mean over seeds) of a detection floor."""
    at = results.floor(space, rate)
    if not at:
        return ""
    p = summarise({s: v[0] for s, v in at.items()})
    r = summarise({s: v[1] for s, v in at.items()})
    return f"{FLOOR_SPACES[space]} {100 * p.mean:.1f}% / {100 * r.mean:.1f}%"


def claim_b(results: Results, rate: float = 0.5) -> list[str]:
    """Precision of the run's own detection setting at a fixed acceptance rate over the kept
    encoders: the per-seed least-squares slope over epochs with its interval across seeds, the
    final precision, and the floors at the same rate. SimCLR's encoder never trains on its
    clusters (the clean test); IFND's does, so its trend is partly circular."""
    trends = detection_trend(results, rate)
    if not trends:
        return ["(b) Detection quality rises as the encoder improves: needs the detection study "
                "(`ifnd detect`); not found."]
    floors = [f for f in (floor_text(results, rate, s) for s in FLOOR_SPACES) if f]
    texts, words = [], {}
    for method in ("simclr", "ifnd", *sorted(set(trends) - {"simclr", "ifnd"})):
        if method not in trends:
            continue
        tr = trends[method]
        s, final = tr["slope"], tr["final"]
        if s.n == 0:
            continue
        epochs = sorted({e for v in tr["series"].values() for e in v})
        per10 = s.scaled(10)
        slope_text = (f"slope {100 * per10.mean:+.2f} points per 10 epochs"
                      + (f" [95% CI {100 * per10.ci_low:+.2f}, {100 * per10.ci_high:+.2f}], {s.n} seeds"
                         if s.n > 1 else " (one seed, no interval)"))
        words[method] = {"above zero": "rises", "below zero": "falls", "not resolved": "not resolved",
                         "one seed": "one seed"}.get(verdict(s), "no data")
        note = " (trains on its own clusters: partly circular)" if method == "ifnd" else ""
        texts.append(f"{method}{note}: precision over epochs {epochs[0]}–{epochs[-1]}, {slope_text}; "
                     f"final {100 * final.mean:.1f}%: {words[method]}")
    clean = words.get("simclr")
    word = {"rises": "supported on SimCLR's encoder (the clean test)",
            "falls": "contradicted on SimCLR's encoder (the clean test)",
            "not resolved": "not resolved on SimCLR's encoder (the slope's interval includes zero)",
            "one seed": "not resolved: one SimCLR seed gives no interval"}.get(clean, "no SimCLR encoder studied")
    out = [f"(b) Detection quality rises as the encoder improves, measured at a fixed acceptance "
           f"rate of {rate:g} with the run's own setting: " + "; ".join(texts) + f". Verdict: {word}."]
    if floors:
        out.append(f"Floors at rate {rate:g} (precision / recall, the detector on inputs no "
                   f"training touched): " + ", ".join(floors) + ".")
    return out


def claim_c(results: Results) -> list[str]:
    """IFND − SimCLR in every evaluation, and the share of the oracle's linear gain IFND
    recovers, against the attribution controls where they ran."""
    if not results.select("main", "simclr") or not results.select("main", "ifnd"):
        return ["(c) IFND improves linear and semi-supervised accuracy: needs the SimCLR and IFND "
                "main runs; not found."]
    parts, resolved, missing, diffs = [], [], [], {}
    for evaluation, label in EVALUATION_LABELS.items():
        d = paired_difference(results.metric("main", "ifnd", evaluation),
                              results.metric("main", "simclr", evaluation))
        if d.n:
            diffs[label] = d
        else:
            missing.append(label)
    adjusted = holm({label: p_value(d) for label, d in diffs.items()})
    for label, d in diffs.items():
        extra = [x for x in (f"p = {p_value(d):.3f}" if math.isfinite(p_value(d)) else "",
                             _holm_text(adjusted[label]),
                             f"detectable {100 * detectable_effect(d.std, d.n):.2f}"
                             if math.isfinite(detectable_effect(d.std, d.n)) else "") if x]
        parts.append(f"{label} {_points(d)}" + (f" ({'; '.join(extra)})" if extra else ""))
        resolved.append(verdict(d))
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
    held = [label for label, (p, ok) in adjusted.items() if ok]
    if len(diffs) > 1 and any(math.isfinite(p) for p, _ in adjusted.values()):
        word += (f"; after Holm's correction over the {len(diffs)} evaluations, "
                 + (f"{len(held)} of {len(diffs)} hold ({', '.join(held)})" if held else "none holds"))
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
                 ("ifnd_matched_random", "true false negatives degraded to IFND's precision and recall "
                  "of the same seed, on IFND's schedule, random errors"),
                 ("ifnd_matched_structured", "the same with errors drawn from the class confusion of a "
                  "SimCLR encoder's clusters"),
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
    return out + chain_text(results)


# the links of the attribution chain: (name, run group, method or ablation name) from the
# oracle down to IFND; each step's loss is the seed-paired difference of two neighbours
CHAIN = (("oracle", "main", "oracle"),
         ("schedule", "ablation", "schedule_matched_oracle"),
         ("detection", "ablation", "ifnd_matched_random"),
         ("ifnd", "main", "ifnd"))
CHAIN_STEPS = {"schedule": "lost to IFND's schedule (oracle − perfect detector on IFND's schedule)",
               "detection": "lost to IFND's detection quality (perfect detector on the schedule − "
                            "true labels at IFND's precision and recall on the schedule)",
               "ifnd": "lost to the rest (the matched control − IFND: which pairs are wrong, the "
                       "embedding drift between clusterings)"}


def attribution_chain(results: Results, structured: bool = False) -> list[tuple[str, Stat]] | None:
    """[("gain", oracle − SimCLR), ("schedule", loss), ("detection", loss), ("ifnd", loss),
    ("ifnd_gain", IFND − SimCLR)] in linear top-1, each seed-paired; None until every link has
    run. ``structured`` uses the control with errors shaped like a detector's."""
    chain = [(name, group, (label.replace("_random", "_structured") if structured else label))
             for name, group, label in CHAIN]
    metric = {name: results.metric(group, label, "linear") for name, group, label in chain}
    base = results.metric("main", "simclr", "linear")
    if not all(metric.values()) or not base:
        return None
    out = [("gain", paired_difference(metric["oracle"], base))]
    for (upper, _, _), (lower, _, _) in zip(chain, chain[1:]):
        out.append((lower, paired_difference(metric[upper], metric[lower])))
    out.append(("ifnd_gain", paired_difference(metric["ifnd"], base)))
    return out


def chain_text(results: Results) -> list[str]:
    out = []
    for structured in (False, True):
        chain = attribution_chain(results, structured)
        if chain is None:
            continue
        steps = dict(chain)
        errors = "structured" if structured else "random"
        out.append(f"Attribution chain ({errors} errors), linear top-1: oracle gain {_points(steps['gain'])}; "
                   + "; ".join(f"{CHAIN_STEPS[k]} {_points(steps[k])}" for k in ("schedule", "detection", "ifnd"))
                   + f"; IFND's gain {_points(steps['ifnd_gain'])}.")
    return out


def claim_d(results: Results) -> list[str]:
    """Each ablation of Table 3 against the IFND default, seed-paired, in linear top-1: a
    difference below zero supports the default's choice, above zero speaks against it. Holm's
    correction runs over the ablations; one that does not resolve and could not have detected
    an effect as large as IFND's gain is "underpowered"."""
    default = results.metric("main", "ifnd", "linear")
    gain = ifnd_gain(results).mean
    diffs, parts = {}, []
    for name, what in DESIGN.items():
        if not results.select("ablation", name):
            continue
        d = paired_difference(results.metric("ablation", name, "linear"), default)
        if not d.n:
            parts.append(f"{what}: not evaluated yet")
            continue
        diffs[name] = (what, d)
    adjusted = holm({name: p_value(d) for name, (_, d) in diffs.items()})
    for name, (what, d) in diffs.items():
        power = _power(d, gain)
        word = (power if power.startswith("underpowered")
                else _word(d, "against the default's choice", "supports the default's choice"))
        extra = _holm_text(adjusted[name]) if verdict(d) in ("above zero", "below zero") else ""
        parts.append(f"{what}: {_points(d)}, {word}" + (f" ({extra})" if extra else ""))
    if not parts:
        return ["(d) The design choices (elimination, incremental acceptance, several levels, "
                "per-cluster ranking): no ablation results."]
    return ["(d) The design choices, each ablation − IFND default in linear top-1 (Holm over the "
            f"{len(diffs)} ablations): " + "; ".join(parts) + "."]


def section_claims(results: Results) -> list[str]:
    lines = ["## The paper's four claims at this scale", "",
             "Each claim with the evidence for and against it, computed from the tables by the "
             "rules of docs/method.md (Verdicts): seed-paired differences with 95% t intervals; "
             "Holm's correction over the comparisons of one claim; \"underpowered (detectable: X "
             "points)\" where the seeds could not detect an effect as large as IFND's gain, \"not "
             "resolved\" where they could and the interval still includes zero; detection numbers "
             f"beside their floors. Scored on the {results.split_name} split. The per-seed values "
             "behind every interval are in `tables/*_per_seed.csv`; every comparison's detectable "
             "effect and the seeds it would need are in `tables/power.md`.", ""]
    for claim in (claim_a, claim_b, claim_c, claim_d):
        first, *more = claim(results)
        lines += [f"- {first}"] + [f"  - {text}" for text in more]
    return lines + [""]
