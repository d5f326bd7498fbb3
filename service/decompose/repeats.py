"""Small vignettes found by their repetition: chains of alike components set side by side.

Printers' flowers are often cast on the same body as the text, so size cannot tell them from
letters. What does is how they are set: a band or a frame repeats one sort (or alternates two)
along a line, while adjacent letters of a text rarely repeat three times over.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from service.decompose.describe import alike_groups, dihedral_views, template
from service.decompose.segment import (
    Box,
    as_boxes,
    in_line,
    near_groups,
    overlapping,
    pairwise_gaps,
    trimmed,
    union_boxes,
)

#: The parts of a run of alike blocks, trimmed to their ink, span at least this share of the
#: broadest part's breadth (worn edges take a little).
EVEN_BREADTH = 0.8
#: A run alternating two sorts is cut between them at a blank at most this share of a
#: period from the period's middle.
BLANK_REACH = 0.15
#: Boxes in one row share at least this much of the shorter one's height (a sort's ink need
#: not fill its body: turned, it sits otherwise in it).
ROW_OVERLAP = 0.5
#: Paper between two sorts is at most this share of pixels half ink or darker (a speck, not
#: a letter).
BLANK_SHARE = 0.02
#: Cuts between touching blocks shift by at most this share of a period from those dividing
#: the run evenly, to meet the run's lowest ink where its blocks join (less than half: a
#: shift of half a period would cut a run alternating two sorts at the wrong blank)...
JOIN_REACH = 0.4
#: ...and an end of the run shorter than this share of a pitch is a sliver of something
#: else.
SLIVER = 0.5
#: An end of a run read in part shorter than this share of a period is a part of something
#: else (a frame's corner block, a broken sort).
PARTIAL_END = 0.8
#: A run read in part is cut where its profile is at most this share of its mean (blocks
#: meet by a blank or a hairline)...
JOIN_INK = 0.5
#: ...into as many parts as can be a period long, give or take this share of it.
PERIOD_FIT = 0.15
#: How much less alike than a run's periods the sorts that alternate in them need be.
ALTERNATE_SLACK = 0.05
#: A ring of strokes (a frame's sides) covers at most this share of what it encloses.
RING_INSIDE = 0.1
#: Two boxes are level when their centres lie within this share of the smaller one's side.
LEVEL_SHARE = 0.25
#: Impressions of one sort differ in breadth and height by at most this share...
SIZE_SLACK = 0.15
#: ...and a line of them steps by one pitch, give or take this share of it.
PITCH_SLACK = 0.1


@dataclass(frozen=True)
class RepeatParams:
    # Components smaller than this many x-heights are specks or punctuation...
    min_size_in_x_heights: float = 0.8
    # ...and those thinner than this are hairlines: the pieces of a broken rule repeat as
    # alike as sorts do.
    min_thickness_in_x_heights: float = 0.1
    # Neighbours within this fraction of their size can belong to one chain...
    gap_fraction: float = 0.6
    # ...and so can neighbours side by side in a row within this one, with blank paper
    # between them and none closer: a band spaced to the breadth of its largest block sets
    # its small sorts nearly their own breadth apart. Only in a row: letters of lines set
    # one under another stand as far apart, and their stems are alike.
    row_gap_fraction: float = 1.0
    # Neighbours at least this alike (correlation, any orientation) are the same sort.
    likeness: float = 0.92
    # Neighbours both this many x-heights broad or more, broader than any letter, need only
    # be ``worn_likeness`` alike: wear and uneven inking part two impressions of a large
    # block further than two of a small sort (worn tiles of one frame: 0.8-0.96).
    worn_from_in_x_heights: float = 1.5
    worn_likeness: float = 0.8
    # So do shapes about square whose ink holds this many pieces or more lying wholly inside
    # their box (the strokes of a worn block): a letter is one piece or two, a word is long.
    worn_from_pieces: int = 4
    # Sorts spaced in a row with blank paper between them and no close neighbour need only be
    # this alike: no word sets its letters so, and a worn small sort's impressions part
    # as far as a worn block's.
    spaced_likeness: float = 0.8
    # Boxes of one size set at one pitch, across or down, this many or more, need only be
    # ``even_likeness`` alike in the median of their neighbours: letters differ in breadth and
    # stand at uneven pitches, while the impressions of one small worn sort part further
    # than a sort's.
    min_even: int = 6
    even_likeness: float = 0.75
    # A chain needs this many alike members before its members count as vignettes.
    min_chain: int = 4
    # A close-set group of this many members or more that repeats at most ``max_designs``
    # shapes is an ornament, even when no two neighbours are alike.
    min_pattern: int = 6
    max_designs: int = 3
    # Small pieces closer than this many x-heights form one run (sorts set almost touching,
    # each cut as several strokes); word spaces are wider.
    run_gap_in_x_heights: float = 0.3
    # A run of touching blocks this many x-heights broad, or more, is no word: it may be cut
    # though it also holds a part of something else.
    partial_run_breadth_in_x_heights: float = 2.0
    # So is a run this many x-heights long: the longest words set solid are about eight.
    partial_run_length_in_x_heights: float = 12.0
    # Strokes closer than this many x-heights are one sort's (a worn flower's petals); the
    # letters of a word stand further apart, but for ligatures.
    stroke_cluster_gap_in_x_heights: float = 0.1


def chained_repeats(
    ink: np.ndarray,
    boxes: np.ndarray,
    x_height: float,
    params: RepeatParams | None = None,
    beside: np.ndarray | None = None,
) -> list[Box]:
    """The boxes among ``boxes`` set as vignettes: members of a chain of alike neighbours, or
    of a close-set group that repeats a few designs (a grid alternating two sorts, where no
    two neighbours are alike). Blocks found already (``beside``) take part in chains and
    groups, so that sorts set between them, as leaves between flowers in a grid, are read as
    one pattern with them; only ``boxes`` are returned."""
    params = params or RepeatParams()
    boxes = boxes.reshape(-1, 4)
    shorter, longer = np.sort(boxes[:, 2:], axis=1).T
    large_enough = longer >= params.min_size_in_x_heights * x_height
    thick_enough = shorter >= params.min_thickness_in_x_heights * x_height
    candidates = boxes[large_enough & thick_enough]
    found = np.zeros((0, 4), np.int64) if beside is None else beside.reshape(-1, 4)
    nodes = np.concatenate([candidates, found]).astype(np.int64)
    if len(candidates) == 0 or len(nodes) < params.min_chain:
        return []
    close = _neighbour_pairs(nodes, params.gap_fraction)
    crowded = np.isin(np.arange(len(nodes)), np.concatenate(close))
    spaced = _spaced_in_a_row(ink, nodes, params.row_gap_fraction, crowded)
    pairs = np.concatenate([np.stack(close), spaced], axis=1)
    is_spaced = np.arange(pairs.shape[1]) >= len(close[0])
    first, second = pairs
    if len(first) == 0:
        return []
    views = dihedral_views(np.stack([template(ink, box) for box in as_boxes(nodes)]))
    likeness = np.einsum("pvd,pd->pv", views[first], views[second, 0]).max(axis=1)
    broad = nodes[:, 2:].min(axis=1) >= params.worn_from_in_x_heights * x_height
    # Pieces are counted only where they can decide: close pairs alike as worn blocks, not
    # as sorts, one of them too small to be broad.
    undecided = ~is_spaced & (likeness >= params.worn_likeness) & (likeness < params.likeness)
    ask = np.unique(np.concatenate([first[undecided], second[undecided]]))
    ask = ask[~broad[ask]]
    broad[ask] = _of_many_pieces(ink, nodes[ask], params.worn_from_pieces)
    needed = np.where(broad[first] & broad[second], params.worn_likeness, params.likeness)
    alike = likeness >= np.where(is_spaced, params.spaced_likeness, needed)
    alike |= _evenly_set(nodes, first, second, likeness, params)
    chained = _in_groups_of(first[alike], second[alike], len(nodes), params.min_chain)
    # Patterns are read among close neighbours only: spaced that wide, a grid's rows would
    # join the lines of text beside them.
    patterned = _patterned(nodes, views, *close, params)
    return as_boxes(candidates[(chained | patterned)[: len(candidates)]])


def stroke_clusters(strokes: np.ndarray, x_height: float, params: RepeatParams) -> np.ndarray:
    """The boxes of the clusters of ``strokes`` (x, y, w, h) set almost touching."""
    if len(strokes) == 0:
        return strokes
    gap = max(1, int(params.stroke_cluster_gap_in_x_heights * x_height))
    return np.array(union_boxes(strokes, near_groups(strokes, gap)))


def _in_groups_of(first: np.ndarray, second: np.ndarray, count: int, least: int) -> np.ndarray:
    """Mask of the nodes whose group (connected by the pairs) has at least ``least`` members."""
    group = _groups(first, second, count)
    return np.bincount(group)[group] >= least


def _groups(first: np.ndarray, second: np.ndarray, count: int) -> np.ndarray:
    """Group label of each of ``count`` nodes, the pairs (first[i], second[i]) connecting them."""
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def _patterned(
    boxes: np.ndarray,
    views: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    params: RepeatParams,
) -> np.ndarray:
    """Mask of the candidates in close-set groups made of at most ``max_designs`` shapes, each
    set at least twice, whose members stand in rows or columns of three or more (a grid or a
    band, not the spokes of one flower), at least ``min_pattern`` of them. A close-set line of
    type holds many more different letters."""
    group = _groups(first, second, len(views))
    found = np.zeros(len(views), dtype=bool)
    for label in np.flatnonzero(np.bincount(group) >= params.min_pattern):
        members = np.flatnonzero(group == label)
        designs, design = alike_groups(views[members], params.likeness)
        if designs > params.max_designs or np.bincount(design).min() < 2:
            continue
        lined = members[_in_lines_of_three(boxes[members])]
        if len(lined) >= params.min_pattern:
            found[lined] = True
    return found


def _evenly_set(
    nodes: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    likeness: np.ndarray,
    params: RepeatParams,
) -> np.ndarray:
    """Mask of the pairs (first[i], second[i]) in a line of at least ``min_even`` boxes of
    one size, level across or down, set at one pitch, whose pairs are ``even_likeness`` alike
    in the median (a band of small worn sorts: some neighbours part further than others)."""
    centre = _centres(nodes)
    offset = np.abs(centre[first] - centre[second])
    tolerance = LEVEL_SHARE * np.minimum(nodes[first, 2:], nodes[second, 2:]).min(axis=1)
    one_size = _of_one_size(nodes[first], nodes[second])
    found = np.zeros(len(first), dtype=bool)
    for along in (0, 1):
        level = one_size & (offset[:, 1 - along] <= tolerance) & (offset[:, along] > 0)
        group = _groups(first[level], second[level], len(nodes))
        for label in np.flatnonzero(np.bincount(group) >= params.min_even):
            members = np.flatnonzero(group == label)
            inside = level & np.isin(first, members)
            even = _at_one_pitch(centre[members, along])
            if even and np.median(likeness[inside]) >= params.even_likeness:
                found |= inside
    return found


def _of_one_size(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether boxes a[i] and b[i] differ in breadth and height by at most ``SIZE_SLACK``
    (or two pixels): worn edges take a little of a sort's ink box."""
    slack = np.maximum(2, SIZE_SLACK * a[:, 2:])
    return (np.abs(a[:, 2:] - b[:, 2:]) <= slack).all(axis=1)


def _at_one_pitch(positions: np.ndarray) -> bool:
    """Whether the positions, in order, step by one pitch, give or take ``PITCH_SLACK``."""
    steps = np.diff(np.sort(positions))
    pitch = float(np.median(steps))
    return pitch > 0 and bool((np.abs(steps - pitch) <= PITCH_SLACK * pitch).all())


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2


def _in_lines_of_three(boxes: np.ndarray) -> np.ndarray:
    """Mask of the boxes whose centre is level, across or down, with two others' or more."""
    centre = _centres(boxes)
    tolerance = LEVEL_SHARE * boxes[:, 2:].min(axis=1)
    level = np.abs(centre[:, None, :] - centre[None, :, :]) <= tolerance[:, None, None]
    return (level.sum(axis=1) >= 3).any(axis=1)


def periodic_runs(
    ink: np.ndarray,
    mask: np.ndarray,
    strokes: np.ndarray,
    x_height: float,
    params: RepeatParams | None = None,
) -> list[Box]:
    """Blocks of rows of small sorts set almost touching, each sort cut as several
    ``strokes`` (``segment.small_strokes``).

    The pieces of such a row run together into one long group; the row's period cuts it back
    into its sorts, which must then look alike (a line of text is not periodic, and its
    letters differ).
    """
    params = params or RepeatParams()
    if len(strokes) < params.min_chain:
        return []
    gap = max(1, int(params.run_gap_in_x_heights * x_height))
    _, groups = connected_components(in_line(strokes, gap), directed=False)
    found: list[Box] = []
    runs = [
        run
        for group, box in enumerate(union_boxes(strokes, groups))
        for run in _straight_runs(strokes[groups == group], box, params.min_chain, gap)
    ]
    for x, y, w, h in runs:
        if max(w, h) < params.min_chain * min(w, h) or min(w, h) < 0.5 * x_height:
            continue
        parts = split_touching_on_page(ink, mask, (x, y, w, h), x_height, params)
        if len(parts) >= params.min_chain and _alike(ink, parts, params.likeness):
            found += _alternate_sorts(ink, mask, parts, w >= h, params.likeness) or parts
    return found


def _straight_runs(strokes: np.ndarray, box: Box, min_chain: int, gap: int) -> list[Box]:
    """The enclosing ``box`` of a group of ``strokes`` where it is long enough to be a run;
    else, as the strokes of a frame's four sides join into one ring, the sides of that ring:
    the rows at its top and bottom that strokes cover for most of its width, and the columns
    at its left and right, between those rows, covered for most of their height; the rows
    without the columns' breadth. Each stroke covers half the ``gap`` that groups strokes
    round it, so that the blanks between the strokes of one sort count as covered."""
    x, y, w, h = box
    if max(w, h) >= min_chain * min(w, h):
        return [box]
    covered = np.zeros((h, w), dtype=bool)
    reach = (gap + 1) // 2
    for sx, sy, sw, sh in strokes - [x, y, 0, 0]:
        covered[max(0, sy - reach) : sy + sh + reach, max(0, sx - reach) : sx + sw + reach] = True
    top, bottom = _covered_ends(covered.mean(axis=1))
    between = covered[top : h - bottom]
    left, right = _covered_ends(between.mean(axis=0)) if len(between) else (0, 0)
    inside = between[:, left : w - right]
    # A ring has four sides round an empty inside: not a word, a paragraph, or a frame
    # round its text (whose strokes the other passes read).
    if min(top, bottom, left, right) == 0 or not inside.size or inside.mean() > RING_INSIDE:
        return []
    # The corners, often blocks of their own, are left to the other passes.
    return [
        (x + left, y, w - left - right, top),
        (x + left, y + h - bottom, w - left - right, bottom),
        (x, y + top, left, h - top - bottom),
        (x + w - right, y + top, right, h - top - bottom),
    ]


def _covered_ends(coverage: np.ndarray) -> tuple[int, int]:
    """How far the bands at either end of ``coverage`` reach: a run of entries of one half
    or more, after fewer entries below it than the run is long (a skewed scan tilts a
    frame's side). Nothing where everything is covered: a block is no ring."""
    half = coverage >= 0.5
    if half.all() or not half.any():
        return 0, 0
    return _band_from_start(half), _band_from_start(half[::-1])


def _band_from_start(half: np.ndarray) -> int:
    """The end of the first run of ``half``, or 0 where more entries than it holds lead to it."""
    start = int(np.argmax(half))
    end = start + int(np.argmin(half[start:])) if not half[start:].all() else len(half)
    return end if start < end - start else 0


def _alternate_sorts(
    ink: np.ndarray, mask: np.ndarray, parts: list[Box], horizontal: bool, likeness: float
) -> list[Box] | None:
    """The sorts of a run that alternates a sort with its mirror image (or its turn), or
    None: the run's period holds two sorts, so its ``parts``, cut at the period, are pairs.

    Each part is cut in two at a blank near its middle. The blanks so cut must be about as
    wide as those between parts, as a band sets its sorts evenly; the halves must look alike
    in some orientation, a little less than whole parts need (they are smaller, and wear
    parts two small sorts more). A sort whose halves mirror each other has no blank between
    them, or not one as wide as the space between sorts, and is left whole.
    """
    cut = [_cut_at_blank(mask, part, horizontal) for part in parts]
    if None in cut:
        return None
    halves = [half for pair in cut if pair for half in pair[0]]
    within = np.median([pair[1] for pair in cut if pair])
    starts = [part[0] if horizontal else part[1] for part in parts]
    ends = [
        start + (part[2] if horizontal else part[3])
        for start, part in zip(starts, parts, strict=True)
    ]
    between = max(1.0, float(np.median(np.subtract(starts[1:], ends[:-1]))))
    if not 0.5 <= within / between <= 2.0:
        return None
    return halves if _alike(ink, halves, likeness - ALTERNATE_SLACK) else None


def _cut_at_blank(mask: np.ndarray, part: Box, horizontal: bool) -> tuple[list[Box], int] | None:
    """``part`` cut across the run at the blank (no ink from side to side) nearest its
    middle, each half trimmed, with the blank's width; None where there is no such blank."""
    x, y, w, h = part
    inked = np.asarray(mask[y : y + h, x : x + w].any(axis=0 if horizontal else 1))
    middle = len(inked) // 2
    reach = max(1, round(BLANK_REACH * len(inked)))
    blank = middle - reach + np.flatnonzero(~inked[middle - reach : middle + reach + 1])
    if not len(blank):
        return None
    at = int(blank[np.argmin(np.abs(blank - middle))])
    first, last = at, at
    while first > 0 and not inked[first - 1]:
        first -= 1
    while last + 1 < len(inked) and not inked[last + 1]:
        last += 1
    halves = _cut(mask, part, [0, first, last + 1, len(inked)], horizontal)
    return (halves, last - first + 1) if len(halves) == 2 else None


def _alike(ink: np.ndarray, boxes: list[Box], likeness: float) -> bool:
    """Whether each box looks like the next one, in some orientation."""
    views = dihedral_views(np.stack([template(ink, box) for box in boxes]))
    next_likeness = np.einsum("pvd,pd->pv", views[:-1], views[1:, 0]).max(axis=1)
    return bool(np.median(next_likeness) >= likeness)


def _of_many_pieces(ink: np.ndarray, boxes: np.ndarray, least: int) -> np.ndarray:
    """Mask of the boxes about square (at most 1.5 times longer one way) whose ink holds at
    least ``least`` pieces lying wholly inside them (not touching their edges, where a
    neighbour's strokes reach in)."""
    found = np.zeros(len(boxes), dtype=bool)
    for i, (x, y, w, h) in enumerate(boxes):
        if max(w, h) > 1.5 * min(w, h):
            continue
        labels, count = ndimage.label(ink[y : y + h, x : x + w] >= 0.5)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        found[i] = count - np.count_nonzero(edge) >= least
    return found


def _neighbour_pairs(boxes: np.ndarray, gap_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of boxes of similar size that lie close to each other."""
    size = boxes[:, 2:].max(axis=1)
    near = overlapping(boxes, boxes, (gap_fraction * size).astype(np.int64))
    ratio = size[:, None] / size[None, :]
    near &= (ratio > 0.8) & (ratio < 1.25)
    first, second = np.nonzero(np.triu(near | near.T, k=1))
    return first, second


def _spaced_in_a_row(
    ink: np.ndarray, boxes: np.ndarray, gap_fraction: float, crowded: np.ndarray
) -> np.ndarray:
    """(2, P) index pairs (i < j) of boxes of similar size side by side in a row (their
    heights sharing ``ROW_OVERLAP`` of the shorter's), within ``gap_fraction`` of their
    size, with blank paper between them (a letter between two alike ones makes them no band),
    neither of them ``crowded`` (with a close neighbour: the pieces of a worn sort set close
    stand apart from each other too, and chained so they would stand for the whole sorts)."""
    first, second = _neighbour_pairs(boxes, gap_fraction)
    gap_x, gap_y = pairwise_gaps(boxes)
    shorter = np.minimum(boxes[first, 3], boxes[second, 3])
    level = (-gap_y[first, second] >= ROW_OVERLAP * shorter) & (gap_x[first, second] > 0)
    level &= ~crowded[first] & ~crowded[second]
    first, second = first[level], second[level]
    blank = np.array(
        [_blank_between(ink, boxes[a], boxes[b]) for a, b in zip(first, second, strict=True)],
        dtype=bool,
    )
    return np.stack([first[blank], second[blank]])


def _blank_between(ink: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the paper between two boxes side by side, over the height they share, is at
    most ``BLANK_SHARE`` ink."""
    top, bottom = max(a[1], b[1]), min(a[1] + a[3], b[1] + b[3])
    left, right = min(a[0] + a[2], b[0] + b[2]), max(a[0], b[0])
    return bool(np.mean(ink[top:bottom, left:right] >= 0.5) <= BLANK_SHARE)


def split_touching_on_page(
    ink: np.ndarray, mask: np.ndarray, box: Box, x_height: float, params: RepeatParams
) -> list[Box]:
    """``split_touching`` on a page of the given x-height: runs read in part from
    ``partial_run_breadth_in_x_heights`` broad or ``partial_run_length_in_x_heights`` long."""
    return split_touching(
        ink,
        mask,
        box,
        partial_from=params.partial_run_breadth_in_x_heights * x_height,
        likeness=params.likeness,
        long_from=params.partial_run_length_in_x_heights * x_height,
    )


def split_touching(
    ink: np.ndarray,
    mask: np.ndarray,
    box: Box,
    min_peak: float = 0.5,
    partial_from: float | None = None,
    likeness: float = RepeatParams.likeness,
    long_from: float | None = None,
) -> list[Box]:
    """Split a run of touching blocks (a band set without spacing) into its blocks.

    A run of n identical blocks makes the ink profile along its long axis periodic; when the
    period divides the run's length about n times, the run is cut there and each part is
    trimmed to its own ink. A run that also holds a part of something else (the corner
    block of a frame, a broken sort, a flower set in a band of sorts) is cut where its
    blocks join (``_cuts_at_joins``) and kept when its parts are ``likeness`` alike; only
    runs at least ``partial_from`` broad, or ``long_from`` long, are read so (None: never),
    as a word of touching letters is a run of alike stems.
    A run cut at whole periods is kept whole unless its parts span the same breadth (a word's
    ascenders rise above its other stems). Anything that is not periodic is returned whole.
    """
    x, y, w, h = box
    horizontal = w >= h
    length, breadth = (w, h) if horizontal else (h, w)
    # Only a run clearly longer than it is broad can hold two blocks or more.
    if length < 1.5 * breadth:
        return [box]
    profile = ink[y : y + h, x : x + w].sum(axis=0 if horizontal else 1)
    # A block is rarely narrower than a sixth of its height: thin swashes set side by side
    # are about a fifth as wide as they are tall, and a shorter lag finds a block's strokes.
    period = _period(profile, min_lag=max(4, int(0.15 * breadth)), min_peak=min_peak)
    if period is None or round(length / period) < 2:
        return [box]
    count = round(length / period)
    if abs(length / period - count) <= 0.2:
        parts = _cut(mask, box, _at_the_joins(profile, count, period))
        return parts if _even(parts, horizontal) else [box]
    broad = partial_from is not None and breadth >= partial_from
    if not broad and (long_from is None or length < long_from):
        return [box]
    parts = _cut(mask, box, _cuts_at_joins(profile, period))
    return parts if len(parts) >= 3 and _alike(ink, parts, likeness) else [box]


def _even(parts: list[Box], horizontal: bool) -> bool:
    """Whether the parts, each trimmed to its ink, span about the same breadth across the run,
    as alike blocks do: the stems of a word cut at their period do not (ascenders, x-height)."""
    breadths = [part[3] if horizontal else part[2] for part in parts]
    return min(breadths) >= EVEN_BREADTH * max(breadths)


def _at_the_joins(profile: np.ndarray, count: int, period: float) -> list[int]:
    """Cuts of a run about ``count`` blocks long into its blocks: its ends, and inner cuts a
    pitch apart (within a pixel of the ``period``) across the whole run, shifted from those
    dividing it evenly by at most ``JOIN_REACH`` of a period, where the profile is lowest on
    average (of equally low ones, the least shifted). An end shorter than ``SLIVER`` of a
    pitch is left out.

    Cuts dividing the run evenly drift from the joins where an end block is worn, or the run
    holds a stray stroke; blocks cut off their joins are framed unlike each other, which
    parts one motif in two."""
    length = len(profile)
    even = length / count
    reach = int(JOIN_REACH * period)
    shifts = np.arange(-reach, reach + 1)
    # Per pitch, one row of cuts per shift, a pitch apart across the run (those outside it
    # left out: a run at least 1.8 periods long keeps one or more in every row).
    candidates = []
    for pitch in np.arange(period - 1.0, period + 1.05, 0.1):
        grid = np.round(((even + shifts) % pitch)[:, None] + pitch * np.arange(count + 1))
        inside = (grid > 0) & (grid < length)
        at_cuts = np.where(inside, profile[np.clip(grid, 0, length - 1).astype(int)], 0.0)
        lows = at_cuts.sum(axis=1) / inside.sum(axis=1)
        drift = np.abs(shifts) + abs(pitch - even)
        row = int(np.lexsort((drift, lows))[0])
        inner = grid[row][inside[row]].astype(int).tolist()
        candidates.append(((float(lows[row]), float(drift[row])), float(pitch), inner))
    _, pitch, inner = min(candidates, key=lambda candidate: candidate[0])
    return _without_short_ends([0, *inner, length], SLIVER * pitch)


def _cuts_at_joins(profile: np.ndarray, period: float) -> list[int]:
    """Cuts of a run read in part, among the columns where the profile is low
    (``JOIN_INK``): as many parts as can be are a period long (``PERIOD_FIT``), the others
    no shorter than half a period (``_most_whole_periods``). A block of another breadth in
    the run (a flower in a band of sorts) is one part, and the joins after it are found
    though they are out of phase with those before (one phase for the whole run cut through
    them); no cut goes through a block, which is left whole where its run has no low
    columns. An end shorter than ``PARTIAL_END`` of a period is left out."""
    low = profile <= JOIN_INK * profile.mean()
    nodes = np.unique(np.concatenate([[0], np.flatnonzero(low), [len(profile)]]))
    # Ties between as many whole periods go to cuts at lower ink, deeper in the low stretch
    # (the middle of the blank or hairline between two blocks): a fraction of one part.
    depth = np.append(ndimage.distance_transform_edt(low), 0.0) / period
    ink = np.append(profile, 0.0) / float(profile.max())
    cuts = _most_whole_periods(nodes, period, 0.01 * (ink - depth)[nodes])
    return _without_short_ends(cuts, PARTIAL_END * period)


def _without_short_ends(cuts: list[int], shortest: float) -> list[int]:
    """``cuts`` (the run's ends first and last) without a first or last part shorter than
    ``shortest``, so long as one part is left."""
    if len(cuts) > 2 and cuts[1] - cuts[0] < shortest:
        cuts = cuts[1:]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < shortest:
        cuts = cuts[:-1]
    return cuts


def _most_whole_periods(nodes: np.ndarray, period: float, cost: np.ndarray) -> list[int]:
    """The ``nodes`` (sorted, the run's ends first and last) to cut at so that the most parts
    are a period long, less the ``cost`` of the cuts; inner parts are at least half a period.
    Dynamic programming: the best score of a cut at each node, from those before it."""
    score = np.full(len(nodes), -np.inf)
    score[0] = 0.0
    before = np.zeros(len(nodes), dtype=np.int64)
    for j in range(1, len(nodes)):
        parts = nodes[j] - nodes[:j]
        allowed = parts >= 0.5 * period
        allowed[0] = True  # the run may begin, or end, with a sliver
        allowed |= j == len(nodes) - 1
        whole = np.abs(parts - period) <= PERIOD_FIT * period
        totals = np.where(allowed, score[:j] + whole, -np.inf)
        before[j] = int(np.argmax(totals))
        score[j] = totals[before[j]] - cost[j]
    chain = [len(nodes) - 1]
    while chain[-1] > 0:
        chain.append(int(before[chain[-1]]))
    return [int(nodes[i]) for i in reversed(chain)]


def _cut(mask: np.ndarray, box: Box, cuts: list[int], horizontal: bool | None = None) -> list[Box]:
    """The parts of ``box`` between consecutive ``cuts`` along its long axis (or across
    columns if ``horizontal``, rows if not), trimmed to their ink."""
    x, y, w, h = box
    across_columns = w >= h if horizontal is None else horizontal
    parts = []
    for start, stop in itertools.pairwise(cuts):
        part = (
            (x + start, y, stop - start, h) if across_columns else (x, y + start, w, stop - start)
        )
        parts.append(trimmed(mask, part))
    return [p for p in parts if p is not None]


def _period(profile: np.ndarray, min_lag: int, min_peak: float) -> float | None:
    """The first strong peak of the profile's autocorrelation, or None."""
    centred = profile - profile.mean()
    energy = float(centred @ centred)
    if energy <= 0 or len(profile) < 2 * min_lag:
        return None
    corr = np.correlate(centred, centred, mode="full")[len(centred) - 1 :] / energy
    lags = np.arange(min_lag, len(corr) // 2 + 1)
    if len(lags) == 0:
        return None
    for lag in lags[1:-1]:
        if corr[lag] >= min_peak and corr[lag] >= corr[lag - 1] and corr[lag] >= corr[lag + 1]:
            return float(lag)
    return None
