"""Method options: parsed and checked before any model is loaded.

``parse_options`` turns a mapping (a config's ``compress:`` block, or the CLI's flags) into
``CompressOptions`` and raises ``ConfigError`` (a ``ValueError``) naming the offending option: an unknown
method, an option the method does not take, sparsity outside [0, 1), unsupported bits, a
malformed N:M pattern. ``check_model_shapes`` then checks what depends on the model (a
group size or an M that does not divide a layer's input width) from the model's config
alone, on the meta device, before any weight is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.common.errors import ConfigError

METHODS = ("rtn", "gptq", "magnitude", "nm", "wanda", "sparsegpt")
"""Every method ``--method`` accepts."""

RTN_BITS = (8, 4, 3)
GPTQ_BITS = (4, 3)
GPTQ_GROUP_SIZES = (32, 64, 128)
"""What the GPTQ kernels take: torch's CPU int4 kernel wants 32/64/128/256, vLLM's Marlin -1/32/64/128."""
DEFAULT_GROUP_SIZE = 64
DEFAULT_SAMPLES = 16
DEFAULT_SEQ_LEN = 256

_CALIBRATION = ("calibration", "samples", "seq_len")
_ALLOWED: dict[str, tuple[str, ...]] = {
    "rtn": ("bits", "group_size", "sym", "include_head"),
    "gptq": ("bits", "group_size", "sym", *_CALIBRATION),
    "magnitude": ("sparsity", "include_head"),
    "nm": ("pattern", "include_head"),
    "wanda": ("sparsity", "pattern", "include_head", *_CALIBRATION),
    "sparsegpt": ("sparsity", "pattern", *_CALIBRATION),
}
_NEEDS_CALIBRATION = frozenset({"gptq", "wanda", "sparsegpt"})


@dataclass(frozen=True)
class CompressOptions:
    """One method and its parameters, already checked (``parse_options`` builds it)."""

    method: str
    bits: int | None = None
    group_size: int | None = None
    """Weights per quantization group along a row's input; -1 means one group per output row."""
    sym: bool = True
    sparsity: float | None = None
    pattern: tuple[int, int] | None = None
    """N:M: keep at most N non-zeros in every M consecutive weights of a row (Mishra et al. 2021)."""
    calibration: str | None = None
    """A text file to calibrate on; None is the built-in text (``trustwatch.compress.calibration``)."""
    samples: int = DEFAULT_SAMPLES
    seq_len: int = DEFAULT_SEQ_LEN
    include_head: bool = False
    given: tuple[str, ...] = field(default=(), compare=False)

    @property
    def needs_calibration(self) -> bool:
        return self.method in _NEEDS_CALIBRATION

    @property
    def calibration_procedure(self) -> str | None:
        """How calibration activations reach each layer (manifest and cache key)."""
        if self.method in ("wanda", "sparsegpt"):
            return "block-by-block"  # each block on the outputs of the compressed blocks before it
        return "gptqmodel" if self.method == "gptq" else None

    def parameters(self) -> dict[str, Any]:
        """The parameters that define the variant (manifest and cache key): only those the method takes."""
        out: dict[str, Any] = {}
        for name in _ALLOWED[self.method]:
            if name == "calibration":
                continue  # recorded by its hash, not its path
            value = getattr(self, name)
            if name == "pattern" and value is not None:
                value = f"{value[0]}:{value[1]}"
            if value is not None:
                out[name] = value
        return out

    def describe(self) -> str:
        """A short label such as ``rtn 4-bit g64 sym`` or ``wanda 2:4``."""
        if self.method in ("rtn", "gptq"):
            group = "per-row" if self.group_size == -1 else f"g{self.group_size}"
            return f"{self.method} {self.bits}-bit {group} {'sym' if self.sym else 'asym'}"
        if self.pattern is not None:
            return f"{self.method} {self.pattern[0]}:{self.pattern[1]}"
        return f"{self.method} {self.sparsity:.0%}"


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"option {name}: expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"option {name}: expected an integer, got {value!r}") from None


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ConfigError(f"option {name}: expected true or false, got {value!r}")


def parse_pattern(value: Any) -> tuple[int, int]:
    """``"2:4"`` (or ``[2, 4]``) -> ``(2, 4)``: keep N of every M, 0 < N < M."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        value = f"{value[0]}:{value[1]}"
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(value))
    if not match:
        raise ConfigError(f"option pattern: expected N:M such as 2:4 or 4:8, got {value!r}")
    n, m = int(match[1]), int(match[2])
    if not 0 < n < m:
        raise ConfigError(f"option pattern: N:M needs 0 < N < M, got {n}:{m}")
    return n, m


def parse_options(spec: Mapping[str, Any]) -> CompressOptions:
    """Check a method and its options; raise ``ConfigError`` naming the first bad one."""
    given = {str(k).replace("-", "_"): v for k, v in spec.items() if v is not None}
    method = str(given.pop("method", "")).strip().lower()
    if method not in METHODS:
        raise ConfigError(f"option method: {method or '(missing)'!r} is not one of {', '.join(METHODS)}")
    allowed = _ALLOWED[method]
    for name in given:
        if name not in allowed:
            raise ConfigError(
                f"option {name}: method {method} does not take it (it takes: {', '.join(allowed)})"
            )
    values: dict[str, Any] = {"method": method, "given": tuple(sorted(given))}

    if method in ("rtn", "gptq"):
        supported = RTN_BITS if method == "rtn" else GPTQ_BITS
        bits = _as_int("bits", given.get("bits", 4))
        if bits not in supported:
            raise ConfigError(
                f"option bits: {bits} is not supported by {method} (supported: {', '.join(map(str, supported))})"
            )
        group_size = _as_int("group_size", given.get("group_size", DEFAULT_GROUP_SIZE))
        if group_size != -1 and group_size < 1:
            raise ConfigError(
                f"option group_size: {group_size} must be a positive integer, or -1 for one group per row"
            )
        if method == "gptq" and group_size not in GPTQ_GROUP_SIZES:
            raise ConfigError(
                f"option group_size: {group_size} is not supported by gptq kernels "
                f"(supported: {', '.join(map(str, GPTQ_GROUP_SIZES))})"
            )
        values.update(bits=bits, group_size=group_size, sym=_as_bool("sym", given.get("sym", True)))

    if "sparsity" in allowed:
        sparsity, pattern = given.get("sparsity"), given.get("pattern")
        if method == "magnitude" and sparsity is None:
            raise ConfigError("option sparsity: method magnitude needs it (a fraction in [0, 1), e.g. 0.5)")
        if "pattern" in allowed and (sparsity is None) == (pattern is None):
            raise ConfigError(f"option sparsity / pattern: method {method} needs exactly one of them")
        if sparsity is not None:
            if isinstance(sparsity, bool):
                raise ConfigError(f"option sparsity: expected a fraction in [0, 1), got {sparsity!r}")
            try:
                fraction = float(sparsity)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"option sparsity: expected a fraction in [0, 1), got {sparsity!r}"
                ) from None
            if not 0.0 <= fraction < 1.0:
                raise ConfigError(f"option sparsity: {fraction} is outside [0, 1)")
            values["sparsity"] = fraction
        if pattern is not None:
            values["pattern"] = parse_pattern(pattern)
    elif method == "nm":
        if "pattern" not in given:
            raise ConfigError("option pattern: method nm needs it (N:M such as 2:4 or 4:8)")
        values["pattern"] = parse_pattern(given["pattern"])

    if "include_head" in given:
        values["include_head"] = _as_bool("include_head", given["include_head"])

    if method in _NEEDS_CALIBRATION:
        if "calibration" in given:
            path = Path(str(given["calibration"])).expanduser()
            if not path.is_file():
                raise ConfigError(f"option calibration: no such file: {path.resolve()}")
            values["calibration"] = str(path.resolve())
        for name, default in (("samples", DEFAULT_SAMPLES), ("seq_len", DEFAULT_SEQ_LEN)):
            number = _as_int(name, given.get(name, default))
            if number < 1:
                raise ConfigError(f"option {name}: {number} must be at least 1")
            values[name] = number
    return CompressOptions(**values)


def check_model_shapes(options: CompressOptions, model_path: Path) -> None:
    """Refuse a group size or an N:M block width that does not divide a target layer's input width.

    Reads only ``config.json``: the model is built on the meta device (no weights), so the
    layers checked are exactly those the method will touch (``target_linears``).
    """
    from trustwatch.compress.layers import meta_model, target_linears

    width = options.group_size if options.method in ("rtn", "gptq") else None
    what = "group_size"
    if options.pattern is not None:
        width, what = options.pattern[1], "pattern"
    if width is None or width == -1:
        return
    model = meta_model(model_path)
    for name, layer in target_linears(model, include_head=options.include_head).items():
        if layer.in_features % width:
            label = f"{options.pattern[0]}:{width}" if what == "pattern" else str(width)
            raise ConfigError(
                f"option {what}: {label} does not divide layer {name} "
                f"(input width {layer.in_features}); choose a divisor of every layer's input width"
            )
