"""The probe kinds, by name: ``PROBE_KINDS[item.probe]`` renders the item and reads its responses."""

from __future__ import annotations

from trustwatch.probes.kinds.base import (
    Generation,
    ItemOutcome,
    ProbeKind,
    ProbeSettings,
    Request,
    Response,
)
from trustwatch.probes.kinds.likelihood import BbqKind, CrowsPairsKind, DialectKind, PerplexityKind
from trustwatch.probes.kinds.stereotype_agreement import StereotypeAgreementKind, parse_agreement
from trustwatch.probes.kinds.toxicity import ToxicityKind, is_degenerate

PROBE_KINDS: dict[str, ProbeKind] = {
    kind.name: kind
    for kind in (
        ToxicityKind(),
        StereotypeAgreementKind(),
        CrowsPairsKind(),
        BbqKind(),
        DialectKind(),
        PerplexityKind(),
    )
}

__all__ = [
    "PROBE_KINDS",
    "Generation",
    "ItemOutcome",
    "ProbeKind",
    "ProbeSettings",
    "Request",
    "Response",
    "is_degenerate",
    "parse_agreement",
]
