"""Blocks found only as pieces on one page, while the collection shows them whole elsewhere.

Where blocks touch in a band, segmentation may see a row of pieces: the two mirrored halves
of a tile, the leaves of a four-leaf block, the strokes of a spoked flower. On that page alone
no rule tells such pieces from small blocks set close. The collection can: the same block,
printed apart on another page, was found whole and made a motif. So adjacent pieces are
joined when their union looks like a motif that none of them is, and no piece repeats another
beside or above it (that would be a band of small blocks, whatever else it resembles).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.decompose.constellations import Piece
from service.decompose.segment import Box, enclosing_box, lying_within, relative_gaps


@dataclass(frozen=True)
class WholeParams:
    # Pieces closer than this fraction of the smaller one's size can be parts of one block.
    max_gap: float = 0.25
    # A block has at most this many pieces.
    max_pieces: int = 8
    # A union of pieces is a block when it is at least this alike to a motif found whole.
    likeness: float = 0.85
    # Pieces this alike as printed, side by side or stacked, are blocks of a band.
    repeat_likeness: float = 0.8
    # Unions tried per page, at most: a dense grid of specks would offer very many.
    max_candidates: int = 1000
    # A box lies within a union when at least this share of its area does.
    within: float = 0.5
    # The pieces of one block fill most of its box; blocks set corner to corner do not.
    min_cover: float = 0.6


def candidate_groups(
    pieces: Sequence[Piece], printed: np.ndarray, params: WholeParams
) -> list[tuple[int, ...]]:
    """Groups of ``pieces`` (all of one page) that may be the parts of one block: adjacent,
    filling their union, and no two alike as printed side by side or stacked.

    ``printed`` (N, D) describes each piece as printed (unturned), as unit vectors.
    """
    boxes = _boxes(pieces)
    return [
        group
        for group in candidate_unions(boxes, params)
        if not repeat_in_line(boxes, printed, group, params.repeat_likeness)
    ]


def union_of(pieces: Sequence[Piece], group: tuple[int, ...]) -> Box:
    """The box a group of pieces would make as one block."""
    return enclosing_box(_boxes(pieces)[list(group)])


def chosen_wholes(
    pieces: Sequence[Piece],
    candidates: Sequence[tuple[int, ...]],
    motif: np.ndarray,
    similarity: np.ndarray,
    params: WholeParams,
) -> list[list[int]]:
    """The ``candidates`` joined: each union is most alike to ``motif`` (found whole on another
    page), by ``similarity``; it must be alike enough, and to no motif of its own pieces."""
    found = [
        (float(s), group)
        for group, m, s in zip(candidates, motif, similarity, strict=True)
        if s >= params.likeness and all(pieces[i].motif != m for i in group)
    ]
    chosen: list[list[int]] = []
    taken: set[int] = set()
    # Largest first, then most alike: the union of all a flower's strokes explains more than
    # the union of a few, which may resemble a motif made of such a few on another page.
    for _, group in sorted(found, key=lambda item: (-len(item[1]), -item[0])):
        if taken.isdisjoint(group):
            chosen.append(sorted(group))
            taken.update(group)
    return chosen


def _boxes(pieces: Sequence[Piece]) -> np.ndarray:
    return np.array([p.box for p in pieces], dtype=np.int64).reshape(-1, 4)


def candidate_unions(boxes: np.ndarray, params: WholeParams) -> list[tuple[int, ...]]:
    """Groups of 2 to ``max_pieces`` adjacent boxes whose union box holds no other box: grown
    one neighbour at a time, each time closed over the boxes the union swallows."""
    adjacent = _adjacent(boxes, params.max_gap)
    seen: set[frozenset[int]] = set()
    kept: list[frozenset[int]] = []
    frontier = [frozenset([i]) for i in range(len(boxes))]
    while frontier and len(seen) < params.max_candidates:
        grown = []
        for group in frontier:
            for j in np.flatnonzero(adjacent[list(group)].any(axis=0)):
                closed = _closure(boxes, group | {int(j)}, params.within)
                if len(closed) > params.max_pieces or closed in seen:
                    continue
                seen.add(closed)
                if _cover(boxes[list(closed)]) >= params.min_cover:
                    grown.append(closed)
        kept += grown
        frontier = grown
    return sorted(tuple(sorted(group)) for group in kept)[: params.max_candidates]


def repeat_in_line(
    boxes: np.ndarray, printed: np.ndarray, group: tuple[int, ...], likeness: float
) -> bool:
    """Whether two pieces of ``group`` look alike as printed, side by side or stacked: a band
    of blocks repeats one by translation, while the parts of one block are turned or mirrored
    copies, if copies at all. Compared as printed, not by motif and orientation, as a
    symmetric block's orientation is any of several."""
    for a, b in itertools.combinations(group, 2):
        (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[a], boxes[b]
        side_by_side = min(ay + ah, by + bh) > max(ay, by)
        stacked = min(ax + aw, bx + bw) > max(ax, bx)
        if (side_by_side or stacked) and float(printed[a] @ printed[b]) >= likeness:
            return True
    return False


def _adjacent(boxes: np.ndarray, max_gap: float) -> np.ndarray:
    """Boxes closer than ``max_gap`` of the smaller one's size."""
    adjacent = relative_gaps(boxes) <= max_gap
    np.fill_diagonal(adjacent, False)
    return adjacent


def _closure(boxes: np.ndarray, group: frozenset[int], share: float) -> frozenset[int]:
    """``group`` with every box lying within its union (``share`` of its area or more),
    until the union stops growing."""
    while True:
        inside = lying_within(boxes, enclosing_box(boxes[list(group)]), share)
        closed = group | frozenset(int(i) for i in np.flatnonzero(inside))
        if closed == group:
            return group
        group = closed


def _cover(boxes: np.ndarray) -> float:
    """Share of the union box that the boxes' areas add up to."""
    _, _, w, h = enclosing_box(boxes)
    return float((boxes[:, 2] * boxes[:, 3]).sum()) / max(1, w * h)
