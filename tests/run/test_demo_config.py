"""The config `make demo` serves: small enough for a first verdict in minutes, still a real comparison."""

from __future__ import annotations

from pathlib import Path

from trustwatch.probes.items import PROBES
from trustwatch.server.config import load_config
from trustwatch.server.probe_sources import collect_items

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "probes" / "configs" / "demo.yaml"


def test_make_demo_serves_the_demo_config() -> None:
    assert "serve --config probes/configs/demo.yaml" in (ROOT / "Makefile").read_text()


def test_the_demo_keeps_a_quantized_and_a_pruned_candidate_on_every_probe_kind() -> None:
    config = load_config(DEMO)
    methods = {v.name: (v.compress or {}).get("method") for v in config.variants if v.name != config.baseline}
    assert {"rtn", "magnitude"} <= set(methods.values()), methods
    items = collect_items(config.probes)
    assert {item.probe for item in items} == set(PROBES)
    assert len(items) >= 20 * len(PROBES)  # every built-in item: the perplexity rule's min_items is met
