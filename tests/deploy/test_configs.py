"""The example configs in deploy/ and probes/configs/ are read by the real config parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trustwatch.server.service_config import load_serve_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    path
    for path in sorted([*(ROOT / "deploy").rglob("*.yaml"), *(ROOT / "probes" / "configs").glob("*.yaml")])
    if isinstance(doc := next(yaml.safe_load_all(path.read_text()), None), dict) and "variants" in doc
]


def test_there_are_example_configs() -> None:
    assert len(CONFIGS) >= 3
    # Every config the deploy folders ship, the endpoint (openai) ones included.
    shipped = {"config/embedded.yaml", "kubernetes/base/config.yaml", "kubernetes/overlays/gpu-standalone/config.yaml",
               "argo-rollouts/config.yaml"}
    assert shipped <= {str(path.relative_to(ROOT / "deploy")) for path in CONFIGS if ROOT / "deploy" in path.parents}


def test_endpoint_configs_parse_as_served_models() -> None:
    for name in ("kubernetes/base/config.yaml", "argo-rollouts/config.yaml"):
        config = load_serve_config(ROOT / "deploy" / name)
        served = [v for v in config.run.variants if v.backend == "openai"]
        assert served, f"{name}: no openai variant"
        assert all(v.from_variant is None and v.options["base_url"].endswith("/v1") for v in served)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_config_parses(path: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    # Secrets and certificates live in the cluster, not in the repo: check the rest.
    raw.pop("auth", None)
    raw.pop("tls", None)
    copy = tmp_path / "config.yaml"
    copy.write_text(yaml.safe_dump(raw))
    config = load_serve_config(copy)
    assert config.run.baseline in [v.name for v in config.run.variants]
    assert config.replay.items_per_cycle >= 1
