"""Every PromQL expression of trustwatch's deployment artefacts, ready to evaluate.

The Prometheus rules (``deploy/prometheus/trustwatch.rules.yaml``), the Grafana dashboards
(``deploy/grafana/dashboards/*.json``: panel targets and the series selectors of ``label_values``
template variables) and the Argo Rollouts AnalysisTemplates with a Prometheus provider
(``deploy/argo-rollouts``) each hold PromQL. A test that runs trustwatch beside a real Prometheus
takes them from here and evaluates each one; Grafana's template variables are replaced by values
that make the expression valid PromQL matching every series (``$var`` -> ``.*``, which the
dashboard always uses with ``=~``; ``$__rate_interval`` and the other interval variables -> a
duration).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "trustwatch.rules.yaml"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
ANALYSIS_TEMPLATES = DEPLOY / "argo-rollouts"

#: Grafana's built-in interval variables, and the duration each becomes.
INTERVAL_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__auto": "1m"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*\w+\s*\)\s*$", re.DOTALL)
_ARG = re.compile(r"\{\{\s*args\.([\w-]+)\s*\}\}")


@dataclass(frozen=True)
class PromQLExpression:
    """One expression: the file it is in, where in that file, and the PromQL itself."""

    source: Path
    where: str
    expr: str


def substitute_template_variables(expr: str, interval_values: dict[str, str] | None = None) -> str:
    """Replace Grafana variables (``$var``, ``${var}``, ``${var:fmt}``, ``[[var]]``) by ``.*``.

    Interval variables (``$__rate_interval``, ``$__interval``, ``$__range``) become durations
    from ``interval_values`` (default ``INTERVAL_VARIABLES``).
    """
    intervals = INTERVAL_VARIABLES if interval_values is None else interval_values

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name.startswith("__"):
            if name not in intervals:
                raise ValueError(f"no value for Grafana variable ${name} in {expr!r}")
            return intervals[name]
        return ".*"

    return _VARIABLE.sub(replace, expr)


def rule_expressions(path: Path = RULES) -> list[PromQLExpression]:
    """The ``expr`` of every recording rule and alert of a Prometheus rule file."""
    data = yaml.safe_load(path.read_text())
    found = []
    for group in data["groups"]:
        for rule in group["rules"]:
            name = rule.get("record") or rule.get("alert")
            kind = "record" if "record" in rule else "alert"
            found.append(PromQLExpression(path, f"group {group['name']}: {kind} {name}", rule["expr"].strip()))
    return found


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for panel in panels:
        flat.append(panel)
        flat.extend(_panels(panel.get("panels", [])))
    return flat


def dashboard_expressions(path: Path) -> list[PromQLExpression]:
    """Panel target expressions and ``label_values`` selectors of one dashboard, variables substituted."""
    dashboard = json.loads(path.read_text())
    found = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = _LABEL_VALUES.match(query)
        if match is None:
            raise ValueError(f"{path}: variable {variable['name']}: only label_values(...) queries are known: {query!r}")
        found.append(PromQLExpression(path, f"variable {variable['name']}",
                                      substitute_template_variables(match["selector"].strip())))
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                found.append(PromQLExpression(
                    path, f"panel {panel['id']} {panel.get('title', '')!r} target {target['refId']}",
                    substitute_template_variables(target["expr"].strip())))
    return found


def analysis_template_expressions(
    folder: Path = ANALYSIS_TEMPLATES, args: dict[str, str] | None = None
) -> list[PromQLExpression]:
    """Prometheus queries of the AnalysisTemplates in ``folder``, ``{{args.x}}`` from ``args`` or defaults."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "AnalysisTemplate":
                continue
            values = {a["name"]: a["value"] for a in doc["spec"].get("args", []) if "value" in a}
            values.update(args or {})
            for metric in doc["spec"]["metrics"]:
                prometheus = metric["provider"].get("prometheus")
                if prometheus is None:
                    continue

                where = f"AnalysisTemplate {doc['metadata']['name']} metric {metric['name']}"
                query = _substitute_args(prometheus["query"], values, f"{path}: {where}")
                found.append(PromQLExpression(path, where, query.strip()))
    return found


def _substitute_args(query: str, values: dict[str, str], context: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[1] not in values:
            raise ValueError(f"{context}: no value for args.{match[1]}")
        return values[match[1]]

    return _ARG.sub(replace, query)


def all_expressions(candidate: str = "candidate") -> list[PromQLExpression]:
    """Every PromQL expression of the rules, the dashboards and the AnalysisTemplates."""
    found = rule_expressions()
    for path in sorted(DASHBOARDS.glob("*.json")):
        found.extend(dashboard_expressions(path))
    found.extend(analysis_template_expressions(args={"candidate": candidate}))
    return found
