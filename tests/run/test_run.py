"""`trustwatch run` as a user runs it: the files it writes, resume after kill -9, bad configs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.service.harness import tiny_run_config
from trustwatch.bench import study_report

EXE = Path(sys.executable).with_name("trustwatch")


def config_for(model_dir: Path, **extra: object) -> dict:
    return tiny_run_config(model_dir, limit=4, **extra)


def tw(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def write_config(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_writes_outcomes_report_and_html(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = tw("run", "--config", str(write_config(tmp_path, config_for(tiny_model_dir))), "--out", str(out),
                "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["items"] == 24 and set(payload["verdicts"]) == {"rtn4"}
    assert payload["variants"][1]["compression"]["method"] == "rtn"
    rows = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    assert rows and all({"item_id", "variant", "probe", "group", "metric", "value"} <= set(r) for r in rows)
    assert all(isinstance(r["value"], float) for r in rows)
    assert {r["variant"] for r in rows} == {"original", "rtn4"}
    assert {r["probe"] for r in rows} == {"toxicity", "stereotype_agreement", "crows_pairs", "bbq", "dialect",
                                          "perplexity"}
    report = json.loads((out / "report.json").read_text())
    assert {"variants", "metrics", "scorer", "config"} <= set(report)
    assert report["scorer"]["name"] == "profanity"
    metric_keys = {(m["variant"], m["probe"], m["metric"], m["group"]) for m in report["metrics"]}
    assert ("rtn4", "crows_pairs", "stereotype_score", "all") in metric_keys
    assert all({"variant", "probe", "metric", "group", "value", "n"} <= set(m) for m in report["metrics"])
    assert report["gate"][0]["candidate"] == "rtn4"
    html = (out / "report.html").read_text()
    assert "rtn4" in html and "profanity" in html
    generations = (out / "generations.jsonl").read_text().splitlines()
    assert len(generations) == 2 * 2 * (4 + 4)  # variants x k x (toxicity + stereotype items)


def test_interrupted_run_resumes_without_redoing_items(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = write_config(tmp_path, config_for(tiny_model_dir, probes=[{"builtin": "all", "limit": 12}]))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    first = subprocess.Popen([str(EXE), "run", "--config", str(config), "--out", str(out), "--slice-size", "4",
                              "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = out / "store.sqlite"
    done = 0
    deadline = time.monotonic() + 300
    while done < 20 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.3)
        if store.exists():
            try:
                with sqlite3.connect(store) as db:
                    done = db.execute("SELECT COUNT(*) FROM done").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    if first.poll() is not None:
        pytest.fail("the first run finished before it could be interrupted")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    with sqlite3.connect(store) as db:
        kept = dict(db.execute("SELECT variant || '/' || item_id, created FROM done").fetchall())
    assert kept

    second = tw("run", "--config", str(config), "--out", str(out), "--slice-size", "4", "--json")
    assert second.returncode == 0, second.stderr
    payload = json.loads(second.stdout)
    assert payload["resumed_answers"] == len(kept)
    with sqlite3.connect(store) as db:
        after = dict(db.execute("SELECT variant || '/' || item_id, created FROM done").fetchall())
        dupes = db.execute("SELECT COUNT(*) FROM (SELECT variant, item_id, metric, COUNT(*) c FROM outcomes "
                           "GROUP BY 1, 2, 3 HAVING c > 1)").fetchone()[0]
    assert len(after) == 2 * payload["items"]
    assert all(after[key] == created for key, created in kept.items()), "finished items were redone"
    assert dupes == 0


def test_a_run_directory_refuses_another_configuration(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert tw("run", "--config", str(write_config(tmp_path, config_for(tiny_model_dir))), "--out", str(out),
              "--quiet").returncode == 0
    other = config_for(tiny_model_dir, generation={"k": 3, "max_new_tokens": 6})
    result = tw("run", "--config", str(write_config(tmp_path, other)), "--out", str(out), "--quiet")
    assert result.returncode == 2
    assert "holds a run with another configuration" in result.stderr


def test_a_variant_added_to_a_run_directory_is_answered_and_the_others_resume(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    config = config_for(tiny_model_dir)
    first = tw("run", "--config", str(write_config(tmp_path, config)), "--out", str(out), "--json")
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(out / "store.sqlite") as db:
        kept = dict(db.execute("SELECT variant || '/' || item_id, created FROM done").fetchall())

    config["variants"].append({"name": "sparse", "from": "original", "compress": {"method": "magnitude",
                                                                               "sparsity": 0.5}})
    second = tw("run", "--config", str(write_config(tmp_path, config)), "--out", str(out), "--json")
    assert second.returncode == 0, second.stderr
    payload = json.loads(second.stdout)
    assert payload["resumed_answers"] == len(kept) == 2 * payload["items"]
    assert set(payload["verdicts"]) == {"rtn4", "sparse"}
    with sqlite3.connect(out / "store.sqlite") as db:
        after = dict(db.execute("SELECT variant || '/' || item_id, created FROM done").fetchall())
    assert all(after[key] == created for key, created in kept.items()), "the stored variants were answered again"
    assert sum(key.startswith("sparse/") for key in after) == payload["items"]
    study_report.main([str(out)])  # the study's tables read the grown run's report
    verdicts = capsys.readouterr().out.split("Overall against")[0]
    assert "| rtn4 " in verdicts and "| sparse " in verdicts
    # ... or the verdicts of `trustwatch gate` on the same outcomes (here: rtn4 alone)
    gate = tw("gate", "--run", str(out), "--json", "--all-rows", "--quiet", "--candidate", "rtn4")
    (tmp_path / "gate.json").write_text(gate.stdout)
    study_report.main([str(out), "--gate", str(tmp_path / "gate.json")])
    verdicts = capsys.readouterr().out.split("Overall against")[0]
    assert "| rtn4 " in verdicts and "| sparse " not in verdicts
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit, match="not the JSON of `trustwatch gate"):
        study_report.main([str(out), "--gate", str(tmp_path / "bad.json")])

    # Leaving a stored variant out: the others resume, its outcomes stay in the store unread.
    without = {**config, "variants": [v for v in config["variants"] if v["name"] != "rtn4"]}
    third = tw("run", "--config", str(write_config(tmp_path, without)), "--out", str(out), "--json")
    assert third.returncode == 0, third.stderr
    assert set(json.loads(third.stdout)["verdicts"]) == {"sparse"}
    with sqlite3.connect(out / "store.sqlite") as db:
        assert dict(db.execute("SELECT variant || '/' || item_id, created FROM done").fetchall()) == after

    # Changing a stored variant (not adding one) is another configuration, even after it was left out.
    config["variants"][1]["compress"]["bits"] = 8
    changed = tw("run", "--config", str(write_config(tmp_path, config)), "--out", str(out), "--quiet")
    assert changed.returncode == 2 and "holds a run with another configuration" in changed.stderr


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(baseline="nope"), "'baseline: nope' is not one of the variants"),
        (lambda c: c["variants"].append({"name": "x", "from": "ghost", "compress": {"method": "rtn"}}),
         "'from: ghost' names no variant declared before it"),
        (lambda c: c["variants"][1]["compress"].update(bits=5), "bits"),
        (lambda c: c.update(probes=[{"data": "/nowhere", "loader": "crows_pairs"}]), "/nowhere"),
        (lambda c: c.update(probes=[{"builtin": "all", "limit": 0}]), "'limit' must be a positive integer"),
        (lambda c: c.update(generation={"k": 2, "beams": 4}), "generation: unknown key(s) beams"),
        (lambda c: c.update(colour="blue"), "unknown key(s) colour"),
    ],
)
def test_bad_configs_exit_2_naming_the_problem(tiny_model_dir: Path, tmp_path: Path, mutate, message) -> None:
    config = config_for(tiny_model_dir)
    mutate(config)
    result = tw("run", "--config", str(write_config(tmp_path, config)), "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
