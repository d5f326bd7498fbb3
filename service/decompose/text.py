"""Telling type (headings, capitals, words) from a band of vignettes.

Letters of a line of type sit side by side, the same size, and are nearly all different
shapes; the blocks of a band or a head-piece repeat (or mirror) a few designs. A candidate is
therefore read in its line: it and its nearest neighbours on either side, among the other
candidates and the page's letter-sized strokes, are compared, and a window of mostly distinct
shapes is type, whatever its size. The strokes matter: the capital M of a heading may be the
only letter large enough to be a candidate, and only its neighbours O and E show it is a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.decompose.describe import alike_groups, dihedral_views, template
from service.decompose.segment import Box, overlapping


@dataclass(frozen=True)
class TextParams:
    # Neighbours in one line share at least this fraction of the shorter one's height...
    line_overlap: float = 0.5
    # ...are at most this many times taller than each other...
    max_height_ratio: float = 2.0
    # ...and are closer than this many heights (of the taller).
    max_gap: float = 0.6
    # ...and share their top or their bottom (a baseline, a cap line) within this fraction.
    alignment: float = 0.1
    # Neighbours read on each side of a candidate.
    reach: int = 3
    # Shapes at least this alike (correlation, any orientation) are the same design or letter.
    likeness: float = 0.8
    # A window whose distinct shapes make up at least this share of its members is type.
    distinct_share: float = 0.6
    min_run: int = 3
    # A cluster of strokes is type when at least this share of them read as letters; so is a
    # motif of small sorts (below) when this share of them stand in lines of text.
    letter_share: float = 0.5
    # A motif of sorts no larger than this, never twice on a page, set inside lines of text,
    # is type (words and letters recurring from page to page). Four x-heights holds a word of
    # three or four letters, italic swash capitals and heading words among them.
    lone_sort_size_in_x_heights: float = 4.0
    # ...and so is one, set more than once on a page, whose instances mostly (this share of
    # them) stand apart from every other instance or between letters: a word recurring
    # within a page, or in two lines one above the other.
    apart_share: float = 0.75
    # ...or one of whose instances this share, no larger than a letter, read among letters,
    # two of them at least on one side in their line: a letter (an l, the stem of an m) cut
    # out of the words of a text, often set beside its own kind (ll, mm). The sorts of a band
    # never are; nor are larger blocks, among the strokes of their fellows not found yet.
    among_letters_share: float = 0.2
    # A letter's long side is at most this many x-heights (a long s, ascender to descender).
    letter_size_in_x_heights: float = 2.0
    # A word stands in its line when a letter stands this many of its heights beside it, or
    # nearer: the spaces of a justified line stretch to a height and more.
    word_space: float = 1.5


def text_like(
    ink: np.ndarray,
    boxes: list[Box],
    strokes: np.ndarray,
    params: TextParams | None = None,
    beside: Sequence[Box] = (),
) -> np.ndarray:
    """Boolean mask over ``boxes``: candidates that read as type in their line.

    ``strokes`` are the page's letter-sized components (x, y, w, h); those inside a candidate
    are its own pieces and are left out of its neighbours. Instances ``beside`` them (found
    already) are read as neighbours too, and their strokes left out likewise; a candidate
    among them is never its own neighbour, as it does not stand beside itself.
    """
    params = params or TextParams()
    text = np.zeros(len(boxes), dtype=bool)
    if not boxes:
        return text
    candidates = np.array([*boxes, *beside], dtype=np.int64)
    own_pieces = overlapping(strokes, candidates).any(axis=1)
    nodes = np.concatenate([candidates, strokes[~own_pieces]])
    for index in range(len(boxes)):
        window = _line_window(nodes, index, params)
        if len(window) >= params.min_run:
            distinct = _distinct_shapes(ink, [tuple(nodes[i]) for i in window], params.likeness)
            text[index] = distinct >= max(params.min_run, params.distinct_share * len(window))
    return text


def set_in_lines(
    ink: np.ndarray, block: Box, strokes: np.ndarray, params: TextParams | None = None
) -> bool:
    """Whether most strokes overlapping ``block`` read as type in their own lines.

    Letters of two lines set so tight that descenders touch ascenders cluster as closely as the
    strokes of an engraved block; read among their neighbours in each line, they are letters,
    while the strokes of a block repeat one another's shape or have no line to stand in.
    """
    params = params or TextParams()
    inside = overlapping(strokes, np.array([block], dtype=np.int64))[:, 0]
    members: list[Box] = [(int(x), int(y), int(w), int(h)) for x, y, w, h in strokes[inside]]
    if len(members) < params.min_run:
        return False
    letters = text_like(ink, members, strokes[~inside], params)
    return bool(letters.mean() >= params.letter_share)


def stands_in_a_line(box: Box, strokes: np.ndarray, params: TextParams | None = None) -> bool:
    """Whether a letter-sized stroke stands beside ``box``, within its height and a word
    space of it, as the letters of a word do round a ligature or a word. Looser than the line
    reading's rule: an italic ligature from ascender to descender is twice as tall as the
    letters beside it. Strokes inside ``box`` are its own and are left out."""
    left, right = _letters_beside(box, strokes, params or TextParams())
    return left or right


def between_letters(box: Box, letters: np.ndarray, params: TextParams | None = None) -> bool:
    """Whether ``letters`` (letter-sized strokes that no instance holds) stand on both sides
    of ``box`` in its line, as ``stands_in_a_line`` reads a side: a word set inside a line of
    text. A sort in a band has its fellow sorts beside it, instances themselves."""
    left, right = _letters_beside(box, letters, params or TextParams())
    return left and right


def read_among_letters(
    box: Box, instances: np.ndarray, letters: np.ndarray, params: TextParams | None = None
) -> bool:
    """Whether ``box``, read along its line among the page's other ``instances`` and its
    ``letters`` (letter-sized strokes that no instance holds), has two letters or more on one
    side: a letter of a word cut as an instance, set beside its fellow letters (a double l,
    the stems of an m) and the rest of its word. A sort set inside a line, even twice, has a
    letter at most on each side; the sorts of a band have their fellows; and a worn sort's
    specks are too small to be read in its line."""
    params = params or TextParams()
    others = instances[~np.all(instances == np.array(box), axis=1)]
    nodes = np.concatenate([np.array([box], dtype=np.int64), others, letters]).astype(np.int64)
    return any(
        sum(index > len(others) for index in _read_along(nodes, 0, direction, params, [0])) >= 2
        for direction in (1, -1)
    )


def _letters_beside(box: Box, strokes: np.ndarray, params: TextParams) -> tuple[bool, bool]:
    """Whether a stroke stands on the left, and on the right, of ``box`` in its line."""
    x, y, w, h = box
    others = strokes[~overlapping(strokes, np.array([box], dtype=np.int64))[:, 0]]
    sx, sy, sw, sh = others.T
    slack = params.alignment * h
    # Dots and commas are too small to tell a line.
    in_line = (sy >= y - slack) & (sy + sh <= y + h + slack) & (sh >= 0.25 * h)
    touching = -0.1 * np.minimum(w, sw)
    sides = []
    for gap in (x - (sx + sw), sx - (x + w)):
        sides.append(bool((in_line & (gap >= touching) & (gap <= params.word_space * h)).any()))
    return sides[0], sides[1]


def _line_window(nodes: np.ndarray, start: int, params: TextParams) -> list[int]:
    """``start`` and up to ``reach`` nearest neighbours on each side along its line."""
    window = [start]
    for direction in (1, -1):
        window += _read_along(nodes, start, direction, params, window)
    return window


def _read_along(
    nodes: np.ndarray, start: int, direction: int, params: TextParams, read_before: list[int]
) -> list[int]:
    """Up to ``reach`` nodes read one after another from ``start`` (right for 1, left for -1),
    stopping short of any node read before (``start`` among them)."""
    read: list[int] = []
    current = start
    for _ in range(params.reach):
        following = _next_in_line(nodes, current, direction, params)
        if following is None or following in read_before or following in read:
            break
        read.append(following)
        current = following
    return read


def _next_in_line(
    nodes: np.ndarray, current: int, direction: int, params: TextParams
) -> int | None:
    """The nearest node beside ``current`` (right for 1, left for -1) in the same line."""
    x, y, w, h = nodes.T
    cx, cy, cw, ch = nodes[current]
    gap = x - (cx + cw) if direction > 0 else cx - (x + w)
    shared = np.minimum(y + h, cy + ch) - np.maximum(y, cy)
    taller = np.maximum(h, ch)
    shorter = np.minimum(h, ch)
    aligned = (np.abs(y - cy) <= params.alignment * taller) | (
        np.abs(y + h - cy - ch) <= params.alignment * taller
    )
    beside = (
        (gap >= -0.1 * np.minimum(w, cw))
        & (gap <= params.max_gap * taller)
        & (shared >= params.line_overlap * shorter)
        & (taller <= params.max_height_ratio * shorter)
        & aligned
    )
    beside[current] = False
    if not beside.any():
        return None
    return int(np.flatnonzero(beside)[np.argmin(gap[beside])])


def _distinct_shapes(ink: np.ndarray, boxes: list[Box], likeness: float) -> int:
    """How many different shapes the boxes hold, alike shapes (any orientation) counted once."""
    views = dihedral_views(np.stack([template(ink, box) for box in boxes]))
    return alike_groups(views, likeness)[0]
