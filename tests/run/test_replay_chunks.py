"""How the replay engine cuts a slice's requests into backend calls."""

from __future__ import annotations

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.replay import _chunks


def test_chunks_keep_an_item_together_and_go_longest_first() -> None:
    # Three items: two requests of 1 char, three of 30 chars (one context, three answers), two of 10.
    requests = [LoglikelihoodRequest("", "a"), LoglikelihoodRequest("", "b")]
    requests += [LoglikelihoodRequest("x" * 28, f" {c}") for c in "pqr"]
    requests += [LoglikelihoodRequest("", "y" * 10), LoglikelihoodRequest("", "z" * 10)]
    spans = [(0, 2), (2, 3), (5, 2)]
    chunks = list(_chunks(requests, spans, size=4))
    assert chunks == [[2, 3, 4], [5, 6, 0, 1]]
    assert sorted(i for chunk in chunks for i in chunk) == list(range(7))


def test_an_item_larger_than_a_chunk_is_not_split() -> None:
    requests = [GenerateRequest(prompt="p" * n) for n in (5, 5, 5, 1)]
    assert list(_chunks(requests, [(0, 3), (3, 1)], size=2)) == [[0, 1, 2], [3]]
