"""Plain-text tables of divergence rows and verdicts (what the CLI prints)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from trustwatch.monitors.divergence import DivergenceRow
from trustwatch.monitors.gate import GateReason, Verdict


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4g}"


def _interval(row: DivergenceRow) -> str:
    return f"[{_num(row.lower)}, {_num(row.upper)}]"


DIVERGENCE_HEADERS = (
    "probe",
    "metric",
    "group",
    "n",
    "baseline",
    "candidate",
    "degradation",
    "interval",
    "method",
    "flips +/-",
    "mcnemar_p",
)


def divergence_cells(row: DivergenceRow) -> list[str]:
    flips = "-" if row.flips_up is None else f"{row.flips_up}/{row.flips_down}"
    n = str(row.n_items) if row.n_units == row.n_items else f"{row.n_items} ({row.n_units} cl.)"
    degradation = _num(row.degradation) + (" rel" if row.relative else "")
    return [
        row.probe,
        row.metric,
        row.group,
        n,
        _num(row.baseline_value),
        _num(row.candidate_value),
        degradation,
        _interval(row),
        row.method,
        flips,
        _num(row.mcnemar_p),
    ]


def format_divergence(rows: Sequence[DivergenceRow]) -> str:
    """The divergence table of one or more candidates (degradation: positive is worse)."""
    blocks = []
    for candidate in dict.fromkeys(row.candidate for row in rows):
        mine = [row for row in rows if row.candidate == candidate]
        confidence = mine[0].confidence
        title = (
            f"{candidate} vs {mine[0].baseline}: degradation (positive = worse), {confidence:.0%} intervals"
        )
        blocks.append(title + "\n" + render_table(DIVERGENCE_HEADERS, [divergence_cells(r) for r in mine]))
    return "\n\n".join(blocks)


GATE_HEADERS = ("rule", "group", "n", "degradation", "interval", "tolerance", "status", "q", "reason")


def _gate_cells(row: GateReason) -> list[str]:
    d = row.divergence
    if d is None:
        return [row.rule, row.group, "-", "-", "-", _num(row.tolerance), row.status, "-", row.reason]
    return [
        row.rule,
        row.group,
        str(d.n_items),
        _num(d.degradation) + (" rel" if d.relative else ""),
        _interval(d),
        _num(row.tolerance),
        row.status,
        _num(row.q_value),
        row.reason,
    ]


def format_verdicts(verdicts: Sequence[Verdict], all_rows: bool = False) -> str:
    """One block per candidate: the verdict line, the FDR statement, and its reasons (or every row)."""
    blocks = []
    for verdict in verdicts:
        head = f"{verdict.candidate} vs {verdict.baseline}: {verdict.verdict}"
        if verdict.degenerate:
            head += " (degenerate: a utility rule failed)"
        if verdict.items_needed is not None:
            head += f"; about {verdict.items_needed} more items per group needed"
        lines = [head, f"  {verdict.mode} mode; {verdict.fdr['statement']}"]
        skipped = [note.split(":", 1)[0] for note in verdict.notes if note.endswith("rule skipped")]
        if skipped:
            lines.append(f"  not measured, rules skipped: {', '.join(skipped)}")
        lines += [f"  note: {note}" for note in verdict.notes if not note.endswith("rule skipped")]
        shown = verdict.rows if all_rows else verdict.reasons
        label = "rows" if all_rows else "reasons"
        lines.append(f"  {label}:")
        table = render_table(GATE_HEADERS, [_gate_cells(row) for row in shown])
        lines += ["    " + line for line in table.splitlines()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
