"""Scoring requests that share a prefix in one sequence: a token trie with tree attention.

The answers of one BBQ item share their whole context, and the two sentences of a
CrowS-Pairs pair often share their first words. Scored one by one, that prefix runs
through the model once per request. Packed, the requests of a group become one trie of
tokens laid out in a single row: every node attends to itself and its ancestors only,
and its position id is its depth, so each request's tokens see exactly the keys and
positions they would see alone (to float tolerance) while the shared prefix runs once.

Grouping follows the order the probe kinds emit requests (an item's requests are
adjacent): a request joins the open group when it shares at least ``min_shared`` leading
tokens with the group's first request and the row stays within ``max_nodes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PackedRow:
    tokens: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    """Index of each node's parent in the row; -1 for the root."""
    members: list[tuple[int, list[int]]] = field(default_factory=list)
    """(request index, node index of each input token) for every request in the row."""
    _children: dict[tuple[int, int], int] = field(default_factory=dict)

    def add(self, index: int, tokens: Sequence[int]) -> None:
        parent, path = -1, []
        for token in tokens:
            node = self._children.get((parent, token))
            if node is None:
                node = len(self.tokens)
                self._children[(parent, token)] = node
                self.tokens.append(token)
                self.depths.append(len(path))
                self.parents.append(parent)
            path.append(node)
            parent = node
        self.members.append((index, path))

    def nodes_with(self, tokens: Sequence[int]) -> int:
        """How many nodes the row would have with ``tokens`` added."""
        parent, shared = -1, 0
        for token in tokens:
            node = self._children.get((parent, token))
            if node is None:
                break
            parent, shared = node, shared + 1
        return len(self.tokens) + len(tokens) - shared

    @property
    def shared(self) -> bool:
        return len(self.members) > 1

    def attends(self) -> np.ndarray:
        """``[i, j]`` is True where node ``i`` may attend to node ``j``: itself and its ancestors.

        A row of one request is a chain, and this is the plain causal mask.
        """
        size = len(self.tokens)
        allowed = np.zeros((size, size), dtype=bool)
        for node, parent in enumerate(self.parents):  # parents come before their children
            if parent >= 0:
                allowed[node] = allowed[parent]
            allowed[node, node] = True
        return allowed


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def pack(sequences: Sequence[Sequence[int]], max_nodes: int, min_shared: int = 2) -> list[PackedRow]:
    """Rows of a trie each; ``sequences[i]`` lands in exactly one row as member ``i``."""
    rows: list[PackedRow] = []
    first: Sequence[int] = ()
    for index, tokens in enumerate(sequences):
        row = rows[-1] if rows else None
        if (
            row is None
            or common_prefix(first, tokens) < min_shared
            or row.nodes_with(tokens) > max(max_nodes, len(tokens))
        ):
            row, first = PackedRow(), tokens
            rows.append(row)
        row.add(index, tokens)
    return rows
