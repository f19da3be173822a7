"""What the service core answers about itself, free of any wire format: the replay status,
the variant summaries and the report of the first replay round. gRPC, HTTP and the CLI
translate these into their messages and lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.server.analysis import Analysis


@dataclass(frozen=True)
class ProbeProgress:
    variant: str
    probe: str
    items_done: int
    items_total: int


@dataclass(frozen=True)
class ReplayStatus:
    running: bool
    round: int
    cycles: int
    last_cycle_seconds: float
    last_error: str
    outcomes_stored: int
    progress: list[ProbeProgress] = field(default_factory=list)
    """Items done in the current round, per variant and probe."""
    stalled: str = ""
    """Why replay cannot go on now ("" while it can), e.g. the store cannot be written."""


@dataclass(frozen=True)
class VariantSummary:
    name: str
    model: str
    backend: str
    state: str
    """loading, ready or failed."""
    reason: str
    baseline: bool
    compression: dict[str, Any] | None
    """:func:`~trustwatch.server.variants.summarise_manifest` of its manifest; None when uncompressed."""


@dataclass(frozen=True)
class FirstRoundReport:
    """The first complete replay round, analysed once in the policy's mode, as ``trustwatch run`` does."""

    analysis: Analysis
    report_json: Path
    report_html: Path | None
    items: int
    """Probe items per variant."""
    round: int
    replayed: bool
    """False when the store already held the complete round at start-up (a restart)."""


PROGRESS_SECONDS = 15.0
"""How often a progress line is printed while a replay round fills (serve's first round, ``trustwatch run``)."""


class RoundProgress:
    """The terminal's view of a replay round: items done per variant, and an ETA from the rate so far.

    ``line`` is asked every few seconds; it answers None when nothing moved since the last line,
    and measures the rate from the first time it saw the round (items already in the store when
    the service started do not make the rate look faster than it is).
    """

    def __init__(self) -> None:
        self._start: tuple[int, float, int] | None = None
        """(round, time, answers done) when this round was first seen."""
        self._last: tuple[int, int] | None = None

    def line(self, status: ReplayStatus, now: float) -> str | None:
        per_variant: dict[str, list[int]] = {}
        for p in status.progress:
            done_total = per_variant.setdefault(p.variant, [0, 0])
            done_total[0] += p.items_done
            done_total[1] += p.items_total
        done = sum(d for d, _ in per_variant.values())
        total = sum(t for _, t in per_variant.values())
        if not total or (status.round, done) == self._last:
            return None
        self._last = (status.round, done)
        if self._start is None or self._start[0] != status.round:
            self._start = (status.round, now, done)
        _, began, done_then = self._start
        variants = ", ".join(f"{name} {d}/{t}" for name, (d, t) in per_variant.items())
        rate = (done - done_then) / (now - began) if now > began else 0.0
        if done >= total:
            eta = "done"
        elif rate > 0:
            eta = f"ETA {_duration((total - done) / rate)}"
        else:
            eta = "ETA after the first cycle"
        return f"replay round {status.round}: {variants} items; {done}/{total} answers, {eta}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
