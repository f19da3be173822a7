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
