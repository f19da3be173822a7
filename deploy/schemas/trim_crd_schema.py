#!/usr/bin/env python3
"""Trim a CustomResourceDefinition's openAPIV3Schema to the fields some manifests use.

The CRD files of Argo Rollouts and the Prometheus Operator are large and not shipped here; this
tool turns one into a small JSON Schema (draft 7) that tests/deploy validates our manifests
against, offline. It keeps the CRD's structure along every path the given manifests use (types,
enums, required fields, int-or-string, nullable) and, at each object level it visits, the names
and types of all the CRD's fields, so a field the CRD does not define is rejected (as the API
server's strict field validation rejects it). A field a manifest uses that the CRD lacks is an
error here already.

Usage:
  trim_crd_schema.py CRD.yaml --version v1alpha1 --source "owner/repo@commit:path" \
      --out deploy/schemas/x.json MANIFEST.yaml [MANIFEST.yaml ...]
(a manifest may be the output of `kubectl kustomize`; documents of other kinds are ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

Usage = dict[str, "Usage"] | None
"""The fields manifests use: a dict of field name to its usage; "[]" for array items; None for a leaf."""

_KEPT = ("type", "enum", "format", "required", "pattern", "minimum", "maximum", "minItems", "maxItems",
         "minLength", "maxLength", "minProperties", "maxProperties")


def usage_of(value: Any, into: Usage = None) -> Usage:
    """Merge the field paths of ``value`` into ``into``."""
    if isinstance(value, dict):
        merged: dict[str, Usage] = dict(into or {})
        for key, sub in value.items():
            merged[key] = usage_of(sub, merged.get(key))
        return merged
    if isinstance(value, list):
        merged = dict(into or {})
        for item in value:
            merged["[]"] = usage_of(item, merged.get("[]"))
        return merged
    return into


def _scalar_keywords(schema: dict[str, Any]) -> dict[str, Any]:
    out = {key: schema[key] for key in _KEPT if key in schema}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def trim(schema: dict[str, Any], usage: Usage, where: str = "") -> dict[str, Any]:
    """The part of ``schema`` that ``usage`` reaches, with the names of sibling fields kept."""
    out = _scalar_keywords(schema)
    if "anyOf" in schema and not schema.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [_scalar_keywords(option) for option in schema["anyOf"]]
    used = usage if isinstance(usage, dict) else {}
    if "properties" in schema:
        props = schema["properties"]
        unknown = sorted(set(used) - set(props) - {"[]"})
        if unknown and not schema.get("x-kubernetes-preserve-unknown-fields"):
            raise SystemExit(f"{where or '<root>'}: field(s) {unknown} not in the CRD schema")
        out["properties"] = {
            name: trim(sub, used[name], f"{where}.{name}") if name in used else _scalar_keywords(sub)
            for name, sub in props.items()
        }
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    elif isinstance(schema.get("additionalProperties"), dict):
        merged: Usage = None
        for value in used.values():
            merged = _merge(merged, value)
        out["additionalProperties"] = trim(schema["additionalProperties"], merged, f"{where}.*")
    if "items" in schema:
        out["items"] = trim(schema["items"], used.get("[]"), f"{where}[]")
    return out


def _merge(a: Usage, b: Usage) -> Usage:
    if a is None:
        return b
    if b is None:
        return a
    return {key: _merge(a.get(key), b.get(key)) for key in set(a) | set(b)}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path)
    parser.add_argument("manifests", type=Path, nargs="+")
    parser.add_argument("--version", required=True, help="the CRD version to take (e.g. v1alpha1)")
    parser.add_argument("--source", required=True, help="where the CRD came from: owner/repo@commit:path")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    crd = yaml.safe_load(args.crd.read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == args.version]
    usage: Usage = None
    files = []
    for path in args.manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind and doc.get("apiVersion") == f"{group}/{args.version}":
                usage = usage_of(doc, usage)
                files.append(str(path))
    if usage is None:
        raise SystemExit(f"no {kind} {group}/{args.version} in {[str(p) for p in args.manifests]}")
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"{kind} ({group}/{args.version}), trimmed",
        "x-source": {"crd": args.source, "version": args.version, "trimmed_for": sorted(set(files))},
        "x-kubernetes-group-version-kind": {"group": group, "version": args.version, "kind": kind},
        **trim(version["schema"]["openAPIV3Schema"], usage),
    }
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
    print(f"{args.out}: {len(json.dumps(schema))} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
