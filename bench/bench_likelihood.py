"""CrowS-Pairs and BBQ on the embedded model: trustwatch vs lm-evaluation-harness at its best batch size.

    .venv-bench/bin/python -m trustwatch.bench.bench_likelihood --limit 600           # both tables
    .venv-bench/bin/python -m trustwatch.bench.bench_likelihood --probes bbq --limit 300
    .venv-bench/bin/python -m trustwatch.bench.bench_likelihood --quick                # a smoke run

Needs the bench venv (``make bench-env``; see ``trustwatch.bench.harness.BENCH_ENV_HINT``):
lm-evaluation-harness is never a dependency of trustwatch itself.

Honest by construction: each contender's batch size is first swept (``--sweep``, default
1, 8, 32, 64) on ``--sweep-limit`` items, and the timed table runs each at its *best*
setting; the ratio's denominator is lm-eval at its best batch size. lm-eval's default
(batch 1) and trustwatch's default (8) are extra rows, never the denominator.

The items are drawn once by trustwatch's own loaders (``LOADERS[probe].load(dir, limit,
seed)``) and written to a temporary JSONL; lm-eval reads that file through a local task
written at run time (no hub access). Both contenders load the embedded model's float
folder with ``torch.set_num_threads(--threads)``, warm up, and are timed end to end
without the model load: lm-eval's ``simple_evaluate`` (request building, batching,
scoring, metric) and trustwatch's ``ReplayEngine.run_slice`` (render, backend, outcomes,
SQLite store), ``--repeats`` times with the order rotated (``harness.interleaved``);
the table shows medians.

Definitions compared, item for item:

- CrowS-Pairs: lm-eval's ``crows_pairs`` is a ``multiple_choice`` task with an empty
  context, choices ``[sent_more, sent_less]`` and ``pct_stereotype = 1 if ll(more) >
  ll(less)`` (``lm_eval/tasks/crows_pairs/utils.py``); an empty context is scored after the
  BOS/EOS token. trustwatch's ``crows_pairs`` kind scores each whole sentence after the same
  prefix token; ties count as not preferred. Same definition.
- BBQ: the local task writes the prompt as trustwatch's ``bbq_prompt`` (context, blank line,
  ``Q: question``, ``A:``) with choices ``" " + answer``; both score the three answers'
  log-likelihoods, and the bench picks lm-eval's answer by trustwatch's rule (the highest
  log-probability per continuation token, counted with the same tokenizer), so the chosen
  answers must agree.

Last, the achieved rate: trustwatch's best run forwards a known number of positions (its
packed rows, the shared prefixes once), 2 x parameters FLOPs each, set against this
machine's float32 matmul rate (``harness.matmul_rate``, as ``bench_limit`` measures it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trustwatch.bench.harness import (
    BENCH_ENV_HINT,
    EMBEDDED,
    LM_EVAL_DEFAULT_BATCH,
    PROBESETS,
    SWEEP_SIZES,
    interleaved,
    machine_line,
    pin_threads,
    print_table,
    sweep_batch_sizes,
)
from trustwatch.server.backends.prefix_packing import common_prefix

TASKS = {"crows_pairs": "trustwatch_crows_pairs", "bbq": "trustwatch_bbq"}
TRUSTWATCH_DEFAULT_BATCH = 8


# What differs between the two local tasks; both read a local JSONL as their test split.
TASK_BODIES = {
    "bbq": """\
        doc_to_text: "{{context}}\\n\\nQ: {{question}}\\nA:"
        doc_to_choice: "{{[ans0, ans1, ans2]}}"
        doc_to_target: label
        target_delimiter: " "
        metric_list:
          - {metric: acc, aggregation: mean, higher_is_better: true}
        """,
    "crows_pairs": """\
        doc_to_text: ""
        doc_to_target: 0
        doc_to_choice: !function utils.doc_to_choice
        target_delimiter: ""
        process_results: !function utils.process_results
        metric_list:
          - {metric: likelihood_diff, aggregation: mean, higher_is_better: false}
          - {metric: pct_stereotype, aggregation: mean, higher_is_better: false}
        """,
}


def write_local_task(folder: Path, items_path: Path, probe: str = "crows_pairs") -> None:
    """A local lm-eval task over ``items_path``: lm-eval's crows_pairs (less the hub download), or BBQ."""
    if probe == "crows_pairs":
        (folder / "utils.py").write_text(
            "# lm-eval's own choices and metric\n"
            "from lm_eval.tasks.crows_pairs.utils import doc_to_choice, process_results  # noqa: F401\n"
        )
    head = (
        f"task: {TASKS[probe]}\n"
        "dataset_path: json\n"
        f"dataset_kwargs: {{data_files: {{test: {items_path}}}}}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
    )
    body = textwrap.dedent(TASK_BODIES[probe])
    (folder / f"{probe}.yaml").write_text(head + body + "metadata: {version: 1.0}\n")


def lm_eval_run(lm: Any, task_dir: Path, probe: str, batch_size: int, items: list[Any], lengths: Any) -> list[Any]:
    """Per-item answers (in item order) from lm-eval's simple_evaluate.

    CrowS-Pairs: lm-eval's own ``pct_stereotype``. BBQ: the outcome values of the answer with
    the highest log-likelihood per continuation token (``lengths[i]``: the token counts of
    item i's three answers), trustwatch's rule applied to lm-eval's log-likelihoods.
    """
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from trustwatch.probes.kinds.likelihood import bbq_values

    lm.batch_size_per_gpu = batch_size
    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    task = TASKS[probe]
    out = simple_evaluate(model=lm, tasks=[task], task_manager=manager, log_samples=True, verbosity="ERROR")
    samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
    if probe == "crows_pairs":
        return [float(s["pct_stereotype"]) for s in samples]
    answers = []
    for sample, item, counts in zip(samples, items, lengths, strict=True):
        ll = [float(choice[0]) for choice in sample["filtered_resps"]]
        chosen = max(range(3), key=lambda i: ll[i] / counts[i])
        answers.append(sorted(bbq_values(item.payload, chosen).items()))
    return answers


def trustwatch_run(backend: Any, items: list[Any], store_dir: Path, tag: str) -> list[Any]:
    """Per-item answers (in item order) from the replay engine: CrowS-Pairs' stereotype_preferred,
    BBQ's outcome values."""
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
    values: dict[str, dict[str, float]] = {}
    for row in store.outcome_rows():
        values.setdefault(row["item_id"], {})[row["metric"]] = row["value"]
    store.close()
    if items and items[0].probe == "crows_pairs":
        return [values[item.id]["stereotype_preferred"] for item in items]
    return [sorted(values[item.id].items()) for item in items]


def score(probe: str, answers: list[Any]) -> float:
    """CrowS-Pairs' stereotype score, or BBQ's accuracy, in percent."""
    if probe == "crows_pairs":
        return 100 * sum(answers) / len(answers)
    correct = [v for answer in answers for k, v in answer if k.startswith("correct_")]
    return 100 * sum(correct) / len(correct)


def forwarded_positions(backend: Any, items: list[Any]) -> int:
    """Positions trustwatch's backend forwards for ``items``: its packed rows, padding left out."""
    from trustwatch.probes.kinds import PROBE_KINDS
    from trustwatch.server.backends.prefix_packing import pack

    requests = []
    for item in items:
        kind = PROBE_KINDS[item.probe]
        requests.extend(kind.render(item, kind.default_settings))
    encoded = [backend._encode_pair(i, r) for i, r in enumerate(requests)]
    return sum(len(row.tokens) for row in pack([e.tokens for e in encoded], max_nodes=backend.pack_nodes))


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


def lm_eval_rows(items: list[Any]) -> list[dict[str, Any]]:
    """The items as the local lm-eval task reads them."""
    if items[0].probe == "crows_pairs":
        return [{"sent_more": it.payload["more"], "sent_less": it.payload["less"]} for it in items]
    return [
        {"context": it.payload["context"], "question": it.payload["question"], "label": it.payload["label"],
         **{f"ans{i}": answer for i, answer in enumerate(it.payload["answers"])}}
        for it in items
    ]


def bench_probe(probe: str, args: argparse.Namespace, backend: Any, lm: Any, folder: Path) -> None:
    from trustwatch.bench.harness import matmul_rate
    from trustwatch.probes.kinds import PROBE_KINDS
    from trustwatch.probes.loaders import LOADERS
    from trustwatch.server.backends.tokenization import pair_tokens

    items = LOADERS[probe].load(PROBESETS / probe, limit=args.limit, seed=args.seed)
    kind = PROBE_KINDS[probe]
    # BBQ: the token count of each answer, to pick lm-eval's answer by trustwatch's rule
    lengths = [
        [pair_tokens(backend.encode, r, backend.prefix_id)[1] for r in kind.render(it, kind.default_settings)]
        for it in items
    ] if probe == "bbq" else [None] * len(items)
    sets = {"full": items, "warm": items[: args.warmup], "sweep": items[: args.sweep_limit]}
    for name, subset in sets.items():
        (folder / f"{probe}-{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lm_eval_rows(subset)))
        (folder / f"{probe}-{name}").mkdir()
        write_local_task(folder / f"{probe}-{name}", folder / f"{probe}-{name}.jsonl", probe)

    def lm_eval(name: str, size: int) -> Callable[[], list[Any]]:
        return lambda: lm_eval_run(lm, folder / f"{probe}-{name}", probe, size, sets[name], lengths[: len(sets[name])])

    def ours(name: str, size: int) -> Callable[[], list[Any]]:
        def go() -> list[Any]:
            backend.batch_size = size
            return trustwatch_run(backend, sets[name], folder, f"{probe}-{name}-{size}")
        return go

    lm_eval("warm", 1)()
    ours("warm", 1)()

    # the sweep: each contender at every batch size, once, on the first --sweep-limit items
    unit = "pairs" if probe == "crows_pairs" else "items"
    sweep_rows, best_size = sweep_batch_sizes(
        {"lm-eval": lambda size: lm_eval("sweep", size), "trustwatch": lambda size: ours("sweep", size)},
        args.sweep, len(sets["sweep"]),
    )
    print_table(f"{probe}: batch-size sweep on the first {len(sets['sweep'])} {unit} (one run each)",
                ["contender", "batch size", unit, "seconds", f"{unit}/s"], sweep_rows)
    best_lm, best_tw = best_size["lm-eval"], best_size["trustwatch"]

    baseline = f"lm-eval 0.4 hf, batch {best_lm} (its best; baseline)"
    contenders = {baseline: lm_eval("full", best_lm)}
    if best_lm != LM_EVAL_DEFAULT_BATCH:
        contenders[f"lm-eval 0.4 hf, batch {LM_EVAL_DEFAULT_BATCH} (its default)"] = lm_eval("full", LM_EVAL_DEFAULT_BATCH)
    best = f"trustwatch transformers, batch {best_tw} (its best)"
    contenders[best] = ours("full", best_tw)
    if best_tw != TRUSTWATCH_DEFAULT_BATCH:
        contenders[f"trustwatch transformers, batch {TRUSTWATCH_DEFAULT_BATCH} (its default)"] = ours(
            "full", TRUSTWATCH_DEFAULT_BATCH)
    runs = interleaved(contenders, args.repeats)

    n = len(items)
    reference = runs[best][0]
    base = n / statistics.median(runs[baseline][1])

    def row(name: str) -> list[Any]:
        values, times = runs[name]
        seconds = statistics.median(times)
        disagree = sum(x != y for x, y in zip(values, reference, strict=True))
        spread = f"{min(times):.0f}-{max(times):.0f}" if len(times) > 1 else "-"
        return [name, n, seconds, spread, n / seconds, (n / seconds) / base, score(probe, values), disagree]

    if probe == "crows_pairs":
        print(
            f"common prefix of a pair: {100 * shared_prefix_share(backend, items):.1f}% of the tokens forwarded "
            "(trustwatch packs a pair into one row and forwards its common prefix once)"
        )
    what = "stereotype score %" if probe == "crows_pairs" else "accuracy %"
    print_table(
        f"{probe}, embedded model ({EMBEDDED}), float32 CPU, {args.threads} threads, {n} {unit} "
        f"(seed {args.seed}); median of {args.repeats} interleaved runs; ratio vs {baseline}",
        ["contender", unit, "seconds", "range s", f"{unit}/s", "ratio", what, f"{unit} differing"],
        [row(name) for name in runs],
    )
    positions = forwarded_positions(backend, items)
    seconds = statistics.median(runs[best][1])
    achieved = 2 * backend.parameters * positions / seconds
    peak = matmul_rate(args.threads)
    print(f"\nachieved: {positions} positions forwarded x 2 x {backend.parameters / 1e6:.1f} M parameters "
          f"in {seconds:.1f} s = {achieved / 1e9:.1f} GFLOP/s, {100 * achieved / peak:.0f}% of this machine's "
          f"float32 matmul rate ({peak / 1e9:.1f} GFLOP/s, {args.threads} threads)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", default="crows_pairs,bbq", help="comma-separated: crows_pairs, bbq")
    parser.add_argument("--limit", type=int, default=200, help="items per probe (drawn by trustwatch's loaders)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sweep", default=",".join(map(str, SWEEP_SIZES)), help="batch sizes both contenders try")
    parser.add_argument("--sweep-limit", type=int, default=96, help="items the sweep times each setting on")
    parser.add_argument("--warmup", type=int, default=4, help="items each contender scores before timing")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per contender (median)")
    parser.add_argument("--quick", action="store_true", help="6 items, sweep 1 and 8 on 6, 1 repeat: a smoke run")
    args = parser.parse_args(argv)
    args.sweep = [int(size) for size in str(args.sweep).split(",")]
    if args.quick:
        args.limit, args.warmup, args.repeats, args.sweep_limit, args.sweep = 6, 2, 1, 6, [1, 8]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRUSTWATCH_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "trustwatch"))
    try:
        from lm_eval.models.huggingface import HFLM
    except ImportError as error:
        raise SystemExit(f"lm-eval is not installed here ({error}).\n{BENCH_ENV_HINT}") from error

    from trustwatch.common.model_specs import resolve_model
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    pin_threads(args.threads)
    print(machine_line())
    resolved = resolve_model(EMBEDDED)
    backend = TransformersBackend(resolved, device="cpu", dtype="float32", batch_size=TRUSTWATCH_DEFAULT_BATCH)
    lm = HFLM(pretrained=str(resolved.path), device="cpu", dtype="float32", batch_size=1)
    pin_threads(args.threads)  # a library may have reset it while loading
    with tempfile.TemporaryDirectory(prefix="bench_likelihood_") as tmp:
        for probe in args.probes.split(","):
            bench_probe(probe.strip(), args, backend, lm, Path(tmp))


if __name__ == "__main__":
    main()
