"""docs/glossary.md names every config key, proto field and exporter label (one name per idea).

The names are read from where they are defined, not listed here: the config readers' key sets
and settings dataclasses, the backends' option parameters, the policy reader's key sets, the
proto descriptor, and the label lists of every Prometheus family the exporter declares. A new
name on the wire fails this test until the glossary says which idea it spells.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
NAMED = set(re.findall(r"`([^`]+)`", GLOSSARY))


def _config_keys() -> set[str]:
    from trustwatch.monitors import policy
    from trustwatch.probes.kinds.base import ProbeSettings
    from trustwatch.server import config, service_config

    keys = set(config.TOP_KEYS) | config._VARIANT_KEYS | config._PROBE_KEYS
    for settings in (service_config.ReplaySettings, service_config.Limits, service_config.StoreSettings,
                     service_config.AuthSettings, service_config.TlsSettings, service_config.ServiceAddresses,
                     ProbeSettings):
        keys |= {f.name for f in dataclasses.fields(settings)}
    keys |= policy._TOP_KEYS | policy._RULE_KEYS | policy._DEFAULT_KEYS | {"optimize_at"}
    return keys


def _backend_options() -> set[str]:
    from trustwatch.server.backends.openai_backend import OpenAIBackend
    from trustwatch.server.backends.transformers_backend import TransformersBackend
    from trustwatch.server.backends.vllm_backend import VLLMBackend

    names: set[str] = set()
    for backend in (TransformersBackend, OpenAIBackend, VLLMBackend):
        for parameter in list(inspect.signature(backend.__init__).parameters.values())[2:]:
            if parameter.kind is parameter.KEYWORD_ONLY or parameter.kind is parameter.POSITIONAL_OR_KEYWORD:
                names.add(parameter.name)
    return names - {"progress"}


def _proto_fields() -> set[str]:
    from trustwatch.protos.trustwatch.v1 import trustwatch_pb2 as pb

    return {f.name for m in pb.DESCRIPTOR.message_types_by_name.values() for f in m.fields}


def _exporter_labels() -> set[str]:
    """Every label list the exporter and the metric registry declare for a Prometheus family."""
    labels: set[str] = set()
    for path in (ROOT / "server" / "exporter.py",):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                values = [*node.args, *(k.value for k in node.keywords)]
                for value in values:
                    if isinstance(value, ast.List | ast.Tuple) and value.elts and all(
                        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts
                    ):
                        labels |= {e.value for e in value.elts}  # type: ignore[attr-defined]
    from trustwatch.common import metrics

    for series in vars(metrics).values():
        if isinstance(series, metrics.Series):
            labels |= set(series.labels)
    return labels


def test_the_readers_see_real_names() -> None:
    # guards the guard: each source yields the names it is known to hold
    assert {"items_per_cycle", "base_url", "tolerance", "baseline"} <= _config_keys() | _backend_options()
    assert {"parameters_json", "evaluated_at", "is_greedy"} <= _proto_fields()
    assert {"variant", "stage", "candidate", "verdict"} <= _exporter_labels()


@pytest.mark.parametrize(
    "what, names",
    [
        ("config key", _config_keys),
        ("backend option", _backend_options),
        ("proto field", _proto_fields),
        ("exporter label", _exporter_labels),
    ],
)
def test_the_glossary_names_every_wire_name(what: str, names) -> None:
    missing = sorted(names() - NAMED)
    assert not missing, f"docs/glossary.md does not name these {what}s: {', '.join(missing)}"


def test_kind_is_always_qualified() -> None:
    assert "## \"kind\" is always qualified" in GLOSSARY
