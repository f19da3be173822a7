"""`trustwatch gate` and `trustwatch diff`: exit codes, tables, JSON, bad input naming the line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trustwatch.monitors.simulate import simulate_rows
from trustwatch.server.cli import main as cli_main


@pytest.fixture
def tw(capsys: pytest.CaptureFixture[str]):
    """Run the CLI in-process: (code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = cli_main.main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def write_run(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "outcomes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def policy_file(tmp_path: Path, tolerance: float) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "baseline: original\nconfidence: 0.95\nresamples: 500\nrules:\n"
        f"  - {{probe: crows_pairs, metric: stereotype_preferred, worse: higher, tolerance: {tolerance},"
        " groups: worst, min_items: 50}\n"
    )
    return path


def crows_rows(n: int, shift: float, seed: int = 0) -> list[dict]:
    return simulate_rows(
        n,
        np.random.default_rng(seed),
        probe="crows_pairs",
        metric="stereotype_preferred",
        kind="binary",
        shift=shift,
        candidate="q4",
    )


def test_gate_exit_codes(tw, tmp_path: Path) -> None:
    passing = write_run(tmp_path / "pass", crows_rows(2000, 0.0))
    code, out, _ = tw("gate", "--run", str(passing), "--policy", str(policy_file(tmp_path, 0.1)))
    assert code == 0 and "q4 vs original: PASS" in out and "Benjamini-Hochberg" in out

    failing = write_run(tmp_path / "fail", crows_rows(2000, 0.2))
    code, out, _ = tw(
        "gate",
        "--outcomes",
        str(failing / "outcomes.jsonl"),
        "--policy",
        str(policy_file(tmp_path, 0.05)),
        "--json",
    )
    payload = json.loads(out)
    assert code == 1 and payload["exit_code"] == 1
    (verdict,) = payload["verdicts"]
    assert verdict["verdict"] == "FAIL" and verdict["reasons"][0]["status"] == "fail"
    assert verdict["reasons"][0]["divergence"]["degradation"] > 0.05

    unsure = write_run(tmp_path / "unsure", crows_rows(300, 0.1))
    code, out, _ = tw(
        "gate", "--run", str(unsure), "--policy", str(policy_file(tmp_path, 0.1)), "--mode", "sequential"
    )
    assert code == 2 and "INCONCLUSIVE" in out and "more items per group needed" in out


def test_a_probe_the_run_or_config_holds_but_the_outcomes_lack_holds_the_gate(tw, tmp_path: Path) -> None:
    """The outcomes alone cannot tell a probe nobody asked for from one not answered yet: the run's
    report.json (--run) and the config's probe items (--config) can, and the gate waits for it."""
    policy = policy_file(tmp_path, 0.1)
    policy.write_text(policy.read_text() + "  - {probe: bbq, metric: accuracy_ambig, tolerance: 0.04, min_items: 50}\n")
    run = write_run(tmp_path / "half", crows_rows(2000, 0.0))
    code, out, _ = tw("gate", "--run", str(run), "--policy", str(policy))
    assert code == 0 and "q4 vs original: PASS" in out and "not measured, rules skipped: bbq/accuracy_ambig" in out

    (run / "report.json").write_text(json.dumps({"items": {"crows_pairs": 2000, "bbq": 24}}))
    code, out, _ = tw("gate", "--run", str(run), "--policy", str(policy))
    assert code == 2 and "q4 vs original: INCONCLUSIVE" in out
    assert "probe 'bbq' is configured, but original and q4 have no outcome of it yet" in out

    config = tmp_path / "config.yaml"
    config.write_text(
        f"baseline: original\npolicy: {policy}\nvariants:\n  - {{name: original, model: {tmp_path}}}\n"
        f"  - {{name: q4, model: {tmp_path}}}\nreplay: {{mode: fixed}}\nprobes:\n  - {{builtin: crows_pairs}}\n"
    )
    code, out, _ = tw("gate", "--outcomes", str(run / "outcomes.jsonl"), "--config", str(config))
    assert code == 0, out
    config.write_text(config.read_text() + "  - {builtin: bbq, limit: 2}\n")
    code, out, _ = tw("gate", "--outcomes", str(run / "outcomes.jsonl"), "--config", str(config))
    assert code == 2 and "probe 'bbq' is configured" in out
    # a config whose probe data cannot be read is bad input, named, not a gate without that probe
    config.write_text(config.read_text() + f"  - {{data: {tmp_path / 'missing'}, loader: bbq}}\n")
    code, _, err = tw("gate", "--outcomes", str(run / "outcomes.jsonl"), "--config", str(config))
    assert code == 3 and f"probes[2].data: no such directory: {tmp_path / 'missing'}" in err


def test_gate_bad_input_exits_3_naming_the_line(tw, tmp_path: Path) -> None:
    rows = crows_rows(60, 0.0)
    rows[7] = {**rows[7], "value": "yes"}
    run = write_run(tmp_path / "bad", rows)
    code, _, err = tw("gate", "--run", str(run))
    assert code == 3 and f"{run / 'outcomes.jsonl'}:8: value must be a number, got str 'yes'" in err

    del rows[7]["value"]
    write_run(run, rows)
    code, _, err = tw("gate", "--run", str(run))
    assert code == 3 and "outcomes.jsonl:8: missing field(s) value" in err

    good = write_run(tmp_path / "good", crows_rows(60, 0.0))
    code, _, err = tw("gate", "--run", str(good), "--baseline", "fp16")
    assert code == 3 and "unknown baseline variant 'fp16'; the outcomes have original, q4" in err

    unpaired = [r for r in crows_rows(60, 0.0) if (r["variant"] == "original") == (r["item_id"] < 30)]
    run = write_run(tmp_path / "unpaired", unpaired)
    code, _, err = tw("gate", "--run", str(run))
    assert code == 3 and "outcomes.jsonl:31: variant 'q4', probe 'crows_pairs': no item is paired" in err

    bad_policy = tmp_path / "bad_policy.yaml"
    bad_policy.write_text("rules:\n  - {probe: p, metric: m}\n")
    code, _, err = tw("gate", "--run", str(good), "--policy", str(bad_policy))
    assert code == 3 and "rules[0]: missing key 'tolerance'" in err

    code, _, err = tw("gate")  # neither --run nor --outcomes: a usage error is bad input too
    assert code == 3 and "one of the arguments --outcomes --run is required" in err


def test_diff_prints_the_divergence_table(tw, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", crows_rows(400, 0.1))
    code, out, _ = tw("diff", "--run", str(run))
    assert code == 0
    assert "q4 vs original: degradation (positive = worse), 95% intervals" in out
    lines = [line for line in out.splitlines() if line.startswith("crows_pairs")]
    assert [line.split()[2] for line in lines] == ["all", "a", "b", "c", "d"]
    assert all("newcombe" in line for line in lines)
    code, out, _ = tw("diff", "--run", str(run), "--json", "--mode", "sequential", "--all-outcomes")
    rows = json.loads(out)["rows"]
    assert {r["metric"] for r in rows} == {"stereotype_score", "stereotype_preferred"}
    assert all(r["method"] == "confidence-sequence" and r["lower"] <= r["degradation"] for r in rows)
    code, _, err = tw("diff", "--run", str(tmp_path / "absent"))
    assert code == 3 and "no such run directory" in err
