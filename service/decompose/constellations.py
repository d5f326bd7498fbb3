"""Blocks cut as several separate pieces, found by how their pieces always appear together.

A vignette engraved as separate strokes (four petals round a centre, a leaf and its dots)
segments into pieces, and each piece clusters into a motif of its own. What tells such pieces
from neighbouring blocks is recurrence, not geometry: the pieces of one block sit almost
touching, every time, in the same company, while a block set in a band or a rosette also turns
up elsewhere with other neighbours. So a tight group of instances is joined into one instance
when no piece repeats another beside or above it (that is a band, not a block) and most
impressions of each of its motifs sit in a group of that same make-up.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from service.decompose.segment import Box, enclosing_box, pairwise_gaps, relative_gaps
from service.dihedral import Orientation


@dataclass(frozen=True)
class ConstellationParams:
    # Instances closer than these fractions of the smaller one's size can be pieces of one
    # block, tried tightest first: petals almost touch, while the leaves of a four-leaf block
    # stand apart by a fifth of their size (and blocks in a band by more).
    gap_levels: tuple[float, ...] = (0.08, 0.25)
    # A block has at most this many separately cut pieces.
    max_pieces: int = 8
    # A make-up seen fewer times than this is a one-off arrangement (a rosette), not a block.
    min_groups: int = 2
    # Share of a motif's impressions that must sit in groups of the same make-up.
    min_share: float = 0.5
    # Pieces whose boxes overlap by more than this fraction of the smaller one are one block.
    max_overlap: float = 0.1


@dataclass(frozen=True)
class Piece:
    """One kept instance as the joining step sees it."""

    page: int
    box: Box
    motif: int
    orientation: Orientation


def join_pieces(pieces: Sequence[Piece], params: ConstellationParams) -> list[list[int]]:
    """Index groups of ``pieces`` that are pieces of one block (groups of two or more)."""
    pages = {page: _geometry(pieces, page) for page in sorted({p.page for p in pieces})}
    constellations: list[list[int]] = []
    joined_already: set[int] = set()
    for gap in params.gap_levels:
        found = _constellations(pieces, pages, gap, joined_already, params)
        constellations += found
        joined_already.update(i for group in found for i in group)
    by_page: dict[int, list[list[int]]] = {page: [] for page in pages}
    for group in constellations:
        by_page[pieces[group[0]].page].append(group)
    joined = []
    for page, geometry in pages.items():
        # Type is set side by side, so two blocks never overlap: overlapping pieces are one.
        link = geometry.overlap > params.max_overlap
        local = {int(i): n for n, i in enumerate(geometry.index)}
        for group in by_page[page]:
            members = [local[i] for i in group]
            link[np.ix_(members, members)] = True
        joined += [[int(geometry.index[i]) for i in c] for c in _components(link) if len(c) > 1]
    return joined


def _constellations(
    pieces: Sequence[Piece],
    pages: dict[int, _Geometry],
    gap: float,
    excluded: set[int],
    params: ConstellationParams,
) -> list[list[int]]:
    """Groups of pieces closer than ``gap`` (none of ``excluded``) that pass as one block."""
    groups = []
    for geometry in pages.values():
        free = np.array([int(i) not in excluded for i in geometry.index])
        if not free.any():
            continue
        for group in _components(geometry.gap[np.ix_(free, free)] <= gap):
            groups.append([int(geometry.index[free][i]) for i in group])
    make_up = [_make_up(pieces, g) for g in groups]
    total = Counter(pieces[i].motif for g in groups for i in g)
    seen_in = Counter((pieces[i].motif, m) for g, m in zip(groups, make_up, strict=True) for i in g)
    times = Counter(make_up)
    return [
        group
        for group, m in zip(groups, make_up, strict=True)
        if 2 <= len(group) <= params.max_pieces
        and times[m] >= params.min_groups
        and _no_repeat_in_line(pieces, group)
        and all(
            seen_in[pieces[i].motif, m] >= params.min_share * total[pieces[i].motif] for i in group
        )
    ]


@dataclass(frozen=True)
class _Geometry:
    index: np.ndarray  # piece indices on the page
    gap: np.ndarray  # pairwise gap, as a fraction of the smaller piece's size
    overlap: np.ndarray  # pairwise overlap, as a fraction of the smaller piece's area


def _geometry(pieces: Sequence[Piece], page: int) -> _Geometry:
    index = np.array([i for i, p in enumerate(pieces) if p.page == page])
    boxes = np.array([pieces[i].box for i in index], dtype=np.float64)
    gap_x, gap_y = pairwise_gaps(boxes)
    gap = relative_gaps(boxes)
    area = boxes[:, 2] * boxes[:, 3]
    shared = np.maximum(-gap_x, 0) * np.maximum(-gap_y, 0)
    overlap = shared / np.minimum(area[:, None], area[None])
    np.fill_diagonal(overlap, 0.0)
    return _Geometry(index, gap, overlap)


def _components(graph: np.ndarray) -> list[list[int]]:
    _, labels = connected_components(graph, directed=False)
    return [list(np.flatnonzero(labels == k)) for k in range(labels.max() + 1)]


def _make_up(pieces: Sequence[Piece], group: list[int]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(Counter(pieces[i].motif for i in group).items()))


def _no_repeat_in_line(pieces: Sequence[Piece], group: list[int]) -> bool:
    """Whether no piece repeats another (same motif, same orientation) beside or above it:
    such a translated repeat is a band of blocks. (Diagonal repeats occur within a block: the
    opposite leaves of a four-leaf block are one leaf in one orientation.)"""
    for a, b in itertools.combinations(group, 2):
        first, second = pieces[a], pieces[b]
        if (first.motif, first.orientation) == (second.motif, second.orientation):
            (ax, ay, aw, ah), (bx, by, bw, bh) = first.box, second.box
            side_by_side = min(ay + ah, by + bh) > max(ay, by)
            stacked = min(ax + aw, bx + bw) > max(ax, bx)
            if side_by_side or stacked:
                return False
    return True


def joined_boxes(boxes: Sequence[Box], groups: Sequence[list[int]]) -> list[Box]:
    """``boxes`` with the members of each group (indices into ``boxes``) replaced by their union."""
    joined = {i for group in groups for i in group}
    unions = [enclosing_box(np.array([boxes[i] for i in group])) for group in groups]
    return [box for i, box in enumerate(boxes) if i not in joined] + unions
