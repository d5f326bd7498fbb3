"""Completing motifs on a page: every placement of a block found there, by template matching.

Segmentation misses impressions that another impression of the same block on the same page
shows plainly: a flower touching its neighbour, a block broken by wear into pieces that no
rule joins. Once motifs are discovered, each one found on a page is searched for across that
page's ornaments, as the activation map of a convolutional motif model: the normalised
cross-correlation of the block's own ink (in its eight orientations, at the page's own scale)
with the page's ink. Peaks where no instance stands yet become new instances. Only the page's
own impressions serve as templates, so no scale has to be guessed, and only near its ornaments
is searched, so the body text is left alone. Bands and frames are followed block by block,
leaping past a tile too worn to match, and tiles set touching are told from pieces of a
larger block by the next tile beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import fft, ndimage

from service.decompose.describe import dihedral_views, template
from service.decompose.segment import Box, SegmentParams, binarize, group_ornaments
from service.decompose.wholes import repeat_in_line
from service.dihedral import ALL_ORIENTATIONS, orient

# Blocks in a run split at most: a longer run of touching blocks is periodic, and
# segmentation cuts it (``repeats.split_touching``).
MAX_RUN = 8
#: A box this many times a block's area, or more, may be filled by three or more of it: three
#: tiles set in an L span four; the pieces of a flower, overlapping at its heart, three.
COVERING_BLOCKS = 3.5
#: ...set in runs: two of one view a block's size apart, give or take this share of it.
RUN_PITCH = 0.25
# An instance inside a block, under this share of its area, is a speck of it. A larger one
# may be a half found alone, which ``pieces_within`` replaces only by a matched whole, or a
# whole block inside a box wrongly spanning three (a fifth of its area, on one seen page).
SPECK_SHARE = 0.1


@dataclass(frozen=True)
class MatchParams:
    # A placement must correlate at least this well with the block's ink.
    min_correlation: float = 0.75
    # A placement holds at least this share of the exemplar's ink: correlation ignores
    # contrast, and the faint show-through of the other side of the leaf would match.
    min_ink_share: float = 0.6
    # Ornaments are searched this many block sizes beyond their edges, then as many beyond
    # each block found, for at most ``max_rounds`` rounds. Where a line of three blocks ends,
    # the search also leaps one step along it, this many block sizes round the place of the
    # block after the next (see ``_leaps``).
    margin: float = 1.5
    leap_margin: float = 0.5
    max_rounds: int = 50
    # A placement overlapping an instance by more than this share of the smaller one's area is
    # that instance.
    max_overlap: float = 0.2
    # A placement swallowing instances this alike as printed, side by side or stacked, spans a
    # band of blocks: its exemplar was a run of blocks segmentation left whole.
    repeat_likeness: float = 0.8
    # A block is set apart by the blank of its body: a placement whose surroundings (a frame
    # of ``frame`` pixels, ``frame_gap`` pixels outside it) carry more ink than
    # ``max_frame_ink`` above the paper's own tone (its grain, on average) cuts through a
    # larger block, as a half-tile found inside a tiled pattern does. The gap leaves out the
    # pixel or two that a block whose ink runs to its edge spills past it.
    frame: int = 2
    frame_gap: int = 2
    max_frame_ink: float = 0.05
    # Blocks this many x-heights broad, or more, and at least ``working_side`` pixels, may be
    # set touching as tiles (see ``_set_apart``); the letters of a word touch too, and some
    # repeat as a tiling would, and a speck of a few pixels correlates with anything.
    min_tile_in_x_heights: float = 1.5
    # Blocks are matched with their short side brought down to about this many pixels: the
    # correlation peak of a whole block needs no finer grid, and it is far cheaper.
    working_side: int = 16
    # Coarse correlations this far below ``min_correlation`` are measured again finely.
    coarse_slack: float = 0.1
    # An instance is a run of touching blocks when its box holds a whole number of an
    # exemplar's blocks, give or take this share of a block's size (the spacing, if any, and
    # the ink trimmed off the run's ends), and each block's place correlates as well as a
    # placement must. Each place is searched this share of a block's size around its
    # even spacing.
    run_fit: float = 0.25
    run_slack: float = 0.1
    # Two blocks, one turned a quarter from the other, split an instance when they hold at
    # least this share of its ink.
    pair_ink_share: float = 0.9


def missed_placements(
    ink: np.ndarray,
    instances: list[Box],
    exemplars: list[Box],
    x_height: float,
    ornament_params: SegmentParams,
    params: MatchParams | None = None,
    paper: float | None = None,
) -> list[Box]:
    """Where the block of an exemplar (the best impression of a motif on the page) stands but
    no instance does, or only pieces of it do (see ``pieces_within``). ``x_height`` is that of
    the page's text; ``paper``, its blank paper's tone (default: ``paper_tone(ink)``)."""
    params = params or MatchParams()
    searched, _ = group_ornaments(instances, ornament_params)
    paper = paper_tone(ink) if paper is None else paper
    taken = list(instances)
    leaps = _leaps(instances, taken, ink.shape, params)
    views = [_distinct_views(_crop(ink, exemplar)) for exemplar in exemplars]
    tiles = [_may_tile(ink, exemplar, instances, x_height, params) for exemplar in exemplars]
    found: list[Box] = []
    # Each round searches beside what the last one found: a band whose middle segmentation
    # missed is followed block by block from its ends.
    for _ in range(params.max_rounds):
        peaks = [
            _Peak(score, box, views[index][view] if tiles[index] else None)
            for index, exemplar in enumerate(exemplars)
            for area in _areas(searched, leaps, exemplar, ink.shape, params)
            for score, box, view in _peaks(ink, exemplar, views[index], area, taken, params)
        ]
        new, taken = _accepted(ink, peaks, taken, paper, params)
        if not new:
            break
        found += new
        searched, leaps = new, _leaps(new, taken, ink.shape, params)
    # A block placed over pieces placed before it took their place (``_accepted``): a small
    # block's exemplar may match a like part of a larger block, found after it.
    still_taken = set(taken)
    return [box for box in found if box in still_taken]


class _Peak(NamedTuple):
    score: float
    box: Box
    tile: np.ndarray | None  # the view placed, where the block may be set touching as tiles


def _may_tile(
    ink: np.ndarray, exemplar: Box, instances: list[Box], x_height: float, params: MatchParams
) -> bool:
    """Whether ``exemplar``'s block may be set touching as tiles: it is ``min_tile_in_x_heights``
    broad or more, or it stands in a tiling (``_in_a_tiling``)."""
    least_tile = max(params.min_tile_in_x_heights * x_height, params.working_side)
    return min(exemplar[2:]) >= least_tile or _in_a_tiling(ink, exemplar, instances, params)


def _in_a_tiling(ink: np.ndarray, exemplar: Box, instances: list[Box], params: MatchParams) -> bool:
    """Whether ``exemplar`` touches an instance of its size that repeats it by translation
    (correlating ``min_correlation``): a band of tiles, whatever the page's x-height. Where a
    frame of tiles fills a page of little text, the tiles' height passes for the text's."""
    x, y, w, h = exemplar
    slack = _slack(max(exemplar[2:]), params)
    sides = set()
    for ox, oy, ow, oh in instances:
        step = round((ox - x) / w), round((oy - y) / h)
        if abs(ow - w) <= slack and abs(oh - h) <= slack and abs(step[0]) + abs(step[1]) == 1:
            sides.add(step)
    return _repeated_beside(ink, _crop(ink, exemplar), exemplar, sorted(sides), params)


def _repeated_beside(
    ink: np.ndarray, view: np.ndarray, box: Box, sides: list[tuple[int, int]], params: MatchParams
) -> bool:
    """Whether ``view`` stands again one block over from ``box`` on one of ``sides`` (unit
    steps), correlating ``min_correlation``: the next block of a tiling."""
    x, y, w, h = box
    slack = _slack(max(box[2:]), params)
    return any(
        _refined(ink, view, (x + dx * w, y + dy * h), slack)[0] >= params.min_correlation
        for dx, dy in sides
    )


def _slack(side: int, params: MatchParams) -> int:
    """How far (pixels) the place of a block whose long ``side`` is given is searched round
    where a run or tiling sets it."""
    return max(1, round(params.run_slack * side))


def _surroundings(ink: np.ndarray, box: Box, slack: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The ``ink`` within ``slack`` pixels of ``box`` (clipped to the page), with the
    window's top-left corner on the page."""
    x, y, w, h = box
    left, top = max(0, x - slack), max(0, y - slack)
    return ink[top : y + h + slack, left : x + w + slack], (left, top)


def _areas(
    searched: list[Box], leaps: list[Box], block: Box, shape: tuple[int, ...], params: MatchParams
) -> list[Box]:
    """Where to search for ``block``: round the ``searched`` regions, and closely round each
    of the ``leaps``."""
    beside = [_grown(region, block, shape, params.margin) for region in searched]
    return beside + [_grown(leap, block, shape, params.leap_margin) for leap in leaps]


def _leaps(
    boxes: list[Box], taken: list[Box], shape: tuple[int, ...], params: MatchParams
) -> list[Box]:
    """For each of ``boxes`` at least ``working_side`` pixels broad that ends a line of three
    blocks (``_steps``), with nothing taken one step beyond it, the place of the block after
    the next: a worn tile, too faint to match, would otherwise end the search of a band or a
    frame there."""
    leaps: list[Box] = []
    others = np.array(taken, dtype=np.int64).reshape(-1, 4)
    for box in boxes:
        x, y, w, h = box
        if min(w, h) < params.working_side:
            continue  # a hairline or a speck, not a block whose line could be followed
        for step_x, step_y in _steps(box, others):
            next_block = (x + step_x, y + step_y, w, h)
            leap = (x + 2 * step_x, y + 2 * step_y, w, h)
            within = 0 <= leap[0] and leap[0] + w <= shape[1] and 0 <= leap[1] <= shape[0] - h
            free = not _covered(next_block, taken, params.max_overlap)
            if within and free and not _covered(leap, taken, params.max_overlap):
                leaps.append(leap)
    return leaps


def _steps(box: Box, others: np.ndarray) -> list[tuple[int, int]]:
    """The steps along each line of three blocks of ``box``'s size that ``box`` ends: from a
    neighbour in ``others``, level with it along a row or a column and up to two sizes away,
    to ``box``, where a third block stands one more step back. (Two alike sorts side by side
    are often letters of a word; three evenly set rarely are.)"""
    x, y, w, h = box
    size = max(w, h)
    sizes = others[:, 2:].max(axis=1)
    centres = others[:, :2] + others[:, 2:] / 2
    step = np.array([x + w / 2, y + h / 2]) - centres  # from each neighbour to the box
    along = np.abs(step).max(axis=1)
    across = np.abs(step).min(axis=1)
    alike = (sizes > 0.8 * size) & (sizes < 1.25 * size)
    near = alike & (along >= 0.8 * size) & (along <= 2 * size) & (across <= 0.25 * size)
    steps = []
    for neighbour in np.flatnonzero(near):
        third = centres[neighbour] - step[neighbour]
        if (np.abs(centres[alike] - third).max(axis=1) <= 0.25 * size).any():
            steps.append((int(round(step[neighbour, 0])), int(round(step[neighbour, 1]))))
    return steps


def paper_tone(ink: np.ndarray) -> float:
    """The ink map's level on the page's blank paper: most of a page is blank."""
    return float(np.median(ink))


def split_runs(
    ink: np.ndarray,
    instances: list[Box],
    exemplars: list[Box],
    x_height: float,
    params: MatchParams | None = None,
    paper: float | None = None,
) -> dict[Box, list[Box]]:
    """The ``instances`` that are runs of an exemplar's block, each with its blocks' places
    (``x_height`` and ``paper``: as ``missed_placements`` reads them).

    Two tiles set touching make one component that segmentation cannot cut when the run is
    too short to be periodic; clustered, such pairs make a motif of their own. The page's
    own impression of the single block shows what the pair is made of: a run of it in one
    orientation (``_tiling``), two of it, one turned a quarter (``_turned_pair``), or, for a
    block that may be set touching as tiles, three or more in any orientations
    (``_covering``): a flower's petals, alike, are no tiles.
    """
    params = params or MatchParams()
    blocks = [_distinct_views(_crop(ink, exemplar)) for exemplar in exemplars]
    tiles = [
        views
        for views, exemplar in zip(blocks, exemplars, strict=True)
        if _may_tile(ink, exemplar, instances, x_height, params)
    ]
    paper = paper_tone(ink) if paper is None else paper
    runs: dict[Box, list[Box]] = {}
    for box in instances:
        tilings = [_tiling(ink, box, views, params) for views in blocks]
        tilings += [_turned_pair(ink, box, views, paper, params) for views in blocks]
        tilings += [_covering(ink, box, views, paper, params) for views in tiles]
        found = [tiling for tiling in tilings if tiling is not None]
        if found:
            runs[box] = max(found)[1]
    return runs


def _turned_pair(
    ink: np.ndarray, box: Box, views: list[np.ndarray], paper: float, params: MatchParams
) -> tuple[float, list[Box]] | None:
    """Two places of an oblong block, one turned a quarter from the other, that fill ``box``
    between them (each correlating at least ``min_correlation``, overlapping at most
    ``max_overlap``, together holding ``pair_ink_share`` of its ink above the ``paper``'s
    tone), with their least correlation, or None.

    Frames alternate a sort upright and on its side, touching; the halves of a symmetric
    block, mirrored or turned a half, keep one shape, and are never split so."""
    _, _, w, h = box
    window, corner = _surroundings(ink, box, _slack(max(w, h), params))
    # Two places of an r x c block overlapping by at most a fifth of it need a window at
    # least 0.75 (r + c) long one way: most instances are single blocks, and skip the search.
    oblong = [
        view
        for view in views
        if view.shape[0] != view.shape[1]
        and view.shape[0] <= window.shape[0]
        and view.shape[1] <= window.shape[1]
        and view.size >= 0.25 * w * h
        and max(window.shape) >= 0.75 * sum(view.shape)
    ]
    if not oblong:
        return None
    area = SearchArea(window)
    placed = [(view.shape, _best_place(area, view, corner)) for view in oblong]
    pairs = [
        (min(first[0], second[0]), [first[1], second[1]])
        for index, (shape, first) in enumerate(placed)
        for turned, second in placed[index + 1 :]
        if shape == turned[::-1] and min(first[0], second[0]) >= params.min_correlation
    ]
    apart = [
        (least, parts)
        for least, parts in pairs
        if not _covered(parts[0], parts[1:], params.max_overlap)
        and _ink_within(ink, box, parts, paper) >= params.pair_ink_share
    ]
    return max(apart) if apart else None


def _covering(
    ink: np.ndarray, box: Box, views: list[np.ndarray], paper: float, params: MatchParams
) -> tuple[float, list[Box]] | None:
    """Three or more places of a block set in runs, each run in one view of it at one
    block's pitch (``_set_in_runs``), that fill ``box`` between them (each correlating at
    least ``min_correlation``, overlapping at most ``max_overlap``, together holding
    ``pair_ink_share`` of the ink of the strokes reaching into them), with their least
    correlation, or None.

    Where a frame's row meets its column, touching tiles make one component that no run of
    one view explains; its box also holds the letters set in the L's hollow, strokes of
    their own. Runs, not any repeat: the quarters of a symmetric block are each in an
    orientation of their own, and a flower's petals stand across its heart from each other,
    though its heart may match a petal between two of them."""
    _, _, w, h = box
    if w * h < COVERING_BLOCKS * views[0].size:
        return None  # one or two blocks at most: spare it the search
    window, (left, top) = _surroundings(ink, box, _slack(max(views[0].shape), params))
    placed = _likest_places(window, views, params)
    parts = [(left + dx, top + dy, pw, ph) for _, _, (dx, dy, pw, ph) in placed]
    if len(parts) < 3 or not _set_in_runs(placed):
        return None
    if _ink_within(ink, box, parts, paper, joined_only=True) < params.pair_ink_share:
        return None
    return min(score for score, _, _ in placed), parts


def _set_in_runs(placed: list[tuple[float, int, Box]]) -> bool:
    """Whether each of the ``placed`` (correlation, view, box) has a fellow in its view a
    block's breadth beside it or a block's height below or above it, within a quarter of it:
    the parts are runs of tiles, each run in one orientation."""
    return all(
        any(
            view == other and _one_block_over(box, fellow)
            for j, (_, other, fellow) in enumerate(placed)
            if j != i
        )
        for i, (_, view, box) in enumerate(placed)
    )


def _one_block_over(box: Box, other: Box) -> bool:
    x, y, w, h = box
    dx, dy = abs(other[0] - x), abs(other[1] - y)
    beside = abs(dx - w) <= RUN_PITCH * w and dy <= RUN_PITCH * h
    below = abs(dy - h) <= RUN_PITCH * h and dx <= RUN_PITCH * w
    return beside or below


def _likest_places(
    window: np.ndarray, views: list[np.ndarray], params: MatchParams
) -> list[tuple[float, int, Box]]:
    """Places of the ``views`` in ``window``, each correlating at least ``min_correlation``
    and overlapping likelier ones at most ``max_overlap``: the correlation, the view's index
    and its box in the window."""
    height, width = window.shape
    fitting = [i for i, v in enumerate(views) if v.shape[0] <= height and v.shape[1] <= width]
    area = SearchArea(window)
    maps = {i: area.correlation(views[i]) for i in fitting}
    places: list[tuple[float, int, Box]] = []
    while maps:
        index = max(maps, key=lambda i: float(maps[i].max()))
        dy, dx = np.unravel_index(int(np.argmax(maps[index])), maps[index].shape)
        score = float(maps[index][dy, dx])
        if score < params.min_correlation:
            break
        rows, columns = views[index].shape
        places.append((score, index, (int(dx), int(dy), columns, rows)))
        for i, score_map in maps.items():
            _taken_out(score_map, views[i].shape, places[-1][2], params.max_overlap)
    return places


def _taken_out(score: np.ndarray, shape: tuple[int, ...], part: Box, max_overlap: float) -> None:
    """Set to -inf, in place, the places in ``score`` (of a view of ``shape``) whose box
    overlaps ``part`` (window coordinates) by more than ``max_overlap`` of the smaller area."""
    x, y, w, h = part
    rows, columns = shape
    across = np.minimum(np.arange(score.shape[1]) + columns, x + w) - np.maximum(
        np.arange(score.shape[1]), x
    )
    down = np.minimum(np.arange(score.shape[0]) + rows, y + h) - np.maximum(
        np.arange(score.shape[0]), y
    )
    shared = np.outer(np.maximum(down, 0), np.maximum(across, 0))
    score[shared > max_overlap * min(rows * columns, w * h)] = -np.inf


def _best_place(
    area: SearchArea, view: np.ndarray, corner: tuple[int, int], direct: bool = False
) -> tuple[float, Box]:
    """The best correlation of ``view`` within the search ``area`` (whose top-left is
    ``corner`` on the page), with its place on the page. ``direct``: see
    ``SearchArea.correlation``."""
    score = area.correlation(view, direct)
    dy, dx = np.unravel_index(int(np.argmax(score)), score.shape)
    box = (corner[0] + int(dx), corner[1] + int(dy), view.shape[1], view.shape[0])
    return float(score[dy, dx]), box


def _ink_within(
    ink: np.ndarray, box: Box, parts: list[Box], paper: float, joined_only: bool = False
) -> float:
    """The share of ``box``'s ink, above the ``paper``'s own tone, that lies within ``parts``.

    ``joined_only`` counts only the strokes that reach into a part: the box of a frame's
    corner, an L of touching tiles, also holds the letters set in the L's hollow."""
    x, y, w, h = box
    inside = np.zeros((h, w), dtype=bool)
    for px, py, pw, ph in parts:
        inside[max(0, py - y) : max(0, py - y + ph), max(0, px - x) : max(0, px - x + pw)] = True
    crop = np.clip(_crop(ink, box) - paper, 0.0, None)
    inside = inside[: crop.shape[0], : crop.shape[1]]
    if joined_only:
        strokes, _ = ndimage.label(binarize(crop))
        joined = np.setdiff1d(np.unique(strokes[inside]), [0])
        crop = np.where(np.isin(strokes, joined), crop, 0.0)
    total = float(crop.sum())
    return float(crop[inside].sum()) / total if total else 0.0


def _tiling(
    ink: np.ndarray, box: Box, views: list[np.ndarray], params: MatchParams
) -> tuple[float, list[Box]] | None:
    """The places of a block (its distinct ``views``) that tile ``box`` (two or more, each
    correlating at least ``min_correlation``) with their least correlation, or None.

    Every place holds the block in one orientation: a band repeats its block by translation,
    while the halves of a symmetric block are mirrored or turned copies of each other.
    """
    best: tuple[float, list[Box]] | None = None
    for view in views:
        corners = _grid(box, view.shape, params.run_fit)
        if not corners:
            continue
        slack = _slack(max(view.shape), params)
        placed = []
        for corner in corners:
            score, part = _refined(ink, view, corner, slack)
            if score < params.min_correlation:
                break  # most views fit nowhere: spare them the other places
            placed.append((score, part))
        else:
            least = min(score for score, _ in placed)
            if best is None or least > best[0]:
                best = (least, [part for _, part in placed])
    return best


def _crop(ink: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return ink[y : y + h, x : x + w].astype(np.float64)


def _grid(box: Box, shape: tuple[int, ...], fit: float) -> list[tuple[int, int]]:
    """Top-left corners of blocks of ``shape`` (rows, columns) set evenly to fill ``box``,
    two or more of them, or none where no whole number of blocks fills it."""
    x, y, w, h = box
    rows, columns = shape
    across, down = round(w / columns), round(h / rows)
    fits = abs(w - across * columns) <= fit * columns and abs(h - down * rows) <= fit * rows
    if not fits or not 2 <= across * down <= MAX_RUN:
        return []
    xs = np.linspace(x, x + max(0, w - columns), across).round().astype(int)
    ys = np.linspace(y, y + max(0, h - rows), down).round().astype(int)
    return [(int(cx), int(cy)) for cy in ys for cx in xs]


def _accepted(
    ink: np.ndarray,
    peaks: list[_Peak],
    taken: list[Box],
    paper: float,
    params: MatchParams,
) -> tuple[list[Box], list[Box]]:
    """The peaks kept, best first, and the boxes taken after them (pieces of a kept block are
    no longer in the way). ``paper`` is the ink map's level on blank paper."""
    new: list[Box] = []
    for peak in sorted(peaks, key=lambda peak: (peak.score, peak.box), reverse=True):
        box = peak.box
        if not _set_apart(ink, box, peak.tile, paper, params):
            continue
        pieces = [t for t in taken if _piece_of(t, box)]
        if _spans_a_band(ink, box, pieces, params.repeat_likeness):
            continue
        others = [t for t in taken if t not in pieces]
        if not _covered(box, others, params.max_overlap):
            taken = [*others, box]
            new.append(box)
    return new, taken


def _set_apart(
    ink: np.ndarray, box: Box, tile: np.ndarray | None, paper: float, params: MatchParams
) -> bool:
    """Whether the placement ``box`` is set apart as a block is: by the blank of its body, or,
    on a side where ink lies close, by the next block of a tiling: the placed view of the
    block (``tile``; None: no tiling is looked for) again, one block over. Tiles set touching
    leave no blank between them, and a tiling repeats its block by translation, while the
    halves of a symmetric block are mirrored or turned copies of each other. One such side
    is enough: the last tile of a band touches the corner block that closes it."""
    if _frame_ink(ink, box, params.frame, params.frame_gap) - paper <= params.max_frame_ink:
        return True
    if tile is None:
        return False
    return _repeated_beside(ink, tile, box, _inked_sides(ink, box, paper, params), params)


def _inked_sides(
    ink: np.ndarray, box: Box, paper: float, params: MatchParams
) -> list[tuple[int, int]]:
    """The sides of ``box`` (as unit steps) whose strip of its frame carries ink."""
    x, y, w, h = box
    gap, width = params.frame_gap, params.frame
    strips = {
        (-1, 0): (x - gap - width, y - gap, width, h + 2 * gap),
        (1, 0): (x + w + gap, y - gap, width, h + 2 * gap),
        (0, -1): (x - gap, y - gap - width, w + 2 * gap, width),
        (0, 1): (x - gap, y + h + gap, w + 2 * gap, width),
    }
    inked = []
    for side, strip in strips.items():
        pixels = _clipped(ink, strip)
        if pixels.size and float(pixels.mean()) - paper > params.max_frame_ink:
            inked.append(side)
    return inked


def _stands_on_a_block(box: Box, taken: list[Box]) -> bool:
    """Whether ``box`` lies mostly on a taken box too large to be one of its pieces: the
    impressions already found, which every search finds again."""
    blocks = [t for t in taken if t[2] * t[3] >= 0.5 * box[2] * box[3]]
    return bool(blocks) and _covered(box, blocks, 0.5)


def _spans_a_band(ink: np.ndarray, placement: Box, pieces: list[Box], likeness: float) -> bool:
    """Whether two of the ``pieces`` the ``placement`` would replace, blocks of a band
    (spanning half its depth or more), repeat as printed in a line. Specks left by wear
    repeat too, but are far smaller than the block they lie in."""
    _, _, width, height = placement
    pieces = [piece for piece in pieces if piece[2] >= width / 2 or piece[3] >= height / 2]
    if len(pieces) < 2:
        return False
    printed = dihedral_views(np.stack([template(ink, box) for box in pieces]))[:, 0]
    return repeat_in_line(np.array(pieces), printed, tuple(range(len(pieces))), likeness)


def pieces_within(blocks: list[Box], instances: list[Box], share: float = 0.5) -> list[Box]:
    """The ``instances`` that are pieces of one of ``blocks``: well inside it, under ``share``
    of its area (a petal found alone where matching found the whole flower). Under
    ``SPECK_SHARE`` they are specks: type is set side by side, so no sort stands inside
    another's block, and a speck matched or segmented there is a fleck of that block's ink."""
    return [box for box in instances if any(_piece_of(box, block, share) for block in blocks)]


def _grown(region: Box, block: Box, shape: tuple[int, ...], margin: float) -> Box:
    """``region`` grown by ``margin`` block sizes, clipped to the page."""
    pad = int(margin * max(block[2:]))
    x0, y0 = max(0, region[0] - pad), max(0, region[1] - pad)
    x1 = min(shape[1], region[0] + region[2] + pad)
    y1 = min(shape[0], region[1] + region[3] + pad)
    return (x0, y0, x1 - x0, y1 - y0)


def _peaks(
    ink: np.ndarray,
    exemplar: Box,
    views: list[np.ndarray],
    region: Box,
    taken: list[Box],
    params: MatchParams,
) -> list[tuple[float, Box, int]]:
    """Local maxima of the correlation of the exemplar's ``views`` with ``region``, as boxes
    with the index of their view, less those where a ``taken`` block already stands."""
    step = max(1, min(exemplar[2:]) // params.working_side)
    rx, ry, rw, rh = region
    area = SearchArea(_shrunk(ink[ry : ry + rh, rx : rx + rw], step))
    peaks = []
    for index, view in enumerate(views):
        coarse = _shrunk(view, step)
        vh, vw = coarse.shape
        if vh > area.pixels.shape[0] or vw > area.pixels.shape[1]:
            continue
        score = area.correlation(coarse)
        strong = area.window_sums(vh, vw) >= params.min_ink_share * float(coarse.sum())
        # The coarse grid can straddle a block by half a cell, which costs a worn block the
        # little correlation it has: every peak, near misses too, is measured again at full
        # resolution, where it also gets its exact corner.
        hits = strong & (score >= params.min_correlation - params.coarse_slack)
        if not hits.any():  # most searches find nothing: spare them the maximum filter
            continue
        hits &= score == ndimage.maximum_filter(score, size=(max(1, vh // 2), max(1, vw // 2)))
        for py, px in zip(*np.nonzero(hits), strict=True):
            corner = (int(rx + px * step), int(ry + py * step))
            if _stands_on_a_block((*corner, vw * step, vh * step), taken):
                continue
            best, box = _refined(ink, view, corner, step)
            if best >= params.min_correlation:
                peaks.append((best, box, index))
    return peaks


def _refined(
    ink: np.ndarray, view: np.ndarray, corner: tuple[int, int], step: int
) -> tuple[float, Box]:
    """The best full-resolution placement of ``view`` within ``step`` pixels of ``corner``,
    with its correlation. Boxes keep the exemplar's exact size, turned with the view."""
    vh, vw = view.shape
    window, origin = _surroundings(ink, (corner[0], corner[1], vw, vh), step)
    if window.shape[0] < vh or window.shape[1] < vw:
        return 0.0, (corner[0], corner[1], vw, vh)
    return _best_place(SearchArea(window), view, origin, direct=True)


def _shrunk(pixels: np.ndarray, step: int) -> np.ndarray:
    """``pixels`` averaged over step x step cells (edges that do not fill a cell dropped)."""
    pixels = pixels.astype(np.float64)
    if step == 1:
        return pixels
    h, w = (pixels.shape[0] // step) * step, (pixels.shape[1] // step) * step
    return pixels[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))


def _distinct_views(block: np.ndarray) -> list[np.ndarray]:
    """The block's eight orientations, those identical to an earlier one (symmetries) left out."""
    views: list[np.ndarray] = []
    for orientation in ALL_ORIENTATIONS:
        view = orient(block, orientation)
        if not any(v.shape == view.shape and np.abs(v - view).mean() < 0.02 for v in views):
            views.append(view)
    return views


class SearchArea:
    """Pixels where templates are searched (normalised cross-correlation at every place one
    fits), with the integral images and spectra that every view searched in them shares."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = np.asarray(pixels, dtype=np.float64)
        self._integral = _integral(pixels)
        self._integral_of_squares = _integral(pixels * pixels)
        # The area's spectrum per padded size: views of one shape (a block and its half
        # turn, mirrored or not) share it.
        self._spectra: dict[tuple[int, int], np.ndarray] = {}

    def window_sums(self, th: int, tw: int) -> np.ndarray:
        return _window_sums(self._integral, th, tw)

    def correlation(self, template: np.ndarray, direct: bool = False) -> np.ndarray:
        """Normalised correlation of ``template`` at every position where it fits (top-left
        corners), in [-1, 1]; flat windows score 0. ``direct`` sums products in place of a
        Fourier transform, cheaper when the template fits in only a few positions."""
        template = np.asarray(template, dtype=np.float64)
        th, tw = template.shape
        sums = self.window_sums(th, tw)
        squares = _window_sums(self._integral_of_squares, th, tw)
        return _normalised(self, template, sums, squares, direct)

    def spectrum(self, shape: tuple[int, int]) -> np.ndarray:
        if shape not in self._spectra:
            self._spectra[shape] = fft.rfft2(self.pixels, shape)
        return self._spectra[shape]


def _normalised(
    area: SearchArea,
    template: np.ndarray,
    sums: np.ndarray,
    squares: np.ndarray,
    direct: bool,
) -> np.ndarray:
    centred = template - template.mean()
    norm = float(np.sqrt((centred**2).sum()))
    if norm == 0:
        return np.zeros(sums.shape, np.float32)
    if direct:
        windows = np.lib.stride_tricks.sliding_window_view(area.pixels, template.shape)
        numerator = np.einsum("abij,ij->ab", windows, centred)
    else:
        numerator = _correlate_valid(area, centred)
    variance = np.maximum(squares - sums * sums / template.size, 0)
    denominator = np.sqrt(variance) * norm
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(denominator > 1e-6, numerator / denominator, 0.0)
    return score.astype(np.float32)


def _correlate_valid(area: SearchArea, template: np.ndarray) -> np.ndarray:
    """Sum of the area's pixels x template at every position where the template fits, by FFT.

    (scipy.fft rather than scipy.signal, whose import fails in a process that blocks torch,
    as the service must run without it.)
    """
    th, tw = template.shape
    height, width = area.pixels.shape
    shape = (
        fft.next_fast_len(height + th - 1, real=True),
        fft.next_fast_len(width + tw - 1, real=True),
    )
    spectrum = area.spectrum(shape) * fft.rfft2(template[::-1, ::-1], shape)
    full = fft.irfft2(spectrum, shape)
    return full[th - 1 : height, tw - 1 : width]


def _integral(image: np.ndarray) -> np.ndarray:
    return np.pad(image, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)


def _window_sums(integral: np.ndarray, th: int, tw: int) -> np.ndarray:
    """Sum over every th x tw window (valid positions) of the image behind ``integral``."""
    return integral[th:, tw:] - integral[:-th, tw:] - integral[th:, :-tw] + integral[:-th, :-tw]


def _frame_ink(ink: np.ndarray, box: Box, width: int, gap: int) -> float:
    """Mean ink in the frame ``width`` pixels wide, ``gap`` pixels outside ``box`` (within the
    page)."""
    x, y, w, h = box
    inner = _clipped(ink, (x - gap, y - gap, w + 2 * gap, h + 2 * gap))
    outer = _clipped(
        ink, (x - gap - width, y - gap - width, w + 2 * (gap + width), h + 2 * (gap + width))
    )
    ring_area = outer.size - inner.size
    return float(outer.sum() - inner.sum()) / ring_area if ring_area > 0 else 0.0


def _clipped(ink: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return ink[max(0, y) : min(ink.shape[0], y + h), max(0, x) : min(ink.shape[1], x + w)]


def _piece_of(box: Box, block: Box, share: float = 0.5) -> bool:
    """Whether ``box`` lies within ``block`` (give or take a pixel), under ``share`` of its
    area."""
    x, y, w, h = block
    bx, by, bw, bh = box
    within = bx >= x - 1 and by >= y - 1 and bx + bw <= x + w + 1 and by + bh <= y + h + 1
    return within and bw * bh < share * w * h


def _covered(box: Box, taken: list[Box], max_overlap: float) -> bool:
    """Whether ``box`` overlaps any taken box by more than ``max_overlap`` of the smaller area."""
    others = np.array(taken, dtype=np.int64).reshape(-1, 4)
    x, y, w, h = box
    ix = np.minimum(x + w, others[:, 0] + others[:, 2]) - np.maximum(x, others[:, 0])
    iy = np.minimum(y + h, others[:, 1] + others[:, 3]) - np.maximum(y, others[:, 1])
    shared = np.maximum(ix, 0) * np.maximum(iy, 0)
    smaller = np.minimum(w * h, others[:, 2] * others[:, 3])
    return bool((shared > max_overlap * smaller).any())
