"""The tables of docs/study.md, read from a run directory's report.json (nothing is recomputed).

    trustwatch run --config probes/configs/study.yaml --out runs/public
    python -m trustwatch.bench.study_report runs/public > study-tables.md
    # the same outcomes under another policy (or after a policy change):
    trustwatch gate --run runs/public --json --all-rows --policy FILE > gate.json
    python -m trustwatch.bench.study_report runs/public --gate gate.json

Three views of the gate's own rows (its policy, intervals and FDR adjustment, as ``trustwatch
gate`` reads them):

1. each candidate's verdict, whether it was caught as degenerate, and its rows by status;
2. per rule, the overall divergence with its interval beside the spread of the per-group
   divergences (the lowest and highest group, and how many groups' intervals lie wholly above
   or below zero): "groups move apart while the mean stays flat";
3. the rows that decided a FAIL or kept a verdict INCONCLUSIVE.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from trustwatch.bench.harness import print_table

OVERALL = "all"


def _rows(gate: dict[str, Any]) -> list[dict[str, Any]]:
    """Every counted row of a verdict (``rows``); a FAIL's ``reasons`` list only the rows that decided it."""
    return gate.get("rows") or gate["reasons"]


def verdict_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for gate in report["gate"]:
        statuses = Counter(row["status"] for row in _rows(gate))
        rows.append([gate["candidate"], gate["verdict"], "yes" if gate["degenerate"] else "no",
                     ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))])
    return rows


def spread_rows(report: dict[str, Any]) -> list[list[Any]]:
    """Per candidate and rule: the overall row against its groups' spread."""
    rows = []
    for gate in report["gate"]:
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for row in _rows(gate):
            by_rule.setdefault(row["rule"], []).append(row)
        for rule, reasons in by_rule.items():
            overall = next((r for r in reasons if r["group"] == OVERALL), None)
            groups = [r for r in reasons if r["group"] != OVERALL and r["divergence"]["n_items"]]
            if overall is None or not groups:
                continue
            d = overall["divergence"]
            diffs = [(r["divergence"]["degradation"], r["group"]) for r in groups
                     if r["divergence"]["degradation"] == r["divergence"]["degradation"]]
            if not diffs:
                continue
            low, high = min(diffs), max(diffs)
            worse = sum(r["divergence"]["lower"] > 0 for r in groups)
            better = sum(r["divergence"]["upper"] < 0 for r in groups)
            tolerance = f"{overall['tolerance']:g}" + (" rel" if d.get("relative") else "")
            rows.append([gate["candidate"], rule, tolerance, d["degradation"],
                         f"[{d['lower']:.3g}, {d['upper']:.3g}]", len(groups),
                         f"{low[0]:.3g} ({low[1]})", f"{high[0]:.3g} ({high[1]})", worse, better,
                         overall["status"]])
    return rows


def deciding_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for gate in report["gate"]:
        for reason in _rows(gate):
            if reason["status"] == "pass":
                continue
            d = reason["divergence"] or {}
            rows.append([gate["candidate"], reason["rule"], reason["group"], reason["status"],
                         d.get("baseline_value"), d.get("candidate_value"), d.get("degradation"),
                         f"[{d.get('lower', float('nan')):.3g}, {d.get('upper', float('nan')):.3g}]",
                         f"{reason['tolerance']:g}" + (" rel" if d.get("relative") else ""), reason.get("q_value"),
                         reason["reason"][:80]])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run directory (trustwatch run --out)")
    parser.add_argument("--deciding-limit", type=int, default=40, help="most non-passing rows listed per table")
    parser.add_argument("--gate", type=Path, metavar="FILE",
                        help="verdicts to show instead of the report's: the output of `trustwatch gate --run DIR "
                             "--json --all-rows` (the same outcomes under another policy)")
    args = parser.parse_args(argv)
    path = args.run / "report.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no report.json here; run `trustwatch run --out {args.run}` first")
    report = json.loads(path.read_text())
    if args.gate is not None:
        try:
            report["gate"] = json.loads(args.gate.read_text())["verdicts"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SystemExit(f"{args.gate}: not the JSON of `trustwatch gate --json --all-rows` ({error})") from error
    items = ", ".join(f"{probe} {n:,}" for probe, n in report["items"].items())
    print(f"run: {args.run} | trustwatch {report['trustwatch']} | {report['elapsed_s']:.0f} s "
          f"({report['started_at']} to {report['finished_at']}) | items per variant: {items}")
    print_table("Verdicts (the default policy, fixed mode unless the policy says otherwise)",
                ["candidate", "verdict", "degenerate", "rows by status"], verdict_rows(report))
    print_table("Overall against per-group divergence (degradation: positive is worse; an interval wholly "
                "above 0 is a group that got worse, wholly below 0 one that got better)",
                ["candidate", "rule", "tolerance", "overall", "overall 95% interval", "groups", "lowest group",
                 "highest group", "groups worse", "groups better", "overall status"], spread_rows(report))
    deciding = deciding_rows(report)
    print_table(f"Rows that did not pass ({len(deciding)}; the first {args.deciding_limit})",
                ["candidate", "rule", "group", "status", "baseline", "candidate value", "degradation", "interval",
                 "tolerance", "q", "reason"], deciding[: args.deciding_limit])


if __name__ == "__main__":
    main()
