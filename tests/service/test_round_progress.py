"""The serve terminal's progress line while a round replays."""

from __future__ import annotations

from trustwatch.server.summaries import ProbeProgress, ReplayStatus, RoundProgress


def status(round_: int, done: dict[str, int], total: int = 10) -> ReplayStatus:
    progress = [ProbeProgress(v, probe, n // 2 + (n % 2 if probe == "bbq" else 0), total // 2)
                for v, n in done.items() for probe in ("bbq", "crows_pairs")]
    return ReplayStatus(True, round_, 0, 0.0, "", 0, progress)


def test_the_line_gives_items_per_variant_and_an_eta_from_the_rate_seen() -> None:
    meter = RoundProgress()
    first = meter.line(status(0, {"original": 4, "rtn-4bit": 2}), now=100.0)
    assert first == "replay round 0: original 4/10, rtn-4bit 2/10 items; 6/20 answers, ETA after the first cycle"
    assert meter.line(status(0, {"original": 4, "rtn-4bit": 2}), now=110.0) is None  # nothing moved
    # 6 more answers in 20 s: 0.3 per second, 8 left: 27 s
    assert meter.line(status(0, {"original": 8, "rtn-4bit": 4}), now=120.0) == (
        "replay round 0: original 8/10, rtn-4bit 4/10 items; 12/20 answers, ETA 27 s")
    assert meter.line(status(0, {"original": 10, "rtn-4bit": 10}), now=130.0).endswith("20/20 answers, done")


def test_a_new_round_measures_its_rate_afresh() -> None:
    meter = RoundProgress()
    meter.line(status(0, {"a": 0}), now=0.0)
    meter.line(status(0, {"a": 10}), now=1.0)  # a fast round 0
    assert meter.line(status(1, {"a": 2}), now=500.0).endswith("ETA after the first cycle")
    assert meter.line(status(1, {"a": 4}), now=560.0).endswith("4/10 answers, ETA 3 min 00 s")


def test_a_slow_probe_after_a_fast_one_is_timed_at_its_own_rate() -> None:
    """Replay takes the probes in the config's order; generated answers cost far more than scored ones.
    The round's one rate promised the last, slow probe in seconds when it took minutes (docs/study.md)."""
    meter = RoundProgress()

    def at(bbq: int, toxicity: int) -> ReplayStatus:
        return ReplayStatus(True, 0, 0, 0.0, "", 0, [ProbeProgress("a", "bbq", bbq, 100),
                                                     ProbeProgress("a", "toxicity", toxicity, 10)])

    meter.line(at(0, 0), now=0.0)
    meter.line(at(50, 0), now=10.0)  # 5 scored answers a second
    # toxicity has not started: its 10 answers are timed at the round's rate so far, 5 a second
    assert meter.line(at(100, 0), now=20.0).endswith("100/110 answers, ETA 2 s")
    # 2 generated answers in 20 s: the 8 left take 80 s (the round's rate, 2.55 a second, said 3 s)
    assert meter.line(at(100, 2), now=40.0).endswith("102/110 answers, ETA 1 min 20 s")
