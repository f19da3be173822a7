"""How far the progress line's ETA was from the time a round really took, replayed from a store.

    python -m trustwatch.bench.bench_eta runs/public/store.sqlite --variant magnitude-50

A run's store records when each (variant, item) was done (the ``done`` table). This replays that
history through ``RoundProgress`` as ``trustwatch run`` and ``serve`` ask it (one line every
``PROGRESS_SECONDS``) and prints, at tenths of the round, the time really left beside two ETAs:

- **per probe**: ``RoundProgress`` (each probe's answers at its own cost so far);
- **one rate** (the peer): the answers left at the round's rate so far, what the line said before.

Only the named variants' answers are replayed, between the first and the last of them: pick a
variant that was answered alone (a variant added to a run directory), so the timestamps are its own.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections import Counter
from pathlib import Path

from trustwatch.bench.harness import machine_line, print_table
from trustwatch.server.summaries import PROGRESS_SECONDS, ProbeProgress, ReplayStatus, RoundProgress, duration


def history(store: Path, variants: list[str], round_: int) -> list[tuple[float, str, str]]:
    """(time done, variant, probe) of the variants' items in the round, oldest first."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        marks = ",".join("?" * len(variants))
        rows = db.execute(
            f"SELECT created, variant, probe FROM done WHERE round = ? AND variant IN ({marks}) ORDER BY created",
            [round_, *variants],
        ).fetchall()
    if not rows:
        raise SystemExit(f"{store}: no items done in round {round_} by {', '.join(variants)}")
    return [(float(t), v, p) for t, v, p in rows]


def replay(events: list[tuple[float, str, str]]) -> list[tuple[float, float, float, float]]:
    """(fraction of the time, seconds really left, per-probe ETA, one-rate ETA) at each line."""
    totals = Counter((v, p) for _, v, p in events)
    began, ended = events[0][0], events[-1][0]
    meter = RoundProgress()
    done: Counter[tuple[str, str]] = Counter()
    rows: list[tuple[float, float, float, float]] = []
    index, now, total = 0, began, len(events)
    first: int | None = None  # answers done at the first line: the old line's rate counted from there
    while now <= ended:
        while index < total and events[index][0] <= now:
            done[events[index][1:]] += 1
            index += 1
        status = ReplayStatus(True, 0, 0, 0.0, "", 0,
                              [ProbeProgress(v, p, done[(v, p)], n) for (v, p), n in totals.items()])
        answered = sum(done.values())
        first = answered if first is None else first
        if meter.line(status, now) is not None and meter.eta_seconds is not None and answered < total:
            rate = (answered - first) / (now - began)
            rows.append(((now - began) / (ended - began), ended - now, meter.eta_seconds, (total - answered) / rate))
        now += PROGRESS_SECONDS
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", type=Path, help="a results store (store.sqlite of a run directory or of serve)")
    parser.add_argument("--variant", action="append", required=True, help="a variant answered alone (repeatable)")
    parser.add_argument("--round", type=int, default=0)
    args = parser.parse_args(argv)
    events = history(args.store, args.variant, args.round)
    rows, shown = [], set()
    for fraction, left, per_probe, one_rate in replay(events):
        tenth = int(fraction * 10)
        if tenth and tenth not in shown:  # the first line of each tenth of the round
            shown.add(tenth)
            rows.append([f"{fraction:.0%}", duration(left), duration(per_probe), duration(one_rate),
                         per_probe / left, one_rate / left])
    print(machine_line())
    print_table(
        f"{args.store}: {', '.join(args.variant)}, {len(events)} answers in {duration(events[-1][0] - events[0][0])}",
        ["time passed", "really left", "ETA per probe", "ETA one rate (peer)", "per probe / really",
         "one rate / really"],
        rows,
    )


if __name__ == "__main__":
    main()
