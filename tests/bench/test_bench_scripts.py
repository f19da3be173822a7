"""Smoke runs of the benchmark scripts at their ``--quick`` sizes: each runs and ends with its table.

Nothing here times anything: the tables' numbers are checked for shape and for the facts that
must hold whatever the machine (both CrowS-Pairs contenders agree item for item; every probe
kind processed tokens).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import SHARED_PROBESETS
from trustwatch.bench import (
    bench_coupling,
    bench_detection,
    bench_eta,
    bench_generation,
    bench_limit,
    bench_packing,
    bench_scaling,
    dialect_tokens,
)
from trustwatch.server.backends.transformers_backend import PACK_NODES


def table_rows(text: str) -> list[list[str]]:
    """The data rows of every Markdown table printed (header and rule lines left out)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    headers = {i - 1 for i, line in enumerate(lines) if line.startswith("|-")}
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for i, line in enumerate(lines)
        if i not in headers and not line.startswith("|-")
    ]


def test_detection_quick_prints_a_case_per_outcome_and_degradation(capsys: pytest.CaptureFixture[str]) -> None:
    bench_detection.main(["--quick"])
    rows = table_rows(capsys.readouterr().out)
    assert [(r[0], r[1]) for r in rows] == [
        ("continuous", "1 tol over"), ("continuous", "2 tol over"), ("binary", "1 tol over"), ("binary", "2 tol over")
    ]
    # a shift of three tolerances on a continuous score is caught within 100 items per group
    assert rows[1][3] != ">100"


@pytest.mark.slow
def test_limit_quick_rates_every_probe_kind(capsys: pytest.CaptureFixture[str]) -> None:
    bench_limit.main(["--quick"])
    rows = table_rows(capsys.readouterr().out)
    kinds = [r[0].split(" ")[0] for r in rows[1:]]
    assert kinds == list(bench_limit.KINDS)
    assert all(int(r[2].replace(",", "")) > 0 and float(r[5]) > 0 for r in rows[1:])


@pytest.mark.slow
def test_generation_quick_compares_with_the_plain_loop(capsys: pytest.CaptureFixture[str]) -> None:
    bench_generation.main(["--quick"])
    rows = table_rows(capsys.readouterr().out)
    sweep, timed = [r for r in rows if len(r) == 5], [r for r in rows if len(r) == 7]
    assert {(r[0], r[1]) for r in sweep} >= {("trustwatch", "1"), ("trustwatch", "8")}
    # without lm-eval (this venv) the plain loop is the named baseline; trustwatch runs at its swept best
    assert timed[0][0].startswith("transformers generate") and "baseline" in timed[0][0] and timed[0][-1] == "1.00"
    assert any(r[0].startswith("trustwatch generate") and "(its best)" in r[0] for r in timed)


@pytest.mark.slow
def test_scaling_quick_prints_both_tables(capsys: pytest.CaptureFixture[str]) -> None:
    bench_scaling.main(["--quick"])
    rows = table_rows(capsys.readouterr().out)
    assert [r[0] for r in rows] == ["1", "2", "20", "100"]
    assert [r[2] for r in rows[:2]] == ["2", "4"]  # answers: items x variants


@pytest.mark.slow
def test_likelihood_quick_agrees_with_lm_eval(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("lm_eval", reason="lm-eval lives in the bench venv only (make bench-env)")
    from trustwatch.bench import bench_likelihood

    bench_likelihood.main(["--quick"])
    out = capsys.readouterr().out
    rows = [r for r in table_rows(out) if len(r) == 8]  # the timed tables, not the sweeps
    assert {r[0].split(",")[0] for r in rows} == {"lm-eval 0.4 hf", "trustwatch transformers"}
    assert sum("(its best; baseline)" in r[0] for r in rows) == 2  # one per probe, the ratio's denominator
    assert {r[-1] for r in rows} == {"0"}  # no item answered differently from trustwatch
    assert "achieved:" in out and "% of this machine's float32 matmul rate" in out


@pytest.mark.slow
def test_packing_quick_caps_rows_and_keeps_every_answer(capsys: pytest.CaptureFixture[str]) -> None:
    bench_packing.main(["--quick"])
    rows = table_rows(capsys.readouterr().out)
    assert len(rows) == 3 * 3  # three item sets x (uncapped, 128, PACK_NODES)
    for row in rows:
        assert row[-1] == "0", f"capping rows changed an answer: {row}"
        if not row[0].startswith("uncapped"):
            assert int(row[6].replace(",", "")) <= int(row[0].split()[0])
    # BBQ's Age items share template prefixes: uncapped, they pack past PACK_NODES in one row
    assert int(rows[0][6].replace(",", "")) > PACK_NODES


@pytest.mark.slow
def test_coupling_quick_shares_most_leading_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    bench_coupling.main(["--quick"])
    [[samples, identical, _, shared]] = table_rows(capsys.readouterr().out)
    assert int(samples) == 8 and 0 <= int(identical) <= 8
    # the same seeds give the 8-bit variant the original's random numbers: ranked draws shared ~3%
    assert float(shared) > 25


def test_dialect_tokens_quick_traces_the_gap_to_shared_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    dialect_tokens.main(["--quick", "--data", str(SHARED_PROBESETS)])
    rows = table_rows(capsys.readouterr().out)
    original, variant = rows[0], rows[1]
    assert original[0] == "original" and original[2] == "+0.00%" and original[3] == original[4] == "0"
    assert variant[0] == next(iter(dialect_tokens.VARIANTS)) and float(variant[1]) > 1
    # 8-bit RTN moves the weights by well under a few percent, and the original not at all
    assert original[5] == "" and 0 < float(variant[5].rstrip("%")) < 3
    # Every SAE sentence holds " usually" at position 2: one row for all of them.
    usually = [r for r in rows if r[1] == "' usually'"]
    assert [(r[0], r[2]) for r in usually] == [("2", str(dialect_tokens.QUICK_PAIRS))]


def test_eta_replays_a_store_and_the_per_probe_eta_holds_for_the_slow_probe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """100 scored answers in 20 s, then 10 generated ones in 100 s, as a store's ``done`` table holds them."""
    store = tmp_path / "store.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE done (round INTEGER, item_id TEXT, variant TEXT, probe TEXT, created REAL)")
        db.executemany("INSERT INTO done VALUES (0, ?, 'v', ?, ?)",
                       [(f"b{i}", "bbq", 1000 + 0.2 * i) for i in range(100)]
                       + [(f"t{i}", "toxicity", 1020 + 10 * (i + 1)) for i in range(10)])
    rows = bench_eta.replay(bench_eta.history(store, ["v"], 0))
    late = [row for row in rows if row[0] > 0.5]  # the generated answers: the line said "done" soon
    assert late and all(0.6 < per_probe / left < 1.5 for _, left, per_probe, _ in late)
    assert all(one_rate / left < 0.6 for _, left, _, one_rate in late)
    bench_eta.main([str(store), "--variant", "v"])
    assert len(table_rows(capsys.readouterr().out)) >= 5
