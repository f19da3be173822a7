"""Bad options are refused with a message naming the option, before any model is loaded (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trustwatch.compress.options import CompressOptions, check_model_shapes, parse_options
from trustwatch.compress.pipeline import compress_model
from trustwatch.server.cli import main as cli_main


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"method": "magnitude", "sparsity": 1.0}, "option sparsity"),
        ({"method": "magnitude", "sparsity": -0.1}, "option sparsity"),
        ({"method": "magnitude", "sparsity": "half"}, "option sparsity"),
        ({"method": "magnitude"}, "option sparsity"),
        ({"method": "wanda", "sparsity": 1.5}, "option sparsity"),
        ({"method": "wanda"}, "option sparsity / pattern"),
        ({"method": "wanda", "sparsity": 0.5, "pattern": "2:4"}, "option sparsity / pattern"),
        ({"method": "rtn", "bits": 5}, "option bits"),
        ({"method": "rtn", "bits": 2}, "option bits"),
        ({"method": "gptq", "bits": 8}, "option bits"),
        ({"method": "rtn", "group_size": 0}, "option group_size"),
        ({"method": "gptq", "group_size": 16}, "option group_size"),
        ({"method": "rtn", "group-size": "sixty"}, "option group_size"),
        ({"method": "nm", "pattern": "4:2"}, "option pattern"),
        ({"method": "nm", "pattern": "2-4"}, "option pattern"),
        ({"method": "nm"}, "option pattern"),
        ({"method": "rtn", "sparsity": 0.5}, "option sparsity"),
        ({"method": "magnitude", "sparsity": 0.5, "bits": 4}, "option bits"),
        ({"method": "quantize"}, "option method"),
        ({"method": "wanda", "sparsity": 0.5, "calibration": "/nonexistent/calib.txt"}, "option calibration"),
        ({"method": "wanda", "sparsity": 0.5, "samples": 0}, "option samples"),
    ],
)
def test_bad_options_are_refused_naming_the_option(spec: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"^{named}"):
        parse_options(spec)


def test_good_options_parse_with_defaults() -> None:
    rtn = parse_options({"method": "rtn", "bits": "3", "group-size": 64, "sym": "false"})
    assert (rtn.bits, rtn.group_size, rtn.sym) == (3, 64, False)
    assert rtn.parameters() == {"bits": 3, "group_size": 64, "sym": False, "include_head": False}
    nm = parse_options({"method": "nm", "pattern": "4:8"})
    assert nm.pattern == (4, 8)
    assert nm.parameters()["pattern"] == "4:8"
    wanda = parse_options({"method": "wanda", "sparsity": 0, "pattern": None})
    assert wanda.sparsity == 0.0 and wanda.needs_calibration


def test_group_size_that_does_not_divide_a_layer_is_refused(tiny_model_dir: Path) -> None:
    # The tiny Llama's layers read 32 (attention, gate/up) or 64 (down) inputs.
    with pytest.raises(ValueError, match=r"option group_size: 24 does not divide layer model\.layers\.0\."):
        check_model_shapes(parse_options({"method": "rtn", "group_size": 24}), tiny_model_dir)
    with pytest.raises(ValueError, match="option pattern: 2:3 does not divide"):
        check_model_shapes(parse_options({"method": "nm", "pattern": "2:3"}), tiny_model_dir)
    check_model_shapes(parse_options({"method": "rtn", "group_size": 32}), tiny_model_dir)
    check_model_shapes(CompressOptions("rtn", bits=4, group_size=-1), tiny_model_dir)


def test_refusal_comes_before_any_output(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "variant"
    with pytest.raises(ValueError, match="option group_size"):
        compress_model(str(tiny_model_dir), {"method": "rtn", "group_size": 24}, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_exits_2_with_the_flag_named(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["compress", "--model", str(tiny_model_dir), "--out", str(tmp_path / "v")]
    assert cli_main.main([*base, "--method", "magnitude", "--sparsity", "1"]) == 2
    assert "--sparsity: 1.0 is outside [0, 1)" in capsys.readouterr().err
    assert cli_main.main([*base, "--method", "rtn", "--bits", "4", "--group-size", "24"]) == 2
    assert "--group-size: 24 does not divide layer model.layers.0." in capsys.readouterr().err
    assert not (tmp_path / "v").exists()
