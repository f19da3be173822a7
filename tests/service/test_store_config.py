"""A real `trustwatch serve` restarted on its store with another config: a variant redefined under
the same name (4-bit -> 3-bit), new generation settings, a variant removed. Outcomes are keyed to
what produced them, so the redefined variant starts afresh and nothing old is mixed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .harness import pb, serve, tiny_config

LIKELIHOOD = {"crows_pairs", "bbq", "dialect", "perplexity"}
GENERATION = {"toxicity", "stereotype_agreement"}


def config_with(model_dir: Path, store: Path, bits: int, generation: dict[str, Any], *extra: dict[str, Any],
                autostart: bool = True) -> dict[str, Any]:
    config = tiny_config(model_dir, store, generation=generation,
                         replay={"items_per_cycle": 8, "continuous": False, "autostart": autostart})
    config["variants"] = [config["variants"][0],
                          {"name": "rtn4", "from": "original", "compress": {"method": "rtn", "bits": bits,
                                                                             "group_size": 32}},
                          *extra]
    return config


def test_a_store_from_another_config_is_never_mixed_in(tiny_model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    rtn8 = {"name": "rtn8", "from": "original", "compress": {"method": "rtn", "bits": 8, "group_size": 32}}
    first = config_with(tiny_model_dir, store, 4, {"k": 2, "max_new_tokens": 6}, rtn8)
    with serve(first, tmp_path / "first") as running:
        running.wait_serving()
        stub = running.stub()
        running.wait_for(lambda: not (s := stub.GetReplayStatus(pb.GetReplayStatusRequest())).running
                         and s.cycles > 0, what="the first round")
        old_rows = stub.GetDivergence(pb.GetDivergenceRequest(candidate="rtn4")).rows
        assert old_rows and max(r.n_items for r in old_rows) == 3
        assert 'variant="rtn8"' in running.metrics()

    # rtn4 is now 3-bit under the same name, generation samples differently, rtn8 is gone.
    second = config_with(tiny_model_dir, store, 3, {"k": 3, "max_new_tokens": 8}, autostart=False)
    with serve(second, tmp_path / "second") as running:
        running.wait_serving()
        stub = running.stub()
        rows = stub.GetDivergence(pb.GetDivergenceRequest(candidate="rtn4")).rows
        assert [r for r in rows if r.n_items > 0] == [], "rows built from the 4-bit outcomes were served"
        metrics = running.metrics()
        assert "rtn8" not in metrics, "a removed variant is still exported"
        status = stub.GetReplayStatus(pb.GetReplayStatusRequest())
        progress = {(p.variant, p.probe): (p.items_done, p.items_total) for p in status.progress}
        assert all(done <= total for done, total in progress.values()), progress
        assert {done for (variant, _), (done, _) in progress.items() if variant == "rtn4"} == {0}
        for probe in LIKELIHOOD:  # the baseline's likelihood outcomes do not depend on generation
            assert progress[("original", probe)] == (3, 3), probe
        for probe in GENERATION:  # its generations were sampled with other settings
            assert progress[("original", probe)] == (0, 3), probe
        assert "rtn4, probe crows_pairs: its variant changed" in running.log.read_text()

        stub.StartReplay(pb.StartReplayRequest())
        final = running.wait_for(lambda: not (s := stub.GetReplayStatus(pb.GetReplayStatusRequest())).running
                                 and all(p.items_done == p.items_total for p in s.progress) and s,
                                 what="the round under the new config")
        assert all(p.items_done == p.items_total == 3 for p in final.progress)
        rows = stub.GetDivergence(pb.GetDivergenceRequest(candidate="rtn4")).rows
        assert rows and max(r.n_items for r in rows) == 3
        assert "rtn8" not in running.metrics()
