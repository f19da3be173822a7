"""``report.html``: one self-contained page (inline CSS, charts as SVG data URIs, no scripts).

Sections, each left out when its data is absent: a summary, the variants (model, backend,
compression manifest), the gate verdicts with their reasons, the divergence table, then per
probe the counts of scorer errors and unparsed answers, the divergence chart, one grouped
bar chart and table per metric, and the generations that changed most between the baseline
and each candidate. Every string from the run files is HTML-escaped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from trustwatch.common.metrics import METRICS_BY_KEY
from trustwatch.server.report.digest import (
    COUNTED_OUTCOMES,
    ChangedGeneration,
    MetricGrid,
    changed_generations,
    counted_outcomes,
    divergence_n,
    divergence_value,
    interval,
    item_counts,
    largest_changes,
    metric_grids,
    probes_in,
)
from trustwatch.server.report.inputs import RunFiles, VariantInfo, load_run_files
from trustwatch.server.report.plots import divergence_forest, metric_bars, variant_colours
from trustwatch.server.report.style import CSS

REPORT_HTML = "report.html"
VERDICT_CLASSES = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive"}
COMPRESSION_KEYS = ("method", "bits", "group_size", "sparsity", "pattern", "scheme", "calibration")
GATE_COLUMNS = (
    "rule",
    "group",
    "status",
    "reason",
    "degradation",
    "lower",
    "upper",
    "n_items",
    "tolerance",
    "q_value",
)
TOP_CHANGED = 8
EXTRA_HEADERS = {"method": "method", "mcnemar_p": "McNemar p"}
NONE = "\u2013"
"""Shown for a missing value (an en dash)."""


# ------------------------------------------------------------------------------------------ helpers
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return NONE if not math.isfinite(value) else f"{value:.{digits}g}"
    return str(value)


def _signed(value: float | None) -> str:
    if value is None:
        return NONE
    return "0" if value == 0 else f"{value:+.3g}"


def _anchor(text: str) -> str:
    return "probe-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool] = (),
    row_classes: Sequence[str] = (),
) -> str:
    """Cells are HTML already (escape before); headers are escaped here."""
    numeric = list(numeric) + [False] * (len(headers) - len(numeric))
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if num else f"<th>{escape(h)}</th>"
        for h, num in zip(headers, numeric, strict=True)
    )
    body = []
    for i, row in enumerate(rows):
        klass = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{c}</td>' if num else f"<td>{c}</td>"
            for c, num in zip(row, numeric, strict=True)
        )
        body.append(f'<tr class="{klass}">{cells}</tr>' if klass else f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _badge(verdict: str) -> str:
    klass = VERDICT_CLASSES.get(verdict.upper(), "other")
    return f'<span class="badge {klass}">{escape(verdict.upper())}</span>'


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}"></span>'


def _change_class(change: float | None, worse: str | None) -> str:
    if change is None or worse is None or change == 0:
        return ""
    bad = change > 0 if worse == "higher" else change < 0
    return "worse-text" if bad else "better-text"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


def _run_time(report: Mapping[str, Any]) -> str | None:
    parts = []
    elapsed = report.get("elapsed_s")
    if isinstance(elapsed, int | float) and not isinstance(elapsed, bool):
        parts.append(_duration(float(elapsed)))
    if report.get("started_at"):
        span = str(report["started_at"])
        if report.get("finished_at"):
            span += f" → {report['finished_at']}"
        parts.append(span)
    return " · ".join(parts) or None


def _scorer_text(scorer: Any) -> tuple[str, str]:
    """(headline, detail) of report.json's ``scorer`` (a ``describe()`` dict or a name)."""
    if isinstance(scorer, Mapping):
        name = str(scorer.get("name", "?"))
        detail = [str(scorer[k]) for k in ("version", "model") if scorer.get(k)]
        if scorer.get("label"):
            detail.append(f"label “{scorer['label']}”")
        return name, " · ".join(detail)
    return (str(scorer), "") if scorer else ("not recorded", "")


def _compression_summary(manifest: Mapping[str, Any] | None) -> str:
    if not manifest:
        return NONE
    scalars = {k: v for k, v in manifest.items() if isinstance(v, str | int | float | bool) and v is not None}
    keys = [k for k in COMPRESSION_KEYS if k in scalars] + [k for k in scalars if k not in COMPRESSION_KEYS]
    return ", ".join(f"{escape(str(k))}={escape(_fmt(scalars[k]))}" for k in keys[:6]) or NONE


def _flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A reason row with its nested objects' fields lifted (``divergence.lower`` -> ``lower``)."""
    flat = {k: v for k, v in row.items() if not isinstance(v, Mapping)}
    for value in row.values():
        if isinstance(value, Mapping):
            for k, v in value.items():
                flat.setdefault(k, v)
    return flat


# ------------------------------------------------------------------------------------------ sections
def _header(run: RunFiles, probes: Sequence[str], items: Mapping[str, int]) -> str:
    report = run.report
    scorer, scorer_detail = _scorer_text(report.get("scorer"))
    run_time = _run_time(report)
    candidates = [v.name for v in run.variants if v.name != run.baseline]
    cards = [
        ("Baseline", run.baseline or NONE, ""),
        ("Candidates", ", ".join(candidates) or NONE, f"{len(run.variants)} variants"),
        ("Probes", str(len(probes)), ", ".join(f"{p}: {items[p]} items" for p in probes if p in items)),
        ("Scorer", scorer, scorer_detail),
    ]
    if run_time:
        cards.append(("Run time", run_time.split(" · ")[0], " · ".join(run_time.split(" · ")[1:])))
    cards_html = "".join(
        f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div>'
        f'<div class="d">{escape(d)}</div></div>'
        for k, v, d in cards
    )
    toc = " ".join(f'<a href="#{_anchor(p)}">{escape(p)}</a>' for p in probes)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<header class="top"><h1><span class="brand">trustwatch</span> report</h1>'
        f'<div class="sub">{escape(str(run.out_dir))} · generated {generated}</div>'
        f'<nav class="toc">{toc}</nav></header><section id="summary"><h2>Summary</h2>'
        f'<div class="cards">{cards_html}</div>'
    )


def _summary(
    run: RunFiles,
    probes: Sequence[str],
    items: Mapping[str, int],
    counts: Mapping[str, Mapping[str, Mapping[str, int]]],
) -> str:
    lines = []
    total = sum(items.values())
    lines.append(
        f"{len(run.variants)} variants replayed on the same items of {len(probes)} probes"
        + (f" ({total} items in all)" if total else "")
        + (
            f"; every candidate is compared with the baseline <b>{escape(run.baseline)}</b>."
            if run.baseline
            else "."
        )
    )
    gate = [g for g in run.report.get("gate") or [] if isinstance(g, Mapping)]
    if gate:
        verdicts = ", ".join(
            f"{escape(str(g.get('candidate', '?')))} {_badge(str(g.get('verdict', '?')))}" for g in gate
        )
        lines.append(f"Gate: {verdicts}.")
    divergence = [r for r in run.report.get("divergence") or [] if isinstance(r, Mapping)]
    worst = largest_changes(divergence)
    if worst:
        parts = []
        for row in worst:
            lower, upper = interval(row)
            parts.append(
                f"{escape(str(row['candidate']))}: {escape(str(row['probe']))} / {escape(str(row['metric']))}"
                f' / {escape(str(row["group"]))} <span class="worse-text">{_signed(divergence_value(row))}</span>'
                f" [{_fmt(lower, 3)}, {_fmt(upper, 3)}]"
            )
        items_html = "".join(f"<li>{part}</li>" for part in parts)
        lines.append(f"Largest degradations whose interval excludes 0:<ul>{items_html}</ul>")
    elif divergence:
        lines.append("No degradation has an interval wholly above 0.")
    for column in COUNTED_OUTCOMES:
        total_column = sum(n for probe in counts.values() for n in probe.get(column, {}).values())
        if total_column:
            what = "scorer error" if column == "scorer_error" else "unparsed answer"
            plural = "" if total_column == 1 else "s"
            lines.append(
                f"{total_column} {what}{plural} in all (per probe and variant below; never counted as scores)."
            )
    if run.missing:
        lines.append(
            f"Not in the run directory: {escape(', '.join(run.missing))} (those parts are left out)."
        )
    return '<ul class="summary">' + "".join(f"<li>{line}</li>" for line in lines) + "</ul></section>"


def _variants_section(
    variants: Sequence[VariantInfo], baseline: str | None, colours: Mapping[str, str]
) -> str:
    rows = [
        [
            _swatch(colours[v.name]) + f"<b>{escape(v.name)}</b>",
            "baseline" if v.name == baseline else "candidate",
            escape(v.model or NONE),
            escape(v.backend or NONE),
            _compression_summary(v.compression),
        ]
        for v in variants
    ]
    return (
        '<section id="variants"><h2>Variants</h2>'
        + _table(["variant", "role", "model", "backend", "compression"], rows)
        + "</section>"
    )


def _gate_section(gate: Sequence[Mapping[str, Any]]) -> str:
    blocks = []
    for verdict in gate:
        head = (
            f'<div class="head">{_badge(str(verdict.get("verdict", "?")))} '
            f"<b>{escape(str(verdict.get('candidate', '?')))}</b>"
        )
        if verdict.get("baseline"):
            head += f" vs {escape(str(verdict['baseline']))}"
        if verdict.get("items_needed"):
            head += f' <span class="note">· about {escape(_fmt(verdict["items_needed"]))} more items per group needed</span>'
        head += "</div>"
        notes = [escape(str(n)) for n in verdict.get("notes") or []]
        fdr = verdict.get("fdr")
        if isinstance(fdr, Mapping) and fdr.get("statement"):
            notes.append(escape(str(fdr["statement"])))
        notes_html = "".join(f'<div class="note">{n}</div>' for n in notes)
        if len(notes) > 3:
            notes_html = f"<details><summary>{len(notes)} notes</summary>{notes_html}</details>"
        reasons = list(verdict.get("reasons") or [])
        if not reasons:
            table = '<div class="note">No reasons recorded.</div>'
        elif all(isinstance(r, Mapping) for r in reasons):
            flat = [_flatten(r) for r in reasons]
            columns = [c for c in GATE_COLUMNS if any(c in r for r in flat)] or sorted(
                {k for r in flat for k, v in r.items() if not isinstance(v, list | Mapping)}
            )
            numeric = [c not in ("rule", "group", "status", "reason") for c in columns]
            table = _table(columns, [[escape(_fmt(r.get(c))) for c in columns] for r in flat], numeric)
        else:
            table = _table(["reason"], [[escape(str(r))] for r in reasons])
        blocks.append(f'<div class="verdict">{head}{notes_html}{table}</div>')
    return '<section id="gate"><h2>Gate</h2>' + "".join(blocks) + "</section>"


def _divergence_rows_table(rows: Sequence[Mapping[str, Any]], with_probe: bool = True) -> str:
    has_values = any("baseline_value" in r or "candidate_value" in r for r in rows)
    extra = [k for k in ("method", "mcnemar_p") if any(k in r for r in rows)]
    headers = [
        "candidate",
        *(["probe"] if with_probe else []),
        "metric",
        "group",
        "n",
        *(["baseline → candidate"] if has_values else []),
        "degradation",
        "interval",
        *[EXTRA_HEADERS[k] for k in extra],
    ]
    body, classes = [], []
    for row in rows:
        lower, upper = interval(row)
        cells = [escape(str(row.get("candidate", "?")))]
        if with_probe:
            cells.append(escape(str(row.get("probe", "?"))))
        cells += [
            escape(str(row.get("metric", "?"))),
            escape(str(row.get("group", "?"))),
            escape(_fmt(divergence_n(row))),
        ]
        if has_values:
            cells.append(
                escape(f"{_fmt(row.get('baseline_value'), 3)} → {_fmt(row.get('candidate_value'), 3)}")
            )
        cells += [
            escape(_signed(divergence_value(row))),
            escape(f"[{_fmt(lower, 3)}, {_fmt(upper, 3)}]"),
            *[escape(_fmt(row.get(k), 3)) for k in extra],
        ]
        body.append(cells)
        classes.append("worse" if (lower or 0) > 0 else "better" if (upper or 0) < 0 else "")
    labels = 4 if with_probe else 3
    numeric = [False] * labels + [True] * (len(headers) - labels)
    if "method" in extra:
        numeric[headers.index("method")] = False
    return _table(headers, body, numeric, classes)


def _divergence_section(rows: Sequence[Mapping[str, Any]]) -> str:
    flagged = [r for r in rows if (interval(r)[0] or 0) > 0]
    html = [
        '<section id="divergence"><h2>Divergence</h2><p class="note">Candidate against the baseline on '
        "the same items; degradation is signed so that positive is worse; red rows: the interval lies "
        "above 0, green rows: below 0.</p>"
    ]
    if flagged:
        html.append(f"<h3>Degradations whose interval excludes 0 ({len(flagged)})</h3>")
        html.append(_divergence_rows_table(flagged))
    table = _divergence_rows_table(rows)
    if len(rows) > 40:
        html.append(f"<details><summary>All {len(rows)} rows</summary>{table}</details>")
    else:
        html.append(f"<h3>All rows ({len(rows)})</h3>{table}")
    return "".join(html) + "</section>"


def _metric_block(grid: MetricGrid, colours: Mapping[str, str], baseline: str | None) -> str:
    definition = METRICS_BY_KEY.get((grid.probe, grid.metric))
    worse = None if definition is None else definition.worse
    unit = f" ({definition.unit})" if definition is not None and definition.unit else ""
    figure = metric_bars(grid, colours, ylabel=grid.metric + unit)
    html = [f"<h3>{escape(grid.metric)}</h3>"]
    if definition is not None:
        html.append(
            f'<p class="definition">{escape(definition.definition)}; {escape(worse or "")} is worse.</p>'
        )
    html.append(
        f'<figure><img alt="{escape(grid.probe)} {escape(grid.metric)} per group and variant" '
        f'src="{figure}"></figure>'
    )
    candidates = [v for v in grid.variants if v != baseline] if baseline in grid.variants else []
    headers = ["group", *[f"{v} (n)" for v in grid.variants], *[f"Δ {c}" for c in candidates]]
    rows = []
    for group in grid.groups:
        cells = [escape(group)]
        for v in grid.variants:
            n = grid.n[group][v]
            cells.append(
                escape(_fmt(grid.values[group][v]))
                + (f' <span class="note">({n})</span>' if n is not None else "")
            )
        base = grid.values[group].get(baseline) if baseline else None
        for c in candidates:
            value = grid.values[group][c]
            change = None if value is None or base is None else value - base
            cells.append(f'<span class="{_change_class(change, worse)}">{escape(_signed(change))}</span>')
        rows.append(cells)
    html.append(_table(headers, rows, [False] + [True] * (len(headers) - 1)))
    return "".join(html)


def _changed_block(changes: Sequence[ChangedGeneration], baseline: str, candidate: str) -> str:
    cards = []
    for change in changes:
        klass = "worse-text" if change.change > 0 else "better-text"
        cards.append(
            '<div class="gen"><div class="meta">'
            f"item <b>{escape(change.item_id)}</b> · group {escape(change.group)} · sample {escape(_fmt(change.sample))}"
            f' · score change <span class="{klass}">{change.change:+.3f}</span></div>'
            f'<div class="prompt"><span class="label">prompt</span><div class="text">{escape(change.prompt)}</div></div>'
            '<div class="pair">'
            f'<div class="side"><span class="who">{escape(baseline)} · score {change.baseline_score:.3f}</span>'
            f'<div class="text">{escape(change.baseline_text)}</div></div>'
            f'<div class="side"><span class="who">{escape(candidate)} · score {change.candidate_score:.3f}</span>'
            f'<div class="text">{escape(change.candidate_text)}</div></div></div></div>'
        )
    return "".join(cards)


def _probe_section(
    run: RunFiles,
    probe: str,
    items: Mapping[str, int],
    counts: Mapping[str, Mapping[str, int]],
    colours: Mapping[str, str],
) -> str:
    names = [v.name for v in run.variants]
    html = [f'<section id="{_anchor(probe)}"><h2>{escape(probe)}</h2>']
    if probe in items:
        html.append(f'<p class="note">{items[probe]} items, the same for every variant.</p>')
    if counts:
        shown = [v for v in names if any(v in per for per in counts.values())]
        headers = ["variant", *[c.replace("_", " ") for c in counts]]
        rows = [[escape(v), *[escape(_fmt(counts[c].get(v))) for c in counts]] for v in shown]
        html.append("<h3>Scorer errors and unparsed answers</h3>")
        html.append(_table(headers, rows, [False] + [True] * len(counts)))
    divergence = [
        r for r in run.report.get("divergence") or [] if isinstance(r, Mapping) and r.get("probe") == probe
    ]
    if divergence:
        ordered = sorted(
            divergence, key=lambda r: (not (interval(r)[0] or 0) > 0, -abs(divergence_value(r) or 0))
        )
        html.append("<h3>Divergence from the baseline</h3>")
        if len(divergence) > 30:
            html.append(
                f'<p class="note">The 30 largest of {len(divergence)} rows; all are in the divergence table.</p>'
            )
        html.append(
            f'<figure><img alt="divergence of {escape(probe)}" '
            f'src="{divergence_forest(ordered[:30], colours)}"></figure>'
        )
    for grid in metric_grids(run.report.get("metrics") or [], probe, names):
        html.append(_metric_block(grid, colours, run.baseline))
    generated = [g for g in run.generations if g["probe"] == probe]
    if generated and run.baseline:
        html.append("<h3>Generations that changed most</h3>")
        html.append(
            f'<p class="note">Paired on item and sample (same prompt, same seed); the {TOP_CHANGED} '
            "largest score changes per candidate.</p>"
        )
        for candidate in [v for v in names if v != run.baseline]:
            changes = changed_generations(generated, probe, run.baseline, candidate, TOP_CHANGED)
            html.append(f"<h3>{escape(run.baseline)} → {escape(candidate)}</h3>")
            html.append(
                _changed_block(changes, run.baseline, candidate)
                if changes
                else '<p class="note">No paired generation with both scores changed.</p>'
            )
    return "".join(html) + "</section>"


def render_report(run: RunFiles) -> str:
    """The whole page as a string."""
    report = run.report
    metrics = report.get("metrics") or []
    generation_probes = [str(g["probe"]) for g in run.generations]
    outcome_probes = run.outcomes.probes if run.outcomes is not None else []
    probes = probes_in(metrics, outcome_probes, generation_probes)
    names = [v.name for v in run.variants]
    colours = variant_colours(names)
    items = item_counts(run.outcomes, metrics, probes)
    counts = {p: counted_outcomes(run.outcomes, p, names) for p in probes}
    parts = [_header(run, probes, items), _summary(run, probes, items, counts)]
    if run.variants:
        parts.append(_variants_section(run.variants, run.baseline, colours))
    gate = [g for g in report.get("gate") or [] if isinstance(g, Mapping)]
    if gate:
        parts.append(_gate_section(gate))
    divergence = [r for r in report.get("divergence") or [] if isinstance(r, Mapping)]
    if divergence:
        parts.append(_divergence_section(divergence))
    parts += [_probe_section(run, p, items, counts[p], colours) for p in probes]
    if report.get("config") is not None:
        config = json.dumps(report["config"], indent=2, sort_keys=True, default=str)
        parts.append(
            f'<details><summary>Run configuration</summary><pre class="config">{escape(config)}</pre></details>'
        )
    parts.append(
        "<footer>Written by trustwatch from report.json, outcomes.jsonl and generations.jsonl. "
        "Metrics follow the papers cited under each chart.</footer>"
    )
    body = "".join(parts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>trustwatch report · {escape(run.baseline or '')}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def write_report_html(out_dir: Path) -> Path:
    """Read ``out_dir``'s report.json (required), outcomes.jsonl and generations.jsonl (optional) and
    write ``out_dir/report.html``; returns its path."""
    out_dir = Path(out_dir)
    run = load_run_files(out_dir)
    path = out_dir / REPORT_HTML
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(run), encoding="utf-8")
    tmp.replace(path)
    return path
