"""The report's charts, drawn with matplotlib (Agg canvas, no pyplot state) as SVG data URIs.

Each chart is an ``<img src="data:image/svg+xml;base64,...">``: self-contained, crisp at any
zoom, and its SVG ids cannot clash with another chart's in the same page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trustwatch.server.report.digest import MetricGrid, divergence_n, divergence_value, interval

# Okabe-Ito colours (colour-blind safe); the baseline is always the first, a slate blue-grey.
BASELINE_COLOUR = "#5b6b82"
CANDIDATE_COLOURS = ("#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#0072b2", "#b8a21a")
WORSE_COLOUR = "#c0392b"
BETTER_COLOUR = "#1e8449"
NEUTRAL_COLOUR = "#7f8c8d"
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#9aa3ad",
    "axes.titleweight": "bold",
    "axes.titlesize": 11,
    "svg.fonttype": "path",
    "svg.hashsalt": "trustwatch",
}


def variant_colours(variants: Sequence[str]) -> dict[str, str]:
    """The first variant (the baseline) grey-blue, the candidates in Okabe-Ito order."""
    colours = {}
    for i, name in enumerate(variants):
        colours[name] = BASELINE_COLOUR if i == 0 else CANDIDATE_COLOURS[(i - 1) % len(CANDIDATE_COLOURS)]
    return colours


def _data_uri(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _n_label(counts: Mapping[str, int | None]) -> str:
    known = sorted({n for n in counts.values() if n is not None})
    if not known:
        return ""
    return f"n={known[0]}" if len(known) == 1 else f"n={known[0]}-{known[-1]}"


def metric_bars(grid: MetricGrid, colours: Mapping[str, str], ylabel: str = "") -> str:
    """Grouped bars: the groups on the x axis (``all`` first, shaded), one bar per variant, n under
    each group."""
    import matplotlib

    groups, variants = grid.groups, grid.variants
    with matplotlib.rc_context(_RC):
        slots = len(groups) * max(len(variants), 2)
        figure = Figure(figsize=(min(12.5, max(7.5, 1.5 + 0.3 * slots)), 3.6))
        ax = figure.add_subplot()
        bar = 0.8 / max(len(variants), 1)
        labelled = slots <= 24
        for k, variant in enumerate(variants):
            xs = [g - 0.4 + bar * (k + 0.5) for g in range(len(groups))]
            heights = [grid.values[group][variant] for group in groups]
            drawn = [(x, h) for x, h in zip(xs, heights, strict=True) if h is not None]
            if not drawn:
                continue
            bars = ax.bar(
                [x for x, _ in drawn], [h for _, h in drawn], bar * 0.9, label=variant, color=colours[variant]
            )
            if labelled:
                ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1.5, color="#39424e")
        if groups and groups[0] == "all":
            ax.axvspan(-0.5, 0.5, color="#eef1f5", zorder=0)
        tilted = len(groups) > 7
        joint = " " if tilted else "\n"
        labels = [f"{group}{joint}{_n_label(grid.n[group])}".rstrip() for group in groups]
        ax.set_xticks(
            range(len(groups)), labels, rotation=30 if tilted else 0, ha="right" if tilted else "center"
        )
        ax.set_xlim(-0.5, len(groups) - 0.5)
        ax.axhline(0, color="#9aa3ad", linewidth=0.8)
        ax.set_ylabel(ylabel or grid.metric)
        ax.margins(y=0.12)
        ax.grid(axis="y", color="#e3e7ec", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.legend(frameon=False, ncols=min(len(variants), 6), loc="lower left", bbox_to_anchor=(0, 1.0))
        return _data_uri(figure)


def divergence_forest(
    rows: Sequence[Mapping[str, Any]], colours: Mapping[str, str], max_rows: int = 40
) -> str:
    """Each (candidate, metric, group) row as a point with its interval; 0 is no change.

    A red point: the whole interval is above 0 (worse); green: below 0 (better).
    """
    import matplotlib

    shown = [r for r in rows if divergence_value(r) is not None][:max_rows]
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(8.5, 0.8 + 0.27 * max(len(shown), 1)))
        ax = figure.add_subplot()
        labels = []
        for y, row in enumerate(shown):
            value = divergence_value(row)
            lower, upper = interval(row)
            colour = NEUTRAL_COLOUR
            if lower is not None and lower > 0:
                colour = WORSE_COLOUR
            elif upper is not None and upper < 0:
                colour = BETTER_COLOUR
            if lower is not None and upper is not None:
                ax.plot(
                    [lower, upper],
                    [y, y],
                    color=colours.get(str(row["candidate"]), NEUTRAL_COLOUR),
                    linewidth=2.2,
                    solid_capstyle="round",
                    alpha=0.8,
                )
            ax.plot([value], [y], "o", color=colour, markersize=5.5, zorder=3)
            n = divergence_n(row)
            labels.append(
                f"{row['candidate']} · {row['metric']} · {row['group']}" + (f" (n={n})" if n else "")
            )
        ax.axvline(0, color="#39424e", linewidth=0.9)
        ax.set_yticks(range(len(shown)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("degradation vs baseline (positive = worse), with interval")
        ax.grid(axis="x", color="#e3e7ec", linewidth=0.8)
        ax.set_axisbelow(True)
        return _data_uri(figure)
