"""``trustwatch serve``'s first replay round against ``trustwatch run`` on the same config, one script.

    python -m trustwatch.bench.bench_replay                  # the embedded default's variants, built-in probes
    python -m trustwatch.bench.bench_replay --config my.yaml
    python -m trustwatch.bench.bench_replay --quick          # 2 variants, 2 items per probe: a smoke run

Both commands run as a user runs them, in fresh subprocesses on the same machine, one after
the other (``--repeats`` times, the order alternated): ``trustwatch run --config C --out D``
and ``trustwatch serve --config C --store S --exit-after-first-round``, each with a fresh
output folder or store and the variants already built (a warm-up ``run`` builds them, so
neither side pays for compression). Timed: the whole command, wall clock, model loads
included on both sides. The ratio is serve / run: how much longer the service takes to reach
its first verdict than the batch job on the same items. The target (issue 12) is 1.2 or less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from trustwatch.bench.harness import machine_line, print_table


def quick_config(folder: Path) -> Path:
    """The embedded model and one compressed variant, two items per built-in probe."""
    from trustwatch.server.config import default_raw_config

    raw = default_raw_config()
    raw["variants"] = raw["variants"][:2]
    raw["probes"] = [{"builtin": "all", "limit": 2}]
    raw["generation"] = {"k": 2, "max_new_tokens": 8}
    path = folder / "quick.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def default_config(folder: Path) -> Path:
    """The embedded default (what ``make demo`` serves), written out."""
    from trustwatch.server.config import default_raw_config

    path = folder / "default.yaml"
    path.write_text(yaml.safe_dump(default_raw_config()))
    return path


def timed(command: list[str]) -> float:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="a run/serve config (default: the embedded default)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each command (median)")
    parser.add_argument("--quick", action="store_true", help="2 variants, 2 items per probe")
    args = parser.parse_args(argv)
    exe = str(Path(sys.executable).with_name("trustwatch"))
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench_replay_") as tmp:
        folder = Path(tmp)
        config = args.config or (quick_config(folder) if args.quick else default_config(folder))
        warm = timed([exe, "run", "--config", str(config), "--out", str(folder / "warm"), "--quiet"])
        print(f"warm-up run (builds the variants once): {warm:.0f} s")
        times: dict[str, list[float]] = {"run": [], "serve": []}
        for repeat in range(args.repeats):
            order = ["run", "serve"] if repeat % 2 == 0 else ["serve", "run"]
            for what in order:
                out = folder / f"{what}-{repeat}"
                shutil.rmtree(out, ignore_errors=True)
                if what == "run":
                    command = [exe, "run", "--config", str(config), "--out", str(out), "--quiet"]
                else:
                    out.mkdir()
                    command = [exe, "serve", "--config", str(config), "--store", str(out / "store.sqlite"),
                               "--grpc-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0",
                               "--exit-after-first-round"]
                times[what].append(timed(command))
                print(f"{what}: {times[what][-1]:.0f} s", flush=True)
    run_s, serve_s = statistics.median(times["run"]), statistics.median(times["serve"])
    print_table(
        f"first verdict on {config.name if args.config else ('the quick config' if args.quick else 'the embedded default')}"
        f", median of {args.repeats}; ratio = serve / run (target <= 1.2)",
        ["command", "seconds", "ratio"],
        [["trustwatch run (baseline)", run_s, 1.0], ["trustwatch serve, first round", serve_s, serve_s / run_s]],
    )


if __name__ == "__main__":
    main()
