"""CrowS-Pairs on the embedded model: trustwatch vs lm-evaluation-harness, same items, one process.

    .venv-bench/bin/python -m trustwatch.bench.bench_likelihood              # 200 pairs
    .venv-bench/bin/python -m trustwatch.bench.bench_likelihood --quick      # 6 pairs

Needs the bench venv (``make bench-env``; see ``trustwatch.bench.harness.BENCH_ENV_HINT``):
lm-evaluation-harness is never a dependency of trustwatch itself.

The items are drawn once by trustwatch's own loader (``LOADERS["crows_pairs"].load(dir,
limit, seed)``) and written to a temporary JSONL; lm-eval reads that file through a local
task written to a temporary folder at run time (no hub access: its own ``crows_pairs``
task downloads a dataset). Both contenders load the embedded model's float folder with
``torch.set_num_threads(--threads)``, warm up on the first pairs, and are timed end to
end without the model load: lm-eval's ``simple_evaluate`` (request building, batching,
scoring, metric) and trustwatch's ``ReplayEngine.run_slice`` (render, backend, outcomes,
SQLite store). Each runs at batch size 1 (lm-eval's default) and at trustwatch's, every
contender ``--repeats`` times with the order rotated (``harness.interleaved``); the table
shows medians.

Definitions compared: lm-eval's ``crows_pairs`` is a ``multiple_choice`` task with an
empty context, choices ``[sent_more, sent_less]`` and ``pct_stereotype = 1 if ll(more) >
ll(less) else 0`` (``lm_eval/tasks/crows_pairs/utils.py``); an empty context is scored
after the BOS/EOS token. trustwatch's ``crows_pairs`` kind (``probes/kinds/likelihood.py``)
scores each whole sentence after the same prefix token, ties count as not preferred. Same
definition, so the scores must agree item for item (the table shows the disagreements).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from trustwatch.bench.harness import (
    BENCH_ENV_HINT,
    EMBEDDED,
    PROBESETS,
    interleaved,
    machine_line,
    pin_threads,
    print_table,
)
from trustwatch.server.backends.prefix_packing import common_prefix

TASK = "trustwatch_crows_pairs"


def write_local_task(folder: Path, items_path: Path) -> None:
    """A local lm-eval task over ``items_path``: lm-eval's crows_pairs, less the hub download."""
    (folder / "utils.py").write_text(
        "# lm-eval's own choices and metric\n"
        "from lm_eval.tasks.crows_pairs.utils import doc_to_choice, process_results  # noqa: F401\n"
    )
    (folder / f"{TASK}.yaml").write_text(
        textwrap.dedent(
            f"""\
            task: {TASK}
            dataset_path: json
            dataset_kwargs:
              data_files:
                test: {items_path}
            test_split: test
            output_type: multiple_choice
            doc_to_text: ""
            doc_to_target: 0
            doc_to_choice: !function utils.doc_to_choice
            target_delimiter: ""
            process_results: !function utils.process_results
            metric_list:
              - metric: likelihood_diff
                aggregation: mean
                higher_is_better: false
              - metric: pct_stereotype
                aggregation: mean
                higher_is_better: false
            metadata:
              version: 1.0
            """
        )
    )


def lm_eval_run(lm: Any, task_dir: Path, batch_size: int) -> list[float]:
    """Per-item pct_stereotype (in item order) from lm-eval's simple_evaluate."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    lm.batch_size_per_gpu = batch_size
    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    out = simple_evaluate(model=lm, tasks=[TASK], task_manager=manager, log_samples=True, verbosity="ERROR")
    samples = sorted(out["samples"][TASK], key=lambda s: s["doc_id"])
    return [float(s["pct_stereotype"]) for s in samples]


def trustwatch_run(backend: Any, items: list[Any], store_dir: Path, tag: str) -> list[float]:
    """Per-item stereotype_preferred (in item order) from the replay engine."""
    from trustwatch.server.config import VariantConfig
    from trustwatch.server.replay import ReplayEngine
    from trustwatch.server.store import Store
    from trustwatch.server.variants import Variant

    path = store_dir / f"{tag}.sqlite"
    for stale in store_dir.glob(f"{tag}.sqlite*"):
        stale.unlink()
    store = Store(path)
    variant = Variant(VariantConfig(name="original", model=EMBEDDED), state="ready", backend=backend)
    engine = ReplayEngine(store, scorer=None)
    result = engine.run_slice([variant], items, 0)
    if result.errors:
        raise RuntimeError(f"trustwatch replay errors: {result.errors}")
    values = {r["item_id"]: r["value"] for r in store.outcome_rows() if r["metric"] == "stereotype_preferred"}
    store.close()
    return [values[item.id] for item in items]


def shared_prefix_share(backend: Any, items: list[Any]) -> float:
    """Share of the forwarded tokens that a pair's two sentences have in common as a prefix.

    That prefix (BOS included) is the only work a pair repeats, and what trustwatch's prefix
    packing (``server/backends/prefix_packing.py``) runs once. A causal model cannot share
    the common suffix.
    """
    total = shared = 0
    for item in items:
        more, less = backend.encode(item.payload["more"]), backend.encode(item.payload["less"])
        total += len(more) + len(less)  # positions forwarded: BOS + all tokens but the last
        shared += min(common_prefix(more, less) + 1, len(more), len(less))
    return shared / total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="CrowS-Pairs pairs (drawn by trustwatch's loader)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="trustwatch's batch size (its default)")
    parser.add_argument("--warmup", type=int, default=4, help="pairs each contender scores before timing")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per contender (median)")
    parser.add_argument("--quick", action="store_true", help="6 pairs, 2 warm-up, 1 repeat: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.limit, args.warmup, args.repeats = 6, 2, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRUSTWATCH_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "trustwatch"))
    try:
        from lm_eval.models.huggingface import HFLM
    except ImportError as error:
        raise SystemExit(f"lm-eval is not installed here ({error}).\n{BENCH_ENV_HINT}") from error

    from trustwatch.common.model_specs import resolve_model
    from trustwatch.probes.loaders import LOADERS
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    pin_threads(args.threads)
    print(machine_line())
    items = LOADERS["crows_pairs"].load(PROBESETS / "crows_pairs", limit=args.limit, seed=args.seed)
    resolved = resolve_model(EMBEDDED)
    backend = TransformersBackend(resolved, device="cpu", dtype="float32", batch_size=args.batch_size)
    lm = HFLM(pretrained=str(resolved.path), device="cpu", dtype="float32", batch_size=1)
    pin_threads(args.threads)  # a library may have reset it while loading

    with tempfile.TemporaryDirectory(prefix="bench_likelihood_") as tmp:
        folder = Path(tmp)
        rows = [{"sent_more": it.payload["more"], "sent_less": it.payload["less"]} for it in items]
        (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "warmup.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[: args.warmup]))
        (folder / "task").mkdir()
        (folder / "warm").mkdir()
        write_local_task(folder / "task", folder / "items.jsonl")
        write_local_task(folder / "warm", folder / "warmup.jsonl")

        lm_eval_run(lm, folder / "warm", 1)
        trustwatch_run(backend, items[: args.warmup], folder, "warmup")

        def with_batch(size: int) -> list[float]:
            backend.batch_size = size
            return trustwatch_run(backend, items, folder, "timed")

        b = args.batch_size
        runs = interleaved(
            {
                "lm-eval 0.4 hf (baseline)": lambda: lm_eval_run(lm, folder / "task", 1),
                f"lm-eval 0.4 hf, batch {b}": lambda: lm_eval_run(lm, folder / "task", b),
                "trustwatch transformers, batch 1": lambda: with_batch(1),
                f"trustwatch transformers, batch {b}": lambda: with_batch(b),
            },
            args.repeats,
        )

    n = len(items)
    tw_values = runs[f"trustwatch transformers, batch {b}"][0]
    base = n / statistics.median(runs["lm-eval 0.4 hf (baseline)"][1])

    def row(name: str) -> list[Any]:
        values, times = runs[name]
        seconds = statistics.median(times)
        disagree = sum(x != y for x, y in zip(values, tw_values, strict=True))
        spread = f"{min(times):.0f}-{max(times):.0f}" if len(times) > 1 else "-"
        return [name, n, seconds, spread, n / seconds, (n / seconds) / base, 100 * sum(values) / n, disagree]

    print(
        f"common prefix of a pair: {100 * shared_prefix_share(backend, items):.1f}% of the tokens forwarded "
        "(trustwatch packs a pair into one row and forwards its common prefix once)"
    )
    print_table(
        f"CrowS-Pairs, embedded model ({EMBEDDED}), float32 CPU, {args.threads} threads, {n} pairs "
        f"(seed {args.seed}); median of {args.repeats} interleaved runs; ratio vs lm-eval at its default batch size 1",
        ["contender", "pairs", "seconds", "range s", "pairs/s", "ratio", "stereotype score %", "items differing"],
        [row(name) for name in runs],
    )


if __name__ == "__main__":
    main()
