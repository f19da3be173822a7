"""``trustwatch run``: evaluate every variant on the same items once, and write the report.

The run directory holds ``store.sqlite`` (the truth: a run started again with the same
directory resumes from it and redoes nothing), and, rewritten at the end,
``outcomes.jsonl``, ``generations.jsonl``, ``report.json`` and ``report.html``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trustwatch import __version__
from trustwatch.probes.items import Item
from trustwatch.probes.kinds import PROBE_KINDS
from trustwatch.server.analysis import Analysis, analyse
from trustwatch.server.config import ConfigError, RunConfig
from trustwatch.server.replay import SliceResult
from trustwatch.server.runtime import Runtime, build_runtime
from trustwatch.server.store import Store
from trustwatch.server.summaries import PROGRESS_SECONDS, ProbeProgress, ReplayStatus, RoundProgress

STORE_NAME = "store.sqlite"


@dataclass
class RunResult:
    out_dir: Path
    report_json: Path
    report_html: Path | None
    analysis: Analysis
    items: int
    seconds: float
    resumed_items: int
    variants: list[dict[str, Any]]
    """Each variant's description: name, model, state, compression manifest summary."""


def check_resume(store: Store, config: RunConfig, items: list[Item]) -> None:
    """A run directory belongs to one configuration: refuse to mix another one's outcomes in.

    The changes allowed keep the items, generation and scorer and every variant's definition:
    adding variants (the new ones are answered, the stored ones resume, so a study grows a variant
    at a time without answering the original again) and leaving stored variants out (their
    outcomes stay in the store, unread by this run, so a study can finish some variants first). A
    variant redefined under a stored name is refused. A directory from before variants were stored
    by name (no ``named``) accepts only adding or only leaving out, since there a redefinition
    looks like one of each.
    """
    named = {v.name: v.describe() for v in config.variants}
    fingerprint: dict[str, Any] = {
        "variants": list(named.values()),
        "named": named,
        "items": len(items),
        "generation": config.generation,
        "scorer": config.scorer,
    }
    stored = store.get_meta("run")
    if stored is None or stored == fingerprint:
        store.set_meta("run", fingerprint)
        return
    same_rest = all(stored.get(key) == fingerprint[key] for key in ("items", "generation", "scorer"))
    before = stored.get("variants", [])
    stored_named = stored.get("named")
    if isinstance(stored_named, dict):
        redefined = [name for name, described in named.items() if stored_named.get(name, described) != described]
        allowed = not redefined
        remembered = {**stored_named, **named}  # the variants left out are still known by name
    else:
        added = [v for v in named.values() if v not in before]
        left_out = [v for v in before if v not in named.values()]
        allowed = not (added and left_out)
        remembered = named if not left_out else None
    if same_rest and allowed:
        if remembered is not None:  # (None: an old directory, variants left out: its record stays)
            store.set_meta("run", {**fingerprint, "variants": list(remembered.values()), "named": remembered})
        return
    raise ConfigError(
        f"{store.path} holds a run with another configuration ({json.dumps(stored)}); use a new --out "
        "directory, or the same configuration (variants may be added or left out, not redefined) to resume"
    )


def run_job(
    config: RunConfig,
    out_dir: Path,
    *,
    progress: bool = False,
    slice_size: int = 32,
    log: Callable[[str], None] = lambda _: None,
) -> RunResult:
    from tqdm.auto import tqdm

    started = time.perf_counter()
    runtime = build_runtime(config, out_dir / STORE_NAME, progress=progress, require_items=True,
                            check_store=check_resume)
    store, items, registry = runtime.store, runtime.items, runtime.registry
    try:
        log(f"loading {len(config.variants)} variants")
        registry.load_all(on_loaded=lambda v: log(f"  {v.name}: {v.state} {v.reason}".rstrip()))
        failed = [f"{v.name}: {v.reason}" for v in registry if v.state != "ready"]
        if failed:
            # A one-shot comparison with a missing variant would answer another question than asked.
            raise ConfigError("variants failed to load: " + "; ".join(failed))
        ready = registry.ready()
        # A resumed run whose served model changed starts that variant afresh (logged as a warning).
        runtime.check_served(ready, ask=False)
        resumed = sum(len(store.done_items(v.name, 0)) for v in config.variants)
        total = len(items) * len(ready)
        errors: Counter[str] = Counter()
        # Without a terminal (CI, nohup, a pod's log) the bar is off: a progress line instead, every
        # PROGRESS_SECONDS, the one ``trustwatch serve`` prints for its first round.
        lines = RoundProgress()
        probe_totals = Counter(item.probe for item in items)
        next_line = time.monotonic() + PROGRESS_SECONDS
        with tqdm(total=total, initial=min(resumed, total), desc="replay", unit="answer",
                  disable=not progress) as bar:
            for start in range(0, len(items), slice_size):
                if not progress and time.monotonic() >= next_line:
                    next_line = time.monotonic() + PROGRESS_SECONDS
                    line = lines.line(_status(store, [v.name for v in ready], probe_totals), time.monotonic())
                    if line is not None:
                        log(line)
                result: SliceResult = runtime.engine.run_slice(ready, items[start : start + slice_size], 0)
                errors.update(result.errors)
                bar.update(result.items)
        elapsed = time.perf_counter() - started
        analysis, report_json, report_html = write_report(out_dir, runtime, dict(errors), elapsed)
        described = [v.describe() for v in registry]
    finally:
        runtime.close()
    return RunResult(out_dir, report_json, report_html, analysis, len(items), elapsed, resumed, described)


def _status(store: Store, variants: list[str], probe_totals: Counter[str]) -> ReplayStatus:
    done = store.done_counts(0)
    progress = [ProbeProgress(v, probe, done.get((v, probe), 0), n) for v in variants for probe, n in probe_totals.items()]
    return ReplayStatus(running=True, round=0, cycles=0, last_cycle_seconds=0.0, last_error="",
                        outcomes_stored=0, progress=progress)


def write_report(
    out_dir: Path,
    runtime: Runtime,
    errors: dict[str, int],
    seconds: float,
    mode: str | None = None,
    analysis: Analysis | None = None,
) -> tuple[Analysis, Path, Path | None]:
    """Export the store's outcomes and generations, analyse them, write report.json and report.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runtime.store.export_jsonl(out_dir / "outcomes.jsonl", out_dir / "generations.jsonl")
    if analysis is None:
        analysis = analyse(
            runtime.store.outcome_rows(), runtime.baseline, runtime.candidates, runtime.policy, mode, runtime.probes
        )
    report = build_report(runtime, analysis, errors, seconds)
    report_json = out_dir / "report.json"
    tmp = report_json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=_json_default))
    tmp.replace(report_json)
    return analysis, report_json, write_html(out_dir)


def build_report(runtime: Runtime, analysis: Analysis, errors: dict[str, int], seconds: float) -> dict[str, Any]:
    config, policy = runtime.config, runtime.policy
    probes = Counter(item.probe for item in runtime.items)
    return {
        "trustwatch": __version__,
        "baseline": config.baseline,
        "variants": [v.describe() for v in runtime.registry],
        "items": dict(probes),
        "metrics": analysis.metrics,
        "divergence": [row.to_dict() for row in analysis.divergence],
        "gate": [v.to_dict() for v in analysis.verdicts],
        "notes": analysis.notes,
        "policy": policy.to_dict(),
        "scorer": runtime.scorer.describe(),
        "errors": errors,
        "config": {**config.raw, "source": config.source},
        "generation": {k: v.to_json() for k, v in runtime.settings.items() if PROBE_KINDS[k].request == "generate"},
        "elapsed_s": round(seconds, 1),
        "started_at": datetime.fromtimestamp(time.time() - seconds, UTC).isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_html(out_dir: Path) -> Path | None:
    from trustwatch.server.report import write_report_html

    return write_report_html(out_dir)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
