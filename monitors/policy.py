"""The gate policy: which (probe, metric) pairs count, with what tolerance and confidence.

A policy is YAML (see ``default_policy.yaml``, the documented default, and ``README.md``)::

    baseline: original
    confidence: 0.95
    rules:
      - probe: crows_pairs
        metric: stereotype_preferred
        worse: higher          # or lower; fixed by the definition for METRICS
        tolerance: 0.02        # in the metric's unit; with relative: true, a fraction of the baseline
        groups: worst          # every group (and the overall value) counts; overall; or a list of groups
        min_items: 50

Unknown keys are errors (a typo must not silently loosen a gate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

from trustwatch.common.errors import ConfigError
from trustwatch.common.groups import OVERALL
from trustwatch.common.metrics import Worse
from trustwatch.common.schema import Reader, parse_yaml
from trustwatch.monitors.divergence import MODES, Mode, resolve_metric
from trustwatch.monitors.fdr import PROCEDURE_NAMES, Procedure

DEFAULT_POLICY = "default_policy.yaml"
GROUP_MODES = ("worst", "overall")

_TOP_KEYS = {"baseline", "confidence", "fdr", "mode", "resamples", "seed", "sequential", "defaults", "rules"}
_RULE_KEYS = {
    "probe",
    "metric",
    "worse",
    "tolerance",
    "relative",
    "groups",
    "min_items",
    "confidence",
    "utility",
    "required",
}
_DEFAULT_KEYS = {"groups", "min_items", "relative"}


class PolicyError(ConfigError):
    """A bad policy: the message names the file and the key."""


@dataclass(frozen=True)
class Rule:
    probe: str
    metric: str
    tolerance: float
    worse: Worse | None = None
    """None: the metric's own direction (METRICS, or the known outcome columns)."""
    relative: bool = False
    """Tolerance and degradation as a fraction of the baseline value."""
    groups: str | tuple[str, ...] = "worst"
    min_items: int = 50
    confidence: float | None = None
    """None: the policy's confidence."""
    utility: bool = False
    """A failing utility rule makes the verdict FAIL as degenerate."""
    required: bool = False
    """Absent outcomes make the verdict INCONCLUSIVE instead of skipping the rule."""

    @property
    def key(self) -> str:
        return f"{self.probe}/{self.metric}"


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    baseline: str = "original"
    confidence: float = 0.95
    fdr: Procedure = "bh"
    mode: Mode = "fixed"
    resamples: int = 2000
    seed: int = 0
    optimize_at: float = 1000.0
    source: str = "<policy>"

    def confidence_of(self, rule: Rule) -> float:
        return rule.confidence if rule.confidence is not None else self.confidence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _groups(reader: Reader, where: str, value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str) and value in GROUP_MODES:
        return value
    if isinstance(value, list) and value and all(isinstance(g, str) and g for g in value):
        return tuple(value)
    raise reader.fail(where, f"must be 'worst', 'overall' or a list of group names, got {value!r}")


def _keys(reader: Reader, where: str, mapping: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(mapping, Mapping):
        raise reader.fail(where, f"must be a mapping, got {type(mapping).__name__}")
    return reader.mapping(mapping, where, allowed)


def policy_from_dict(data: Any, source: str = "<policy>") -> Policy:
    """Validate a parsed policy document."""
    reader = Reader(source, PolicyError)
    data = _keys(reader, "policy", data, _TOP_KEYS)
    baseline = data.get("baseline", "original")
    if not isinstance(baseline, str) or not baseline:
        raise reader.fail("baseline", f"must be a variant name, got {baseline!r}")
    confidence = reader.number(data.get("confidence", 0.95), "confidence", 0.0, 1.0, True, True)
    fdr = data.get("fdr", "bh")
    if fdr not in PROCEDURE_NAMES:
        raise reader.fail("fdr", f"must be one of {', '.join(PROCEDURE_NAMES)}, got {fdr!r}")
    mode = data.get("mode", "fixed")
    if mode not in MODES:
        raise reader.fail("mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    resamples = reader.integer(data.get("resamples", 2000), "resamples", 100)
    seed = reader.integer(data.get("seed", 0), "seed", 0)
    seq = _keys(reader, "sequential", data.get("sequential", {}), {"optimize_at"})
    optimize_at = reader.number(seq.get("optimize_at", 1000), "sequential.optimize_at", 1.0)
    defaults = _keys(reader, "defaults", data.get("defaults", {}), _DEFAULT_KEYS)
    default_groups = _groups(reader, "defaults.groups", defaults.get("groups", "worst"))
    default_min = reader.integer(defaults.get("min_items", 50), "defaults.min_items", 1)
    default_relative = reader.flag(defaults.get("relative", False), "defaults.relative")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise reader.fail("rules", "must be a non-empty list")
    rules = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(raw_rules):
        where = f"rules[{index}]"
        raw = _keys(reader, where, raw, _RULE_KEYS)
        for name in ("probe", "metric", "tolerance"):
            if name not in raw:
                raise reader.fail(where, f"missing key {name!r}")
        probe, metric = raw["probe"], raw["metric"]
        if not isinstance(probe, str) or not probe or not isinstance(metric, str) or not metric:
            raise reader.fail(where, "probe and metric must be non-empty strings")
        if (probe, metric) in seen:
            raise reader.fail(where, f"a second rule for {probe}/{metric}")
        seen.add((probe, metric))
        worse = raw.get("worse")
        if worse is not None and worse not in ("higher", "lower"):
            raise reader.fail(f"{where}.worse", f"must be 'higher' or 'lower', got {worse!r}")
        try:
            resolve_metric(probe, metric, worse)
        except ValueError as error:
            raise reader.fail(f"{where}.worse", str(error)) from None
        confidence_rule = raw.get("confidence")
        rules.append(
            Rule(
                probe=probe,
                metric=metric,
                tolerance=reader.number(raw["tolerance"], f"{where}.tolerance", 0.0),
                worse=cast(Worse | None, worse),
                relative=reader.flag(raw.get("relative", default_relative), f"{where}.relative"),
                groups=_groups(reader, f"{where}.groups", raw.get("groups", default_groups)),
                min_items=reader.integer(raw.get("min_items", default_min), f"{where}.min_items", 1),
                confidence=None
                if confidence_rule is None
                else reader.number(confidence_rule, f"{where}.confidence", 0.0, 1.0, True, True),
                utility=reader.flag(raw.get("utility", False), f"{where}.utility"),
                required=reader.flag(raw.get("required", False), f"{where}.required"),
            )
        )
    return Policy(
        rules=tuple(rules),
        baseline=baseline,
        confidence=confidence,
        fdr=cast(Procedure, fdr),
        mode=cast(Mode, mode),
        resamples=resamples,
        seed=seed,
        optimize_at=optimize_at,
        source=source,
    )


def capacity_notes(policy: Policy, sizes: Mapping[str, Mapping[str, int]]) -> list[str]:
    """One note per rule and counted group whose items (``sizes[probe][group]``) are fewer than the
    rule's ``min_items``: such a row stays "insufficient", so the verdict can never PASS.

    Said at start-up (``trustwatch run`` and ``serve``), before any item is asked.
    """
    notes = []
    for rule in policy.rules:
        groups = sizes.get(rule.probe)
        if not groups:
            continue
        if rule.groups == "overall":
            counted = {OVERALL: sum(groups.values())}
        elif rule.groups == "worst":
            counted = {OVERALL: sum(groups.values()), **groups}
        else:
            counted = {group: groups.get(group, 0) for group in rule.groups}
        short = [(group, n) for group, n in counted.items() if n < rule.min_items]
        if short:
            listed = ", ".join(f"{group!r} has {n}" for group, n in short[:5])
            more = f" and {len(short) - 5} more" if len(short) > 5 else ""
            notes.append(
                f"{policy.source}: rule {rule.key} needs min_items {rule.min_items} per counted group, but "
                f"group {listed}{more} (items of the probe sets); those rows stay insufficient and the "
                f"verdict cannot PASS: lower the rule's min_items or add items"
            )
    return notes


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file; None reads the packaged default (``default_policy.yaml``)."""
    if path is None:
        text = resources.files("trustwatch.monitors").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
        source = f"<default policy {DEFAULT_POLICY}>"
    else:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise PolicyError(f"{source}: no such file")
        text = path.read_text(encoding="utf-8")
    return policy_from_dict(parse_yaml(text, source, PolicyError), source)
