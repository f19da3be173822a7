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
    """The terminal's view of a replay round: items done per variant, and an ETA from the rates seen.

    ``line`` is asked every few seconds; it answers None when nothing moved since the last line.
    Rates are measured from the first time it saw the round (items already in the store when the
    service started do not make the rate look faster than it is), and per probe: replay takes the
    items in the config's order, so probes mostly run one after another, at very different costs (a
    generated toxicity answer costs many times a BBQ answer), and one rate for the round promised
    the last probe far too soon. The time between two lines is shared among the probes that moved
    in it, by their answers; the answers of probes not started yet are timed at the round's rate.
    """

    def __init__(self) -> None:
        self._start: tuple[int, float, int] | None = None
        """(round, time, answers done) when this round was first seen."""
        self._last: tuple[int, int] | None = None
        self._seen: tuple[float, dict[str, int]] | None = None
        """The previous line's time and answers done per probe (this round)."""
        self._spent: dict[str, list[float]] = {}
        """Per probe, this round: [seconds attributed to it, answers it made in them]."""
        self.eta_seconds: float | None = None
        """The ETA of the last line, in seconds (None: not known yet, or the round is done)."""

    def line(self, status: ReplayStatus, now: float) -> str | None:
        per_variant: dict[str, list[int]] = {}
        per_probe: dict[str, list[int]] = {}
        for p in status.progress:
            for done_total in (per_variant.setdefault(p.variant, [0, 0]), per_probe.setdefault(p.probe, [0, 0])):
                done_total[0] += p.items_done
                done_total[1] += p.items_total
        done = sum(d for d, _ in per_variant.values())
        total = sum(t for _, t in per_variant.values())
        if not total or (status.round, done) == self._last:
            return None
        self._last = (status.round, done)
        if self._start is None or self._start[0] != status.round:
            self._start = (status.round, now, done)
            self._seen, self._spent = None, {}
        self._attribute(per_probe, now)
        _, began, done_then = self._start
        variants = ", ".join(f"{name} {d}/{t}" for name, (d, t) in per_variant.items())
        rate = (done - done_then) / (now - began) if now > began else 0.0
        self.eta_seconds = self._seconds_left(per_probe, rate) if rate > 0 and done < total else None
        if done >= total:
            eta = "done"
        elif self.eta_seconds is not None:
            eta = f"ETA {duration(self.eta_seconds)}"
        else:
            eta = "ETA after the first cycle"
        return f"replay round {status.round}: {variants} items; {done}/{total} answers, {eta}"

    def _attribute(self, per_probe: dict[str, list[int]], now: float) -> None:
        """Share the time since the previous line among the probes that moved, by their answers."""
        if self._seen is not None:
            then, before = self._seen
            moved = {probe: d - before.get(probe, d) for probe, (d, _) in per_probe.items()}
            moved = {probe: n for probe, n in moved.items() if n > 0}
            answers = sum(moved.values())
            for probe, n in moved.items():
                spent = self._spent.setdefault(probe, [0.0, 0])
                spent[0] += (now - then) * n / answers
                spent[1] += n
        self._seen = (now, {probe: d for probe, (d, _) in per_probe.items()})

    def _seconds_left(self, per_probe: dict[str, list[int]], round_rate: float) -> float:
        """Each probe's answers left at its own cost so far, those of probes not started at ``round_rate``."""
        seconds = 0.0
        for probe, (done, total) in per_probe.items():
            seconds_spent, answers = self._spent.get(probe, (0.0, 0))
            cost = seconds_spent / answers if answers else 1.0 / round_rate
            seconds += max(total - done, 0) * cost
        return seconds


def duration(seconds: float) -> str:
    """Seconds as the progress line gives them: '3 min 05 s', '27 s'."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
