"""The floors of DESIGN.md, read from the source: a floor imports only from floors below it.

Every ``import trustwatch.X`` / ``from trustwatch.X import`` in every module is read with
``ast`` (not by importing, so a lazy import inside a function counts too) and held to:

- ``common/`` (the ground floor) imports nothing of ours but ``common/``;
- ``probes/``, ``monitors/`` and ``compress/`` import nothing from ``server/``;
- the statistics in ``monitors/`` import no scorer, model, store or exporter;
- ``server/backends/`` imports only ``common/`` and itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "probes", "monitors", "compress", "server", "protos")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The trustwatch modules one file imports, as dotted names without the ``trustwatch.``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name == "trustwatch" or name.startswith("trustwatch."):
                found.add(name.removeprefix("trustwatch").lstrip("."))
    return found


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "_pb2" in path.name:
                continue
            edges[_module_name(path)] = _imports(path)
    return edges


EDGES = _edges()


def _violations(importer_prefixes: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    bad = []
    for module, imported in EDGES.items():
        if not module.startswith(importer_prefixes):
            continue
        for target in imported:
            if not target.startswith(allowed):
                bad.append(f"{module} imports {target}")
    return sorted(bad)


def test_the_import_reader_sees_real_edges() -> None:
    # Guards the guard: if the reader found nothing, every rule below would pass vacuously.
    assert "common.requests" in EDGES["probes.kinds.base"]
    assert any(t.startswith("server.") for t in EDGES["server.service"])


def test_the_ground_floor_imports_nothing_of_ours_above_it() -> None:
    assert _violations(("common",), ("common",)) == []


@pytest.mark.parametrize("package", ["probes", "monitors", "compress"])
def test_the_second_floor_imports_nothing_from_the_service(package: str) -> None:
    assert _violations((package,), ("common", "probes", "monitors", "compress")) == []


def test_statistics_import_no_scorer_model_store_or_exporter() -> None:
    statistics = tuple(
        m for m in EDGES if m.startswith("monitors.") and not m.startswith("monitors.scorers")
    )
    assert _violations(statistics, ("common", "monitors")) == []
    assert [
        f"{m} imports {t}"
        for m in statistics
        for t in EDGES[m]
        if t.startswith("monitors.scorers")
    ] == []


def test_backends_know_nothing_of_probes_statistics_or_the_service() -> None:
    assert _violations(("server.backends",), ("common", "server.backends")) == []
