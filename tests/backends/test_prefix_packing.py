"""The token trie that packs requests sharing a prefix into one row."""

from __future__ import annotations

import numpy as np

from trustwatch.server.backends.prefix_packing import pack


def test_a_shared_context_is_laid_out_once() -> None:
    context = [1, 5, 6, 7]
    [row] = pack([[*context, 10, 11], [*context, 20], [*context, 30, 31, 32]], max_nodes=100)
    assert row.tokens == [1, 5, 6, 7, 10, 11, 20, 30, 31, 32]
    assert row.depths == [0, 1, 2, 3, 4, 5, 4, 4, 5, 6]
    assert [m for m, _ in row.members] == [0, 1, 2]
    assert row.members[1][1] == [0, 1, 2, 3, 6]
    allowed = row.attends()
    # " 20" sees the context and itself, not the first answer's tokens.
    assert allowed[6].nonzero()[0].tolist() == [0, 1, 2, 3, 6]
    assert allowed[9].nonzero()[0].tolist() == [0, 1, 2, 3, 7, 8, 9]


def test_one_request_is_a_causal_chain() -> None:
    [row] = pack([[1, 2, 3, 4]], max_nodes=100)
    assert np.array_equal(row.attends(), np.tril(np.ones((4, 4), dtype=bool)))
    assert not row.shared


def test_groups_follow_order_shared_length_and_size() -> None:
    rows = pack([[1, 2, 3], [1, 2, 4], [1, 9], [1, 9, 8], [5, 6]], max_nodes=100)
    assert [[m for m, _ in r.members] for r in rows] == [[0, 1], [2, 3], [4]]
    # A lone common BOS is not worth a tree: min_shared=2 keeps such requests apart.
    assert len(pack([[1, 2], [1, 3]], max_nodes=100)) == 2
    # A row never grows beyond max_nodes, except for one request that alone is longer.
    assert len(pack([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 6]], max_nodes=5)) == 2
    assert len(pack([list(range(9))], max_nodes=5)) == 1
