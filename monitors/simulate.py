"""Seeded synthetic paired outcomes, for calibration tests and benchmarks of the statistics.

Each item has a latent level shared by both variants (that is what pairing buys: the
difference cancels it); the candidate's outcome moves by ``shift[group]``. Items may share a
template: then the latent level is mostly the template's, and items of one template are
correlated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from trustwatch.common.groups import OVERALL
from trustwatch.common.metrics import METRICS_BY_KEY
from trustwatch.monitors.divergence import Mode, divergence
from trustwatch.monitors.gate import evaluate_gate
from trustwatch.monitors.outcomes import OutcomeTable
from trustwatch.monitors.policy import Policy, policy_from_dict

Kind = Literal["continuous", "binary"]


def _table_rows(
    probe: str,
    group_of: np.ndarray,
    template_of: np.ndarray | None,
    columns: Mapping[str, Mapping[str, np.ndarray]],
    start: int,
) -> list[dict[str, Any]]:
    """Outcome rows of ``columns[variant][metric]`` (NaN: the item has no such outcome)."""
    rows: list[dict[str, Any]] = []
    for variant, by_metric in columns.items():
        for metric, values in by_metric.items():
            for i in np.flatnonzero(~np.isnan(values)):
                row: dict[str, Any] = {
                    "item_id": start + int(i),
                    "variant": variant,
                    "probe": probe,
                    "group": group_of[i],
                    "metric": metric,
                    "value": float(values[i]),
                }
                if template_of is not None:
                    row["template"] = int(template_of[i])
                rows.append(row)
    return rows


def simulate_rows(
    n_items: int,
    rng: np.random.Generator,
    *,
    probe: str = "sim",
    metric: str = "score",
    kind: Kind = "continuous",
    groups: Sequence[str] = ("a", "b", "c", "d"),
    shift: float | Mapping[str, float] = 0.0,
    baseline: str = "original",
    candidate: str = "candidate",
    template_size: int | None = None,
    level: float = 0.3,
) -> list[dict[str, Any]]:
    """Rows for ``n_items`` items, each answered by both variants; groups assigned round-robin.

    continuous: value = latent + N(0, 0.1) noise per variant (+ shift for the candidate);
    binary: Bernoulli(clip(latent (+ shift))), latent ~ level + N(0, 0.1) clipped to [0.01, 0.99].
    ``template_size``: consecutive items share a template of that size (and most of their latent).
    """
    group_of = np.asarray(groups, dtype=object)[np.arange(n_items) % len(groups)]
    shifts = np.array([shift.get(g, 0.0) if isinstance(shift, Mapping) else shift for g in group_of])
    if template_size:
        template = np.arange(n_items) // template_size
        template_level = rng.normal(0.0, 0.1, size=int(template.max()) + 1)
        latent = level + template_level[template] + rng.normal(0.0, 0.03, size=n_items)
    else:
        template = None
        latent = level + rng.normal(0.0, 0.1, size=n_items)
    if kind == "continuous":
        base = latent + rng.normal(0.0, 0.1, size=n_items)
        cand = latent + shifts + rng.normal(0.0, 0.1, size=n_items)
    else:
        p = np.clip(latent, 0.01, 0.99)
        base = (rng.random(n_items) < p).astype(float)
        cand = (rng.random(n_items) < np.clip(p + shifts, 0.0, 1.0)).astype(float)
    return _table_rows(probe, group_of, template, {baseline: {metric: base}, candidate: {metric: cand}}, 0)


def calibration_policy(tolerance: float, *, resamples: int = 1000, min_items: int = 50) -> Policy:
    """Two rules over the simulated outcomes (a continuous score and a 0/1 flag), every group counted."""
    rules = [
        {"probe": "sim", "metric": metric, "worse": "higher", "tolerance": tolerance, "min_items": min_items}
        for metric in ("score", "flag")
    ]
    return policy_from_dict({"baseline": "original", "resamples": resamples, "rules": rules}, "<calibration>")


def gate_fail_rate(
    simulations: int,
    n_items: int,
    *,
    shift: float | Mapping[str, float] = 0.0,
    tolerance: float = 0.0,
    mode: Mode = "fixed",
    looks: int = 1,
    seed: int = 0,
    resamples: int = 1000,
) -> float:
    """Share of simulations in which the gate FAILs on outcomes of a continuous score and a 0/1 flag.

    With ``looks > 1`` the gate is evaluated after every slice of ``n_items / looks`` items (in the
    order they were drawn) and a simulation counts as FAIL when any look FAILs: peeking.
    """
    policy = calibration_policy(tolerance, resamples=resamples)
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(simulations):
        rows = simulate_rows(n_items, rng, metric="score", shift=shift)
        rows += simulate_rows(n_items, rng, metric="flag", kind="binary", shift=shift)
        for look in range(1, looks + 1):
            limit = n_items * look // looks
            table = OutcomeTable.from_rows(r for r in rows if r["item_id"] < limit)
            if evaluate_gate(table, policy, mode)[0].verdict == "FAIL":
                fails += 1
                break
    return fails / simulations


# ------------------------------------------------------------------------ coverage, few clusters
_BBQ_UNKNOWN = 0.15
"""Share of disambiguated answers that are "unknown" in the coverage simulation."""


def _bbq_template_params(
    rng: np.random.Generator, n_templates: int, shift: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per template: the baseline's biased share among non-unknown answers, the candidate's, the
    non-unknown share. The candidate moves each template by its own amount (mean ``shift`` / 2 on
    the biased share, so ``shift`` on the bias score), so the change is correlated within templates."""
    base = np.clip(0.55 + rng.normal(0.0, 0.15, n_templates), 0.02, 0.98)
    cand = np.clip(base + shift / 2.0 + rng.normal(0.0, 0.08, n_templates), 0.02, 0.98)
    answered = np.clip(1.0 - _BBQ_UNKNOWN + rng.normal(0.0, 0.05, n_templates), 0.5, 1.0)
    return base, cand, answered


def bbq_disambig_truth(shift: float, *, redraw: float = 0.3, draws: int = 2_000_000, seed: int = 12345) -> float:
    """The population degradation of ``bias_score_disambig`` of :func:`bbq_disambig_rows`:
    ratio of expected sums over the template distribution (template sizes are independent of
    the parameters, so they cancel), by Monte Carlo over ``draws`` templates."""
    base, cand, answered = _bbq_template_params(np.random.default_rng(seed), draws, shift)
    total = float(np.sum(answered))
    return redraw * 2.0 * (float(np.sum(answered * cand)) - float(np.sum(answered * base))) / total


def bbq_disambig_rows(
    n_templates: int,
    rng: np.random.Generator,
    *,
    shift: float = 0.0,
    items_per_template: tuple[int, int] = (10, 60),
    redraw: float = 0.3,
) -> list[dict[str, Any]]:
    """BBQ-like disambiguated outcomes of one category: ``n_templates`` templates of a random
    size in ``items_per_template``; the candidate answers an item anew with probability
    ``redraw`` (else as the baseline did), from its own template-level propensity."""
    base_p, cand_p, answered_p = _bbq_template_params(rng, n_templates, shift)
    sizes = rng.integers(items_per_template[0], items_per_template[1] + 1, size=n_templates)
    template = np.repeat(np.arange(n_templates), sizes)
    n = template.size
    answered = rng.random(n) < answered_p[template]
    biased = answered & (rng.random(n) < base_p[template])
    redrawn = rng.random(n) < redraw
    cand_answered = np.where(redrawn, rng.random(n) < answered_p[template], answered)
    cand_biased = np.where(redrawn, cand_answered & (rng.random(n) < cand_p[template]), biased)
    columns = {
        "original": {"biased_disambig": biased.astype(float), "non_unknown_disambig": answered.astype(float)},
        "candidate": {"biased_disambig": cand_biased.astype(float), "non_unknown_disambig": cand_answered.astype(float)},
    }
    return _table_rows("bbq", np.full(n, "category", dtype=object), template, columns, 0)


@dataclass(frozen=True)
class Coverage:
    clusters: int
    simulations: int
    miss: float
    """Share of intervals (expanded percentile, the gate's) that miss the true degradation."""
    miss_percentile: float
    """The same for the plain percentile interval of the same replicates."""
    width: float
    """Mean width of the gate's interval."""


def cluster_coverage(
    n_templates: int,
    simulations: int,
    *,
    shift: float = 0.1,
    redraw: float = 0.3,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Coverage:
    """How often simulated categories' ``bias_score_disambig`` intervals miss the true
    degradation (:func:`bbq_disambig_truth`), gate's interval and plain percentile."""
    truth = bbq_disambig_truth(shift, redraw=redraw)
    spec = METRICS_BY_KEY[("bbq", "bias_score_disambig")]
    rng = np.random.default_rng(seed)
    alpha = 1.0 - confidence
    misses, plain, widths = 0, 0, []
    for index in range(simulations):
        table = OutcomeTable.from_rows(bbq_disambig_rows(n_templates, rng, shift=shift, redraw=redraw))
        (row,) = [
            r
            for r in divergence(
                table, "original", "candidate", metrics=[spec], confidence=confidence,
                resamples=resamples, seed=seed + index,
            )
            if r.group == OVERALL
        ]
        misses += not (row.lower <= truth <= row.upper)
        replicates = getattr(row.sampler, "replicates", np.array([np.nan]))
        low, high = np.nanquantile(replicates, [alpha / 2.0, 1.0 - alpha / 2.0])
        plain += not (low <= truth <= high)
        widths.append(row.upper - row.lower)
    return Coverage(n_templates, simulations, misses / simulations, plain / simulations, float(np.mean(widths)))


# ------------------------------------------------------------------ PASS power at public sizes
PUBLIC_SIZES: dict[str, dict[str, int]] = {
    "bbq": {
        "Age": 3680,
        "Disability_status": 1556,
        "Nationality": 3080,
        "Physical_appearance": 1576,
        "Religion": 1200,
        "Sexual_orientation": 864,
    },
    "crows_pairs": {
        "race-color": 516,
        "gender": 262,
        "socioeconomic": 172,
        "nationality": 159,
        "religion": 105,
        "age": 87,
        "sexual-orientation": 84,
        "physical-appearance": 63,
        "disability": 60,
    },
    "stereotype_agreement": {f"target group {k:02d}": 48 for k in range(24)},
    "toxicity": {"toxic": 1196, "nontoxic": 1200},
    "dialect": {"habitual_be": 699},
    "perplexity": {f"axis {k:02d}": 31 if k < 10 else 30 for k in range(13)},
}
"""Items per group of the datasets in ``../shared/probesets`` as ``probes/configs/public-probesets.yaml``
loads them (BBQ 6 categories x 25 templates, CrowS-Pairs 9 bias types, DecodingTrust stereotype
24 target groups x 16 topics x 3 system prompts, DecodingTrust toxicity 2 prompt sets, habitual-be
dialect pairs, HolisticBias limited to 400 texts over 13 axes)."""
PUBLIC_TEMPLATES = {"bbq": 25, "stereotype_agreement": 16}
"""Template clusters per group (BBQ: per category; DecodingTrust: topics, shared by the groups)."""


@dataclass(frozen=True)
class NoShift:
    """How a candidate with no true shift differs from the baseline (a near-lossless variant).

    Every variant gets the same sampling seeds (``probes/sampling.py``), so an unchanged model
    answers identically; a variant changes some answers. ``likelihood``: share of
    likelihood-probe items (CrowS-Pairs, BBQ) whose choice is redrawn; ``generation``: share of
    generated samples (toxicity, stereotype agreement) redrawn; ``nll``: relative noise of an
    item's negative log-likelihood.
    """

    likelihood: float = 0.05
    generation: float = 0.2
    nll: float = 0.003


def _groups(sizes: Mapping[str, int]) -> np.ndarray:
    return np.concatenate([np.full(n, g, dtype=object) for g, n in sizes.items()])


def _choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    return (rng.random(probs.shape[0])[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)


def public_rows(
    rng: np.random.Generator,
    *,
    noise: NoShift = NoShift(),
    shift: Mapping[tuple[str, str, str], float] | None = None,
    sizes: Mapping[str, Mapping[str, int]] = PUBLIC_SIZES,
    k: int = 2,
) -> list[dict[str, Any]]:
    """Outcomes of a baseline ``original`` and a ``candidate`` on every probe of ``sizes``.

    ``shift``: planted degradations by (probe, metric, group), for ``("bbq",
    "bias_score_disambig", g)`` (answered non-biased answers turn biased), ``("crows_pairs",
    "stereotype_score", g)`` (points), ``("stereotype_agreement", "agreement_index", g)`` and
    ``("toxicity", "toxicity_probability", g)``; a candidate at that shift sits at the degradation
    it names (in expectation).
    """
    shift = dict(shift or {})
    rows: list[dict[str, Any]] = []
    start = 0
    base, cand = "original", "candidate"
    # BBQ: per item one answer of 3 kinds (0 unknown, 1 the biased target, 2 the other);
    # ambiguous items (even positions) have "unknown" as the label.
    if "bbq" in sizes:
        group_of = _groups(sizes["bbq"])
        n, per = group_of.size, PUBLIC_TEMPLATES["bbq"]
        codes = {g: j for j, g in enumerate(sizes["bbq"])}
        position = np.concatenate([np.arange(m) for m in sizes["bbq"].values()])
        template = np.array([codes[g] for g in group_of]) * per + position % per
        ambiguous = position % 2 == 0
        unknown_t = np.clip(0.45 + rng.normal(0, 0.15, template.max() + 1), 0.05, 0.95)
        biased_t = np.clip(0.55 + rng.normal(0, 0.1, template.max() + 1), 0.05, 0.95)
        unknown = np.where(ambiguous, unknown_t[template], 0.15)
        biased = biased_t[template]
        probs = np.column_stack([unknown, (1 - unknown) * biased, (1 - unknown) * (1 - biased)])
        answer = _choice(rng, probs)
        new = np.where(rng.random(n) < noise.likelihood, _choice(rng, probs), answer)
        for (probe, metric, group), delta in shift.items():
            if (probe, metric) == ("bbq", "bias_score_disambig"):
                # Move delta / 2 of the answered share from the other to the biased target.
                turn = (group_of == group) & ~ambiguous & (new == 2)
                new = np.where(turn & (rng.random(n) < delta / 2.0 / (1 - biased)), 1, new)
        label_biased = position % 4 == 1
        columns: dict[str, dict[str, np.ndarray]] = {}
        for variant, chosen in ((base, answer), (cand, new)):
            nan = np.full(n, np.nan)
            columns[variant] = {
                "correct_ambig": np.where(ambiguous, chosen == 0, nan),
                "non_unknown_ambig": np.where(ambiguous, chosen != 0, nan),
                "biased_ambig": np.where(ambiguous, chosen == 1, nan),
                "correct_disambig": np.where(ambiguous, nan, np.where(label_biased, chosen == 1, chosen == 2)),
                "non_unknown_disambig": np.where(ambiguous, nan, chosen != 0),
                "biased_disambig": np.where(ambiguous, nan, chosen == 1),
            }
        rows += _table_rows("bbq", group_of, template, columns, start)
        start += n
    if "crows_pairs" in sizes:
        group_of = _groups(sizes["crows_pairs"])
        n = group_of.size
        p = np.clip(0.55 + rng.normal(0, 0.25, n), 0.02, 0.98)
        prefer = rng.random(n) < p
        new = np.where(rng.random(n) < noise.likelihood, rng.random(n) < p, prefer)
        for (probe, metric, group), delta in shift.items():
            if (probe, metric) == ("crows_pairs", "stereotype_score"):
                turn = (group_of == group) & ~new
                new = np.where(turn & (rng.random(n) < (delta / 100.0) / (1 - p.mean())), True, new)
        columns = {base: {"stereotype_preferred": prefer.astype(float)},
                   cand: {"stereotype_preferred": new.astype(float)}}
        rows += _table_rows("crows_pairs", group_of, None, columns, start)
        start += n
    if "stereotype_agreement" in sizes:
        group_of = _groups(sizes["stereotype_agreement"])
        n, topics = group_of.size, PUBLIC_TEMPLATES["stereotype_agreement"]
        position = np.concatenate([np.arange(m) for m in sizes["stereotype_agreement"].values()])
        template = position % topics
        agree_i = np.clip(0.3 + rng.normal(0, 0.1, topics)[template] + rng.normal(0, 0.1, n), 0.01, 0.9)
        probs = np.column_stack([agree_i, 0.9 - agree_i, np.full(n, 0.1)])
        planted = np.zeros(n)
        for (probe, metric, group), delta in shift.items():
            if (probe, metric) == ("stereotype_agreement", "agreement_index"):
                planted += np.where(group_of == group, delta, 0.0)
        moved = np.column_stack([agree_i + planted, 0.9 - agree_i - planted, np.full(n, 0.1)])
        samples = np.stack([_choice(rng, probs) for _ in range(k)], axis=1)
        redraw = rng.random((n, k)) < np.maximum(noise.generation, (planted > 0)[:, None])
        redrawn = np.stack([_choice(rng, moved) for _ in range(k)], axis=1)
        new = np.where(redraw, redrawn, samples)
        columns = {
            variant: {
                "agree": (s == 0).mean(axis=1),
                "disagree": (s == 1).mean(axis=1),
                "unparsed": (s == 2).mean(axis=1),
            }
            for variant, s in ((base, samples), (cand, new))
        }
        rows += _table_rows("stereotype_agreement", group_of, template, columns, start)
        start += n
    if "toxicity" in sizes:
        group_of = _groups(sizes["toxicity"])
        n = group_of.size
        mean_i = np.where(group_of == "toxic", 0.25, 0.06) * np.exp(rng.normal(0, 0.5, n))
        mean_i = np.clip(mean_i, 0.005, 0.95)
        concentration = 4.0

        def draw() -> np.ndarray:
            return rng.beta(mean_i * concentration, (1 - mean_i) * concentration, size=(k, n)).T

        scores, again = draw(), draw()
        planted = np.zeros(n)
        for (probe, metric, group), delta in shift.items():
            if (probe, metric) == ("toxicity", "toxicity_probability"):
                planted += np.where(group_of == group, delta, 0.0)
        new = np.where(rng.random((n, k)) < noise.generation, again, scores)
        force = rng.random(n) < planted
        new[force, 0] = np.maximum(new[force, 0], 0.5 + 0.5 * rng.random(int(force.sum())))
        degenerate = (rng.random((n, k)) < 0.02).mean(axis=1)
        new_degenerate = np.where(rng.random(n) < noise.generation, (rng.random((n, k)) < 0.02).mean(axis=1), degenerate)
        columns = {
            variant: {
                "max_toxicity": s.max(axis=1),
                "toxic": (s.max(axis=1) >= 0.5).astype(float),
                "degenerate": d,
            }
            for variant, s, d in ((base, scores, degenerate), (cand, new, new_degenerate))
        }
        rows += _table_rows("toxicity", group_of, None, columns, start)
        start += n
    for probe, suffixes in (("dialect", ("_aae", "_sae")), ("perplexity", ("",))):
        if probe not in sizes:
            continue
        group_of = _groups(sizes[probe])
        n = group_of.size
        columns = {base: {}, cand: {}}
        for suffix in suffixes:
            tokens = rng.integers(8, 40, n).astype(float)
            nll = tokens * np.clip(rng.normal(4.0, 0.8, n), 0.5, None)
            columns[base] |= {f"nll{suffix}": nll, f"tokens{suffix}": tokens}
            columns[cand] |= {f"nll{suffix}": nll * (1 + rng.normal(0, noise.nll, n)), f"tokens{suffix}": tokens}
        rows += _table_rows(probe, group_of, None, columns, start)
        start += n
    return rows


@dataclass
class RuleSummary:
    """One rule over the simulations of :func:`public_power`."""

    rule: str
    tolerance: float
    rows: int
    min_items: int
    """Paired items of the smallest counted group."""
    flip_rate: float | None
    """Mean flip rate of the smallest group (binary outcomes)."""
    half_width: float
    """Mean upper bound minus estimate of the smallest group (the margin a PASS needs)."""
    passed: float
    """Share of simulations in which every counted row of the rule passed."""


@dataclass
class Power:
    simulations: int
    verdicts: dict[str, int]
    rules: list[RuleSummary]
    notes: list[str]

    def rate(self, verdict: str) -> float:
        return self.verdicts.get(verdict, 0) / self.simulations


def public_power(
    simulations: int,
    policy: Policy,
    *,
    noise: NoShift = NoShift(),
    shift: Mapping[tuple[str, str, str], float] | None = None,
    sizes: Mapping[str, Mapping[str, int]] = PUBLIC_SIZES,
    mode: Mode = "fixed",
    seed: int = 0,
) -> Power:
    """Verdicts of ``policy`` on ``simulations`` seeded candidates at public sizes, and per rule
    the quantities of the power analysis."""
    rng = np.random.default_rng(seed)
    verdicts: dict[str, int] = {}
    stats: dict[str, dict[str, list[float]]] = {}
    notes: list[str] = []
    for _ in range(simulations):
        table = OutcomeTable.from_rows(public_rows(rng, noise=noise, shift=shift, sizes=sizes))
        (verdict,) = evaluate_gate(table, policy, mode)
        verdicts[verdict.verdict] = verdicts.get(verdict.verdict, 0) + 1
        notes = verdict.notes
        by_rule: dict[str, list[Any]] = {}
        for row in verdict.rows:
            by_rule.setdefault(row.rule, []).append(row)
        for rule, gate_rows in by_rule.items():
            entry = stats.setdefault(rule, {"rows": [], "items": [], "flip": [], "half": [], "pass": [], "tol": []})
            measured = [r for r in gate_rows if r.divergence is not None]
            smallest = min(measured, key=lambda r: r.divergence.n_items) if measured else None
            entry["rows"].append(len(gate_rows))
            entry["tol"].append(gate_rows[0].tolerance)
            entry["pass"].append(float(all(r.status == "pass" for r in gate_rows)))
            if smallest is not None and smallest.divergence is not None:
                d = smallest.divergence
                entry["items"].append(d.n_items)
                if d.flip_rate is not None:
                    entry["flip"].append(d.flip_rate)
                entry["half"].append(d.upper - d.degradation)
    rules = [
        RuleSummary(
            rule,
            e["tol"][0],
            int(max(e["rows"])),
            int(min(e["items"])) if e["items"] else 0,
            float(np.mean(e["flip"])) if e["flip"] else None,
            float(np.nanmean(e["half"])) if e["half"] else math.nan,
            float(np.mean(e["pass"])),
        )
        for rule, e in stats.items()
    ]
    return Power(simulations, verdicts, rules, notes)


@dataclass(frozen=True)
class ItemsNeeded:
    """One simulated sequential run: what the first INCONCLUSIVE look predicted and what was needed."""

    first_look: int
    """Items per group at the first look."""
    predicted: int
    """First look + its ``items_needed`` (items per group)."""
    actual: int | None
    """Items per group at the first look that PASSed (None: not within the items drawn)."""


def sequential_items_needed(
    simulations: int,
    *,
    tolerance: float = 0.03,
    first_look: int = 100,
    step: int = 25,
    max_per_group: int = 2000,
    seed: int = 0,
) -> list[ItemsNeeded]:
    """Sequential mode on a no-shift candidate (continuous score, 4 groups): the verdict's
    ``items_needed`` at the first look against the items per group at which it first PASSed,
    looking every ``step`` items per group."""
    policy = policy_from_dict(
        {
            "baseline": "original",
            "mode": "sequential",
            "rules": [{"probe": "sim", "metric": "score", "worse": "higher", "tolerance": tolerance, "min_items": 20}],
        },
        "<sequential items_needed>",
    )
    groups = 4
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(simulations):
        rows = simulate_rows(max_per_group * groups, rng, metric="score")
        predicted, actual = 0, None
        for per_group in range(first_look, max_per_group + 1, step):
            limit = per_group * groups
            (verdict,) = evaluate_gate(OutcomeTable.from_rows(r for r in rows if r["item_id"] < limit), policy)
            if per_group == first_look:
                predicted = per_group + (verdict.items_needed or 0)
            if verdict.verdict == "PASS":
                actual = per_group
                break
        out.append(ItemsNeeded(first_look, predicted, actual))
    return out
