"""A canary redeployed behind the same URL and served name: ``trustwatch serve`` notices the new
model (``/v1/models``) while it replays, and counts only the new model's answers.

Two real vLLM servers, one after the other, on the same port under the same served name
``canary``: the embedded model, then its 4-bit RTN variant (a different model folder, from the
compress cache). The swap comes while replay waits between two rounds (a rollout's canary pod
starting while trustwatch is idle): the server is asked every ``SERVED_CHECK_SECONDS``, and a
swap within a round is seen by the same check at the start of the next replay cycle. Runs one
vLLM server at a time (about 1.5 minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from tests.backends.vllm_server import VLLM_PYTHON, VLLMServer, free_port
from tests.conftest import SHARED_PROBESETS
from tests.service.harness import metric_value, pb, serve

ITEMS = 40
RUN_ITEMS = 16
EXE = Path(sys.executable).with_name("trustwatch")


def _done_by_producer(store_path: Path, variant: str) -> tuple[dict[int, int], dict[int, str], set[int]]:
    """Per producer of ``variant``: items done, the served model's root; and the producers bound."""
    with closing(sqlite3.connect(store_path)) as db:
        roots = {id_: json.loads(text).get("served_model", {}).get("root", "") for id_, text in
                 db.execute("SELECT id, fingerprint FROM producers WHERE variant = ?", (variant,)).fetchall()}
        bound = set(json.loads(db.execute("SELECT value FROM meta WHERE key = 'producers'").fetchone()[0]))
        done = dict(db.execute("SELECT producer, COUNT(*) FROM done WHERE variant = ? GROUP BY producer", (variant,)))
    return done, roots, bound


def _two_models() -> tuple[Path, Path]:
    """The model a canary serves first (the embedded one) and the one swapped in (its 4-bit RTN)."""
    from trustwatch.common.model_specs import resolve_model
    from trustwatch.compress.variants import build_variant

    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PYTHON} (make vllm-env builds it; make test does)")
    first = resolve_model("embedded:smollm2-135m").path
    return first, build_variant("embedded:smollm2-135m", {"method": "rtn", "bits": 4, "group_size": 64})


@pytest.mark.slow
def test_a_canary_swapped_under_the_same_url_and_name_starts_afresh(tmp_path: Path, tiny_model_dir: Path) -> None:
    first, second = _two_models()
    port = free_port()
    name = ("--served-model-name", "canary")
    server = VLLMServer(first, tmp_path / "first.log", port=port, extra_args=name)
    store_path = tmp_path / "store.sqlite"
    config = {
        "baseline": "hosted",
        "variants": [
            {"name": "hosted", "model": str(tiny_model_dir)},
            {"name": "canary", "backend": "openai", "model": str(first),
             "options": {"base_url": server.base_url, "model": "canary", "retries": 1}},
        ],
        "probes": [{"data": str(SHARED_PROBESETS / "crows_pairs"), "loader": "crows_pairs", "limit": ITEMS}],
        "store": {"path": str(store_path)},
        "replay": {"items_per_cycle": 8, "round_pause_seconds": 3600, "mode": "fixed"},
    }
    server.start()
    try:
        with serve(config, tmp_path) as served:
            served.wait_serving()
            stub = served.stub()

            def canary_done() -> int:
                progress = stub.GetReplayStatus(pb.GetReplayStatusRequest(), timeout=10).progress
                return sum(p.items_done for p in progress if p.variant == "canary")

            # The round done, replay waits an hour for the next: the swap is seen while it waits.
            served.wait_for(lambda: canary_done() == ITEMS, timeout=300, what="the first model answered the round")
            server.kill()  # the canary pod replaced
            server = VLLMServer(second, tmp_path / "second.log", port=port, extra_args=name)
            server.start()

            def restarted() -> bool:
                return "now serves another model" in served.log.read_text() and canary_done() == ITEMS

            served.wait_for(restarted, timeout=600, what="the second model answered the whole round")
            [warning] = [line for line in served.log.read_text().splitlines() if "now serves another model" in line]
            assert "variant canary" in warning and f"root {str(second)!r}" in warning, warning
            assert f"was root {str(first)!r}" in warning, warning
            changes = metric_value(served.metrics(), "trustwatch_served_model_changes_total", variant="canary")
            assert changes == 1, changes  # counted once: the model first known at load is not a change
    finally:
        server.stop()

    # Both models' answers are kept; only the second model's are read (and the baseline's, kept).
    with closing(sqlite3.connect(store_path)) as db:
        producers = {id_: (variant, json.loads(text)) for id_, variant, text in
                     db.execute("SELECT id, variant, fingerprint FROM producers").fetchall()}
        bound = set(json.loads(db.execute("SELECT value FROM meta WHERE key = 'producers'").fetchone()[0]))
        done = dict(db.execute("SELECT producer, COUNT(*) FROM done WHERE variant = 'canary' GROUP BY producer"))
    served_by = {id_: f["served_model"]["root"] for id_, (v, f) in producers.items() if v == "canary" and id_ in done}
    assert sorted(served_by.values()) == sorted([str(first), str(second)]), producers
    [old] = [id_ for id_, root in served_by.items() if root == str(first)]
    [new] = [id_ for id_, root in served_by.items() if root == str(second)]
    assert done[old] == ITEMS and done[new] == ITEMS
    assert new in bound and old not in bound, "the first model's answers are no longer counted"
    assert any(v == "hosted" and id_ in bound for id_, (v, _) in producers.items())


@pytest.mark.slow
def test_a_run_resumed_against_a_swapped_model_answers_it_afresh(tmp_path: Path, tiny_model_dir: Path) -> None:
    """``trustwatch run`` into the same directory after the canary's server was redeployed (same port,
    same served name, another model): the canary's items are answered again, by the new model, and
    only its answers reach outcomes.jsonl; the hosted baseline resumes from the store."""
    first, second = _two_models()
    port = free_port()
    name = ("--served-model-name", "canary")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "baseline": "hosted",
        "variants": [
            {"name": "hosted", "model": str(tiny_model_dir)},
            {"name": "canary", "backend": "openai", "model": str(first),
             "options": {"base_url": f"http://127.0.0.1:{port}/v1", "model": "canary", "retries": 1}},
        ],
        "probes": [{"data": str(SHARED_PROBESETS / "crows_pairs"), "loader": "crows_pairs", "limit": RUN_ITEMS}],
    }))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    def run() -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(EXE), "run", "--config", str(config), "--out", str(out), "--quiet"],
                                capture_output=True, text=True, env=env, timeout=600, check=False)
        assert result.returncode in (0, 2), result.stderr  # 2: INCONCLUSIVE, on so few items
        return result

    for model, log_name in ((first, "first.log"), (second, "second.log")):
        server = VLLMServer(model, tmp_path / log_name, port=port, extra_args=name)
        server.start()
        try:
            result = run()
        finally:
            server.stop()
        if model == first:
            assert "start afresh" not in result.stderr, result.stderr

    assert f"now serves another model under the same name: root {str(second)!r}" in result.stderr, result.stderr
    assert f"was root {str(first)!r}" in result.stderr, result.stderr
    done, roots, bound = _done_by_producer(out / "store.sqlite", "canary")
    by_root = {roots[id_]: (count, id_ in bound) for id_, count in done.items()}
    assert by_root == {str(first): (RUN_ITEMS, False), str(second): (RUN_ITEMS, True)}, by_root
    hosted, _, _ = _done_by_producer(out / "store.sqlite", "hosted")
    assert list(hosted.values()) == [RUN_ITEMS], "the baseline resumed: answered once, over both runs"
    rows = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    canary_items = {r["item_id"] for r in rows if r["variant"] == "canary"}
    assert len(canary_items) == RUN_ITEMS
    assert sum(1 for r in rows if r["variant"] == "canary") == sum(1 for r in rows if r["variant"] == "hosted")
