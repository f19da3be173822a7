"""Packaging: every folder is a trustwatch sub-package; nothing generic lands top-level."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL = ["server", "compress", "probes", "monitors", "protos", "deploy", "tests", "bench"]


def _declared_packages() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_layout_has_the_designed_top_level_folders() -> None:
    for name in TOP_LEVEL:
        assert (REPO / name).is_dir(), name


def test_every_package_folder_is_declared() -> None:
    """Every folder with an __init__.py that git tracks (or would), tests aside, is a declared package."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*__init__.py"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    found = {"trustwatch"}
    for name in listed:
        folder = Path(name).parent
        if folder.parts and folder.parts[0] != "tests" and (REPO / name).exists():
            found.add("trustwatch." + ".".join(folder.parts))
    assert found == _declared_packages()


def test_wheel_maps_folders_into_trustwatch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        pytest.fail(result.stderr[-2000:])
    [wheel] = tmp_path.glob("trustwatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"trustwatch", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "trustwatch/server/backends/transformers_backend.py" in names
    assert not any(n.startswith("trustwatch/tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "trustwatch = trustwatch.server.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
