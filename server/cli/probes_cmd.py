"""``trustwatch probes``: what the built-in packs and the dataset loaders hold, and export to JSONL.

- ``trustwatch probes list [--data DIR] [--json]``: the built-in packs with counts per group; with
  ``--data``, every loader's items per group in DIR (or why it found nothing); without, the files
  each loader would need.
- ``trustwatch probes export --loader NAME [--data DIR] [--limit N] [--seed S] --out FILE``: write a
  probe set (JSONL, one item per line). NAME is a loader, ``builtin`` (every pack) or
  ``builtin:<probe>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trustwatch.server.cli.common import CliError, emit

BUILTIN = "builtin"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("probes", help="list and export probe sets (built-in packs, public datasets)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", parents=[common], help="built-in packs and dataset loaders, with item counts per group"
    )
    listing.add_argument("--data", type=Path, help="directory holding the datasets (e.g. shared/probesets)")
    listing.set_defaults(handler=run_list)

    export = actions.add_parser("export", parents=[common], help="write a probe set as JSONL")
    export.add_argument("--loader", required=True, help="a loader name, 'builtin' or 'builtin:<probe>'")
    export.add_argument("--data", type=Path, help="directory holding the dataset (loaders only)")
    export.add_argument("--limit", type=int, help="at most N items, drawn evenly over the groups")
    export.add_argument("--seed", type=int, default=0, help="seed of the draw (default: %(default)s)")
    export.add_argument("--out", type=Path, required=True, help="output JSONL file")
    export.set_defaults(handler=run_export)


def _groups_text(groups: dict[str, int]) -> str:
    return ", ".join(f"{group} {count}" for group, count in groups.items())


def run_list(args: argparse.Namespace) -> int:
    from trustwatch.probes import LOADERS, PROBES, DataError, MissingDataError, builtin_pack
    from trustwatch.probes.items import counts_by_group

    packs = []
    for probe in PROBES:
        groups = counts_by_group(builtin_pack(probe))
        packs.append({"probe": probe, "items": sum(groups.values()), "groups": groups})
    lines = ["Built-in packs (export with --loader builtin:<probe>):"]
    for pack in packs:
        lines.append(f"  {pack['probe']:<22} {pack['items']:>4} items  {_groups_text(pack['groups'])}")

    loaders: list[dict[str, Any]] = []
    if args.data is not None and not args.data.is_dir():
        raise CliError(f"--data {args.data}: not a directory")
    lines.append("Dataset loaders" + (f" in {args.data}:" if args.data else " (give --data DIR to count items):"))
    for loader in LOADERS.values():
        entry: dict[str, Any] = {
            "loader": loader.name,
            "probe": loader.probe,
            "description": loader.description,
            "folder": loader.folder,
            "needs": list(loader.files),
            "requires": loader.requires,
        }
        need = ("any of " if loader.requires == "any" else "") + ", ".join(loader.files)
        head = f"  {loader.name:<34} -> {loader.probe:<20}"
        if args.data is None:
            lines.append(f"{head} needs {need} (in DIR/{loader.folder}/ or DIR)")
        else:
            try:
                summary = loader.summary(args.data)
            except MissingDataError as error:
                entry["error"] = str(error)
                lines.append(f"{head} not found: {error}")
            except DataError as error:
                entry["error"] = str(error)
                lines.append(f"{head} malformed: {error}")
            else:
                entry.update(summary.to_json())
                lines.append(f"{head} {summary.items:>6} items  {_groups_text(summary.groups)}")
                if summary.skipped:
                    lines.append(f"      skipped: {_groups_text(summary.skipped)}")
        loaders.append(entry)
    emit(args, {"builtin": packs, "loaders": loaders, "data": str(args.data) if args.data else None}, "\n".join(lines))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from trustwatch.probes import LOADERS, PROBES, builtin_items, builtin_pack
    from trustwatch.probes.items import counts_by_group, write_items
    from trustwatch.probes.sampling import sample_items

    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be >= 1, got {args.limit}")
    name = args.loader
    if name == BUILTIN or name.startswith(f"{BUILTIN}:"):
        probe = name.partition(":")[2]
        if probe and probe not in PROBES:
            raise CliError(f"no built-in pack {probe!r}; the probes are {', '.join(PROBES)}")
        items = sample_items(builtin_pack(probe) if probe else builtin_items(), args.limit, args.seed)
    else:
        loader = LOADERS.get(name)
        if loader is None:
            raise CliError(f"unknown loader {name!r}; the loaders are {', '.join(LOADERS)}, builtin, builtin:<probe>")
        if args.data is None:
            raise CliError(f"loader {name} reads a dataset: give --data DIR")
        items = loader.load(args.data, limit=args.limit, seed=args.seed)
    count = write_items(items, args.out)
    groups = counts_by_group(items)
    emit(
        args,
        {"loader": name, "out": str(args.out), "items": count, "groups": groups},
        f"wrote {count} items to {args.out}: {_groups_text(groups)}",
    )
    return 0
