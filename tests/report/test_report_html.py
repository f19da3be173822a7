"""The HTML report of a made-up run: sections, escaping, self-containment, missing files, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from trustwatch.server.report import ReportInputError, write_report_html
from trustwatch.server.report.digest import changed_generations

from .synthetic_run import HOSTILE, build_run


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = build_run(tmp_path_factory.mktemp("run"))
    path = write_report_html(out)
    return out, path.read_text(encoding="utf-8")


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def test_header_names_variants_scorer_and_run_time(full_run) -> None:
    _, page = full_run
    summary = _section(page, "summary")
    assert "profanity" in summary and "alt-profanity-check (embedded)" in summary
    assert "4 min 10 s" in summary
    assert "toxicity: 24 items" in summary and "stereotype_agreement: 48 items" in summary
    variants = _section(page, "variants")
    assert "embedded:smollm2-135m" in variants
    assert "method=rtn, bits=4, group_size=128" in variants  # the list-valued manifest field is left out
    assert "method=wanda, sparsity=0.5" in variants


def test_gate_badges_and_reasons(full_run) -> None:
    _, page = full_run
    gate = _section(page, "gate")
    assert '<span class="badge pass">PASS</span> <b>int4</b>' in gate
    assert '<span class="badge fail">FAIL</span> <b>wanda50</b>' in gate
    assert "lower bound 0.12 &gt; tolerance 0.05" in gate  # a reason object, its nested divergence lifted
    assert "every upper bound is below its tolerance" in gate


def test_divergence_rows_are_flagged_by_their_interval(full_run) -> None:
    out, page = full_run
    rows = json.loads((out / "report.json").read_text())["divergence"]
    above = sum(1 for r in rows if r["lower"] > 0)
    section = _section(page, "divergence")
    assert f"Degradations whose interval excludes 0 ({above})" in section
    assert section.count('<tr class="worse">') == 2 * above  # the flagged table and the full one


def test_each_probe_has_a_chart_and_table_per_metric(full_run) -> None:
    _, page = full_run
    toxicity = _section(page, "probe-toxicity")
    agreement = _section(page, "probe-stereotype-agreement")
    # bars per metric plus one divergence chart per probe, all inline SVG
    assert toxicity.count('src="data:image/svg+xml;base64,') == 3
    assert agreement.count('src="data:image/svg+xml;base64,') == 2
    assert "Gehman et al. 2020" in toxicity and "Wang et al. 2023" in agreement
    assert "<th>group</th>" in toxicity and "Δ wanda50" in toxicity
    # scorer errors and unparsed answers per probe and variant, from the outcomes
    assert re.search(r"<td>int4</td><td class=\"num\">1</td>", toxicity)
    assert "unparsed" in agreement and "scorer error" not in agreement


def test_changed_generations_show_the_planted_change_escaped(full_run) -> None:
    _, page = full_run
    toxicity = _section(page, "probe-toxicity")
    assert "base → wanda50" in toxicity
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; you are all useless &amp; awful" in toxicity
    first = toxicity.index("base → wanda50")
    assert toxicity.index("tox-005", first) < toxicity.index('<div class="gen">', first) + 200


def test_page_is_self_contained(full_run) -> None:
    _, page = full_run
    assert "<script" not in page
    assert "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "url(" not in page


def test_changed_generations_pair_on_item_and_sample_and_skip_failures() -> None:
    rows = [
        {"item_id": "a", "variant": "b", "probe": "t", "sample": 0, "prompt": "p", "text": "x", "score": 0.1},
        {"item_id": "a", "variant": "c", "probe": "t", "sample": 0, "prompt": "p", "text": "y", "score": 0.9},
        {"item_id": "a", "variant": "b", "probe": "t", "sample": 1, "prompt": "p", "text": "x", "score": 0.2},
        {
            "item_id": "a",
            "variant": "c",
            "probe": "t",
            "sample": 1,
            "prompt": "p",
            "text": "y",
            "score": None,
        },
        {"item_id": "z", "variant": "b", "probe": "t", "sample": 0, "prompt": "q", "text": "x", "score": 0.5},
        {"item_id": "z", "variant": "c", "probe": "t", "sample": 0, "prompt": "q", "text": "y", "score": 0.4},
        {"item_id": "w", "variant": "c", "probe": "t", "sample": 0, "prompt": "r", "text": "y", "score": 1.0},
    ]
    changes = changed_generations(rows, "t", "b", "c")
    assert [(c.item_id, c.sample) for c in changes] == [("a", 0), ("z", 0)]
    assert changes[0].change == pytest.approx(0.8)
    assert changes[1].change == pytest.approx(-0.1)


def test_only_report_json_still_gives_a_page(tmp_path: Path) -> None:
    out = build_run(tmp_path, with_sections=False)
    (out / "outcomes.jsonl").unlink()
    (out / "generations.jsonl").unlink()
    page = write_report_html(out).read_text(encoding="utf-8")
    assert "Not in the run directory: outcomes.jsonl, generations.jsonl" in page
    assert 'id="gate"' not in page and 'id="divergence"' not in page
    assert "Generations that changed most" not in page
    assert page.count('src="data:image/svg+xml;base64,') == 3  # the metric bars remain


def test_missing_report_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match=r"report\.json: no such file"):
        write_report_html(tmp_path)


def test_a_bad_generations_line_names_file_and_line(tmp_path: Path) -> None:
    out = build_run(tmp_path)
    path = out / "generations.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = '{"item_id": "x", "variant": "base"'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportInputError, match=r"generations\.jsonl:3: not valid JSON"):
        write_report_html(out)


def test_an_unknown_baseline_is_named(tmp_path: Path) -> None:
    out = build_run(tmp_path)
    report = json.loads((out / "report.json").read_text())
    report["baseline"] = "fp16"
    (out / "report.json").write_text(json.dumps(report))
    with pytest.raises(ReportInputError, match="baseline 'fp16' is not one of the variants"):
        write_report_html(out)


def test_gate_and_divergence_from_the_monitors_render(tmp_path: Path) -> None:
    """report.json sections in the shapes ``Verdict.to_dict`` and ``DivergenceRow.to_dict`` give."""
    from trustwatch.monitors.divergence import divergence
    from trustwatch.monitors.gate import evaluate_gate
    from trustwatch.monitors.outcomes import load_outcomes
    from trustwatch.monitors.policy import load_policy

    out = build_run(tmp_path, with_sections=False)
    table = load_outcomes(out / "outcomes.jsonl")
    verdicts = evaluate_gate(table, load_policy(), baseline="base")
    rows = [row.to_dict() for row in divergence(table, "base", "wanda50", resamples=200)]
    report = json.loads((out / "report.json").read_text())
    report["gate"] = [v.to_dict() for v in verdicts]
    report["divergence"] = rows
    (out / "report.json").write_text(json.dumps(report))
    page = write_report_html(out).read_text(encoding="utf-8")
    gate = _section(page, "gate")
    for verdict in verdicts:
        assert (
            f'<span class="badge {verdict.verdict.lower()}">{verdict.verdict}</span> <b>{verdict.candidate}</b>'
            in gate
        )
    section = _section(page, "divergence")
    assert "baseline → candidate" in section and "McNemar p" in section
    worst = max(rows, key=lambda r: r["degradation"])
    assert f"{worst['degradation']:+.3g}" in section
    assert f'<td class="num">{worst["n_items"]}</td>' in section
