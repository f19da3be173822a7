"""Start-up edges through the real CLI: each bad config exits 2 with one line naming the config
file and the key, before the store is created; a baseline that fails to load ends `serve` with
exit 1 instead of a process that is never ready."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXE = Path(sys.executable).with_name("trustwatch")
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def serve(config: dict[str, object], folder: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [str(EXE), "serve", "--config", str(path), "--grpc-address", "127.0.0.1:0",
         "--metrics-address", "127.0.0.1:0", "--quiet"],
        capture_output=True, text=True, timeout=timeout, env=ENV, cwd=folder,
    )


def config_with(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "variants": [{"name": "a", "model": "embedded:smollm2-135m"}],
        "probes": [{"builtin": "all", "limit": 1}],
        "store": {"path": str(tmp_path / "store.sqlite")},
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"probes": [{"data": "sets", "loader": "no_such_loader"}]},
         "probes[0].loader: unknown loader 'no_such_loader' (known: crows_pairs"),
        ({"probes": [{"data": "missing-dir", "loader": "crows_pairs"}]},
         "probes[0].data: no such directory: {tmp}/missing-dir"),
        ({"scorer": {"name": "perspective"}},
         "scorer.name: unknown scorer 'perspective' (known: profanity, detoxify, hf-classifier)"),
        ({"probes": [{"file": "empty.jsonl"}]},
         "probes[0].file: file:{tmp}/empty.jsonl gives no probe items (the file is empty)"),
    ],
    ids=["unknown-loader", "missing-data-dir", "unknown-scorer", "empty-probe-file"],
)
def test_a_bad_config_names_the_file_and_the_key(tmp_path: Path, extra: dict[str, object], message: str) -> None:
    (tmp_path / "sets").mkdir()
    (tmp_path / "empty.jsonl").write_text("\n")
    done = serve(config_with(tmp_path, **extra), tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    expected = f"trustwatch serve: error: {tmp_path / 'serve.yaml'}: {message.format(tmp=tmp_path)}"
    assert done.stderr.strip().splitlines()[-1].startswith(expected), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "store.sqlite").exists()


def test_serve_exits_1_when_the_baseline_fails_to_load(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # a folder that looks like a model and is not one
    config = {
        "variants": [{"name": "a", "model": str(broken)}, {"name": "b", "model": str(broken)}],
        "probes": [{"builtin": "all", "limit": 1}],
        "store": {"path": str(tmp_path / "store.sqlite")},
    }
    done = serve(config, tmp_path, timeout=180)
    assert done.returncode == 1, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "trustwatch serve: error: baseline 'a' failed to load: " in done.stderr
    assert "Traceback" not in done.stderr
