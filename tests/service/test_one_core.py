"""One store, three entry points: `trustwatch diff --json` / `trustwatch gate --json` (processes),
GetDivergence / GetGate (a real gRPC server) and /gate (real HTTP) answer from the one core,
with the same policy's baseline, confidence, resamples, seed and mode: identical rows and verdicts."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trustwatch.monitors.simulate import simulate_rows
from trustwatch.server.store import ItemRecord, Store

from .harness import EXE, Served, pb, serve, tiny_run_config

BASELINE = "base"
CANDIDATES = {"q_pass": 0.0, "q_fail": 0.3}
PENDING = "q_new"
"""A candidate of the config with no outcome in the store: its verdict is the pending one."""
POLICY = f"""baseline: {BASELINE}
confidence: 0.9
resamples: 300
seed: 7
rules:
  - {{probe: crows_pairs, metric: stereotype_score, tolerance: 5.0, min_items: 40}}
  - {{probe: sim, metric: score, worse: higher, tolerance: 0.05, min_items: 40}}
"""
ROW_FIELDS = ("baseline", "candidate", "probe", "metric", "group", "baseline_value", "candidate_value",
              "degradation", "lower", "upper", "n_items", "confidence", "method", "worse")


def build_store(path: Path, n: int = 200) -> None:
    """Paired outcomes of the baseline and two candidates: a binary and a continuous probe."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for candidate, shift in CANDIDATES.items():
        for probe, metric, kind in (("crows_pairs", "stereotype_preferred", "binary"), ("sim", "score", "continuous")):
            rng = np.random.default_rng(11)  # the same baseline draws for every candidate
            for row in simulate_rows(n, rng, probe=probe, metric=metric, kind=kind, shift=shift / 10
                                     if kind == "continuous" else shift, baseline=BASELINE, candidate=candidate):
                rows[(row["variant"], probe, str(row["item_id"]))] = row
    store = Store(path)
    try:
        for variant in (BASELINE, *CANDIDATES):
            store.record(variant, 0, [
                ItemRecord(f"{probe}-{item}", probe, row["group"], [{"metric": row["metric"], "value": row["value"]}])
                for (v, probe, item), row in rows.items()
                if v == variant
            ])
    finally:
        store.close()


def cli(*args: str) -> tuple[int, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(EXE), *args, "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode in (0, 1, 2), done.stderr
    return done.returncode, json.loads(done.stdout)


def comparable(value: Any) -> Any:
    """NaN compares equal to itself (JSON and protobuf both carry it)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def message_row(row: pb.DivergenceRow) -> dict[str, Any]:
    return comparable({name: getattr(row, name) for name in ROW_FIELDS})


@pytest.fixture(scope="module")
def served_store(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Served, Path, Path]:
    work = tmp_path_factory.mktemp("one-core")
    store = work / "store.sqlite"
    build_store(store)
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    config = tiny_run_config(tiny_model_dir, limit=1, baseline=BASELINE, policy=str(policy),
                             store={"path": str(store)}, replay={"autostart": False, "mode": "fixed"})
    config["variants"] = [{"name": name, "model": str(tiny_model_dir)}
                          for name in (BASELINE, *CANDIDATES, PENDING)]
    with serve(config, work) as running:
        running.wait_serving()
        yield running, store, policy


def test_diff_and_get_divergence_give_the_same_rows(served_store: tuple[Served, Path, Path]) -> None:
    served, store, policy = served_store
    code, payload = cli("diff", "--outcomes", str(store), "--policy", str(policy))
    assert code == 0 and payload["baseline"] == BASELINE
    rows = [comparable({k: row[k] for k in ROW_FIELDS}) for row in payload["rows"]]
    assert {r["confidence"] for r in rows} == {0.9}  # the policy's, not a flag's default
    assert {r["method"] for r in rows} >= {"bootstrap"}  # the policy's mode: fixed
    stub = served.stub()
    served_rows = [
        message_row(r)
        for candidate in dict.fromkeys(r["candidate"] for r in rows)
        for r in stub.GetDivergence(pb.GetDivergenceRequest(candidate=candidate)).rows
    ]
    assert {r["candidate"] for r in rows} == set(CANDIDATES)
    assert served_rows == rows
    filtered = [message_row(r) for r in stub.GetDivergence(
        pb.GetDivergenceRequest(candidate="q_fail", probe="sim", group="b")).rows]
    assert filtered and filtered == [
        r for r in rows if (r["candidate"], r["probe"], r["group"]) == ("q_fail", "sim", "b")
    ]
    assert not stub.GetDivergence(pb.GetDivergenceRequest(candidate=PENDING)).rows
    # --config: the serve config's policy, baseline and replay.mode, exactly as the service took them
    code, from_config = cli("diff", "--outcomes", str(store), "--config", str(store.parent / "config.yaml"))
    assert code == 0 and [comparable({k: row[k] for k in ROW_FIELDS}) for row in from_config["rows"]] == served_rows


def test_gate_cli_get_gate_and_http_gate_give_the_same_verdicts(served_store: tuple[Served, Path, Path]) -> None:
    served, store, policy = served_store
    code, payload = cli("gate", "--outcomes", str(store), "--policy", str(policy))
    offline = {v["candidate"]: v for v in payload["verdicts"]}
    assert offline["q_fail"]["verdict"] == "FAIL" and offline["q_pass"]["verdict"] != "FAIL"
    assert code == 1

    status, body = served.get("/gate")
    assert status == 200
    http = json.loads(body)
    assert http["baseline"] == BASELINE
    stub = served.stub()
    for candidate, verdict in offline.items():
        online = http["candidates"][candidate]
        assert online.pop("revision") >= 1
        verdict.pop("rows")
        assert comparable(online) == comparable(verdict)
        message = stub.GetGate(pb.GetGateRequest(candidate=candidate))
        assert pb.GateVerdict.Decision.Name(message.verdict) == verdict["verdict"]
        assert message.mode == verdict["mode"] and message.degenerate == verdict["degenerate"]
        assert [(r.rule, r.group, r.status, r.reason) for r in message.reasons] == [
            (r["rule"], r["group"], r["status"], r["reason"]) for r in verdict["reasons"]
        ]
        assert message.items_needed == (verdict["items_needed"] or 0)

    # The pending verdict is written once, in the core: HTTP and gRPC carry the same one.
    pending = http["candidates"][PENDING]
    message = served.stub().GetGate(pb.GetGateRequest(candidate=PENDING))
    assert pending["verdict"] == "INCONCLUSIVE" == pb.GateVerdict.Decision.Name(message.verdict)
    assert [(r["status"], r["reason"]) for r in pending["reasons"]] == [
        (r.status, r.reason) for r in message.reasons
    ] == [("no_data", "no paired outcomes yet")]
    assert pending["baseline"] == message.baseline == BASELINE
    assert message.evaluated_at > 0  # the other candidates were evaluated: this analysis too


def test_watch_gate_sends_the_current_verdict_first_even_before_any_data(
    served_store: tuple[Served, Path, Path],
) -> None:
    served, _, _ = served_store
    stream = served.stub().WatchGate(pb.WatchGateRequest(candidate=PENDING), timeout=20)
    first = next(iter(stream))
    stream.cancel()
    assert first.candidate == PENDING and pb.GateVerdict.Decision.Name(first.verdict) == "INCONCLUSIVE"
    assert [(r.status, r.reason) for r in first.reasons] == [("no_data", "no paired outcomes yet")]
