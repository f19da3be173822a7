"""Folders, manifests, the variant cache and the CLI: on the tiny model (fast) and the embedded one (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from trustwatch.common.model_specs import resolve_model
from trustwatch.common.requests import LoglikelihoodRequest
from trustwatch.compress.evaluate import perplexity
from trustwatch.compress.manifest import MANIFEST_NAME, read_manifest, summarise_manifest
from trustwatch.compress.variants import DEFAULT_VARIANTS, build_variant, default_variants
from trustwatch.server.backends.transformers_backend import TransformersBackend
from trustwatch.server.cli import main as cli_main

from ..backends.direct import direct_logprob

PAIRS = [("The lighthouse keeper", " climbed the stairs.")]


def _assert_normal_folder(folder: Path) -> None:
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        MANIFEST_NAME,
    ):
        assert (folder / name).is_file(), name
    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert not any(key.startswith("lm_head") for key in weights.keys())  # noqa: SIM118 (tied: saved once)
    assert json.loads((folder / "config.json").read_text())["tie_word_embeddings"] is True
    assert resolve_model(str(folder)).path == folder.resolve()


def test_variant_is_built_once_and_cached_by_definition(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = {"method": "magnitude", "sparsity": 0.5}
    first = build_variant(str(tiny_model_dir), spec, cache_dir=tmp_path)
    _assert_normal_folder(first)
    stamp = (first / MANIFEST_NAME).stat().st_mtime_ns
    assert build_variant(str(tiny_model_dir), dict(spec), cache_dir=tmp_path) == first
    assert (first / MANIFEST_NAME).stat().st_mtime_ns == stamp
    other = build_variant(str(tiny_model_dir), {"method": "magnitude", "sparsity": 0.25}, cache_dir=tmp_path)
    assert other != first
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted([first.name, other.name])

    manifest = read_manifest(first)
    assert manifest is not None
    assert manifest["method"] == "magnitude" and manifest["params"] == {
        "sparsity": 0.5,
        "include_head": False,
    }
    assert manifest["source"]["kind"] == "folder" and len(manifest["source"]["sha256"]) == 64
    assert manifest["sparsity"]["overall"] == pytest.approx(0.5)
    assert set(manifest["sparsity"]["layers"].values()) == {0.5}
    assert manifest["quantization"] is None and manifest["calibration"] is None
    assert manifest["versions"]["torch"] and manifest["wall_time_s"] >= 0
    assert "magnitude 50%" in summarise_manifest(manifest)


def test_calibration_file_is_part_of_the_key(tiny_model_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "calib.txt"
    text.write_text("Hello world, this is a tiny tokenizer for tests. " * 20)
    spec = {"method": "wanda", "pattern": "2:4", "seq_len": 32, "samples": 4}
    builtin = build_variant(str(tiny_model_dir), spec, cache_dir=tmp_path / "cache")
    custom = build_variant(
        str(tiny_model_dir), {**spec, "calibration": str(text)}, cache_dir=tmp_path / "cache"
    )
    assert builtin != custom
    calibration = read_manifest(custom)["calibration"]  # type: ignore[index]
    assert calibration["source"] == str(text.resolve()) and calibration["windows"] >= 1
    assert read_manifest(builtin)["calibration"]["source"].startswith("builtin:")  # type: ignore[index]


def test_default_variants_cover_the_issue_set() -> None:
    methods = {name: v["compress"]["method"] for name, v in default_variants(include_gptq=True).items()}
    assert methods == {
        "rtn-4bit": "rtn",
        "magnitude-50": "magnitude",
        "magnitude-2of4": "nm",
        "gptq-4bit": "gptq",
    }
    assert "gptq-4bit" not in default_variants(include_gptq=False)
    assert all(v["from"] == "embedded:smollm2-135m" for v in DEFAULT_VARIANTS.values())


def test_cli_writes_the_folder_and_prints_the_manifest(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rtn"
    argv = ["compress", "--json", "--model", str(tiny_model_dir), "--method", "rtn", "--bits", "3"]
    assert cli_main.main([*argv, "--group-size", "16", "--asym", "--out", str(out)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["out"] == str(out.resolve())
    assert payload["manifest"]["quantization"] == {"bits": 3, "group_size": 16, "sym": False}
    _assert_normal_folder(out)
    assert cli_main.main([*argv, "--group-size", "16", "--out", str(out)]) == 2  # not empty
    assert "--out: folder" in capsys.readouterr().err


@pytest.mark.slow
def test_embedded_variants_load_score_and_keep_their_perplexity_story(
    embedded_backend: TransformersBackend, tmp_path: Path
) -> None:
    base = perplexity(embedded_backend)["perplexity"]
    pruned = build_variant(
        "embedded:smollm2-135m", {"method": "magnitude", "sparsity": 0.5}, cache_dir=tmp_path
    )
    _assert_normal_folder(pruned)
    backend = TransformersBackend(str(pruned), batch_size=4)
    # Through TransformersBackend, the same log-likelihoods as plain transformers on the folder.
    results = backend.loglikelihood([LoglikelihoodRequest(c, x) for c, x in PAIRS])
    for (context, continuation), result in zip(PAIRS, results, strict=True):
        logprob, tokens, _ = direct_logprob(pruned, context, continuation)
        assert result.tokens == tokens
        assert result.logprob == pytest.approx(logprob, abs=1e-3)
    assert backend.model.lm_head.weight is backend.model.model.embed_tokens.weight
    assert perplexity(backend)["perplexity"] > 1.5 * base  # 50% pruning raises it
    backend.close()

    rtn8 = build_variant(
        "embedded:smollm2-135m", {"method": "rtn", "bits": 8, "group_size": 64}, cache_dir=tmp_path
    )
    rtn_backend = TransformersBackend(str(rtn8), batch_size=4)
    assert perplexity(rtn_backend)["perplexity"] == pytest.approx(
        base, rel=0.02
    )  # 8-bit barely moves it (measured -0.7%)
    rtn_backend.close()
