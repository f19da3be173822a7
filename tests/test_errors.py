"""One error root and one schema mechanism: every error class of ours derives from TrustwatchError,
the four config readers report ``FILE: key: reason`` (a wrong type too, never a traceback), and the
CLI and the gRPC layer each map the error kinds in one place."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import grpc
import pytest

from trustwatch.common.errors import ConfigError, InputError, NotFoundError, TrustwatchError, UnavailableError
from trustwatch.compress.options import parse_options
from trustwatch.monitors.policy import PolicyError, load_policy
from trustwatch.probes.errors import MissingDataError
from trustwatch.server.cli.common import CliError, exit_code
from trustwatch.server.cli.main import main as cli_main
from trustwatch.server.config import load_config
from trustwatch.server.grpc_errors import status_code
from trustwatch.server.service import UnknownVariantError, VariantNotReadyError
from trustwatch.server.service_config import load_serve_config
from trustwatch.server.store import StoreError

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = "variants:\n  - {name: a, model: embedded:smollm2-135m}\n"


def _error_classes() -> list[tuple[str, str]]:
    found = []
    paths = [path for package in ("common", "probes", "monitors", "compress", "server") for path in (ROOT / package).rglob("*.py")]
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                found.append((".".join(path.relative_to(ROOT).with_suffix("").parts), node.name))
    return found


def test_every_error_class_derives_from_the_root() -> None:
    import importlib

    classes = _error_classes()
    assert len(classes) >= 12
    for module, name in classes:
        cls = getattr(importlib.import_module(f"trustwatch.{module}"), name)
        assert issubclass(cls, TrustwatchError), f"{module}.{name}"


def test_error_classes_keep_the_builtin_bases_callers_catch() -> None:
    assert issubclass(ConfigError, ValueError) and issubclass(PolicyError, ConfigError)
    assert issubclass(UnknownVariantError, KeyError) and issubclass(UnknownVariantError, NotFoundError)
    assert issubclass(MissingDataError, FileNotFoundError) and issubclass(MissingDataError, NotFoundError)
    assert issubclass(VariantNotReadyError, RuntimeError) and issubclass(StoreError, RuntimeError)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("replay: {items_per_cycle: abc}", "replay.items_per_cycle: expected an integer, got 'abc'"),
        ("replay: {items_per_cycle: 0}", "replay.items_per_cycle: must be an integer >= 1, got 0"),
        ("replay: {max_backend_share: 2}", "replay.max_backend_share: must lie in (0.0, 1.0], got 2.0"),
        ("replay: {continuous: maybe}", "replay.continuous: expected true or false, got 'maybe'"),
        ("replay: {mode: often}", "replay.mode: must be one of fixed, sequential, got 'often'"),
        ("replay: {pause: 1}", "replay: unknown key(s) pause (known: "),
        ("limits: {max_batch: 1.5}", "limits.max_batch: expected an integer, got 1.5"),
        ("store: {retention_rounds: 0}", "store.retention_rounds: must be an integer >= 1, got 0"),
        ("store: {colour: red}", "store: unknown key(s) colour"),
        ("replay: [1]", "replay: must be a mapping, got list"),
        ("tls: {cert: a.crt}", "tls needs both cert and key"),
        ("auth: {token_env: TRUSTWATCH_TEST_UNSET_TOKEN}", "auth: environment variable TRUSTWATCH_TEST_UNSET_TOKEN"),
        ("probes: [{builtin: all, seed: x}]", "probes[0].seed: expected an integer, got 'x'"),
        ("colour: blue", "unknown key(s) colour"),
    ],
)
def test_serve_config_names_file_and_key(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(VARIANTS + extra + "\n")
    with pytest.raises(ConfigError) as error:
        load_serve_config(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(VARIANTS + "probes: [\n")
    with pytest.raises(ConfigError, match=rf"^{path}:4: not valid YAML"):
        load_config(path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {probe: p, metric: m, tolerance: 1}\nconfidence: [\n")
    with pytest.raises(PolicyError, match=rf"^{policy}:4: not valid YAML"):
        load_policy(policy)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resamples: many\nrules:\n  - {probe: p, metric: m, tolerance: 1}", "resamples: expected an integer, got 'many'"),
        ("rules:\n  - {probe: p, metric: m, tolerance: lots}", "rules[0].tolerance: expected a number, got 'lots'"),
        ("rules:\n  - {probe: p, metric: m, tolerance: 1, utility: 1}", "rules[0].utility: expected true or false"),
    ],
)
def test_policy_wrong_types_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=rf"^{path}: ") as error:
        load_policy(path)
    assert message in str(error.value)


def test_compress_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^option bits: expected an integer, got 'abc'$"):
        parse_options({"method": "rtn", "bits": "abc"})


def test_cli_exit_codes_are_mapped_in_one_place() -> None:
    plain, gate = argparse.Namespace(), argparse.Namespace(bad_input_exit=3)
    assert exit_code(CliError("x", 5), plain) == 5
    assert exit_code(ConfigError("x"), plain) == 2 and exit_code(ConfigError("x"), gate) == 3
    assert exit_code(MissingDataError("x"), plain) == 2 and exit_code(StoreError("x"), plain) == 2
    assert exit_code(ValueError("x"), plain) == 2
    assert exit_code(VariantNotReadyError("x"), plain) == 1
    assert exit_code(RuntimeError("x"), plain) is None
    assert exit_code(RuntimeError("x"), argparse.Namespace(runtime_errors=True)) == 1


def test_cli_reports_a_wrong_type_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(VARIANTS + "replay: {items_per_cycle: abc}\n")
    assert cli_main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"trustwatch serve: error: {path}: replay.items_per_cycle: expected an integer, got 'abc'\n"


def test_grpc_status_codes_are_mapped_in_one_place() -> None:
    assert status_code(UnknownVariantError("nope")) == grpc.StatusCode.NOT_FOUND
    assert status_code(VariantNotReadyError("loading")) == grpc.StatusCode.UNAVAILABLE
    assert status_code(UnavailableError("x")) == grpc.StatusCode.UNAVAILABLE
    assert status_code(InputError("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(ValueError("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(RuntimeError("x")) is None
