"""Page → ink mask → candidate vignette instances and the ornaments they form.

Why these steps: printed ornaments are ink on paper whose tone varies across a scan, so ink is
measured against a local background estimate; text and ornaments are told apart by size,
relative to the page's own text height, so the rule holds at any scan resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.sparse.csgraph import connected_components

Box = tuple[int, int, int, int]

#: Letters of one height seen on one baseline, each at most ``WORD_SPACE`` of that height
#: from the next, that make a line of text: the a, c, e, m, n, o... of a line of words.
LINE_LETTERS = 5
WORD_SPACE = 1.5
#: An x-height under this share of the page's height is smaller than books set their type
#: (a folio's notes: 1/250 or so); components that small are letters only if seen in a line.
SMALLEST_TYPE = 1 / 250


@dataclass(frozen=True)
class SegmentParams:
    # A component counts as ornament when taller or wider than this many text x-heights.
    min_size_in_x_heights: float = 2.0
    # Large components closer than this fraction of their size are one block (worn strokes).
    # Kept small: blocks set close in two directions would bridge; pieces of one block that
    # lie further apart are joined after clustering (``constellations``).
    merge_gap_fraction: float = 0.02
    # Small pieces (dots, rays, stems) this close, as a fraction of the host's size, join it.
    # Wider, and the small flowers set between large blocks are swallowed by them.
    attach_gap_fraction: float = 0.08
    # Rules, page edges and shadows: longer than this many times their width, or larger than
    # this fraction of the page, they are not one block.
    max_elongation: float = 6.0
    max_page_fraction: float = 0.4
    # An elongated component thinner than this many x-heights is a rule, not a row of blocks.
    rule_width_in_x_heights: float = 0.5
    # Blocks cut as many small strokes: strokes this close (in x-heights) are one cluster,
    # kept as a block when both its sides reach this many x-heights and its strokes do not
    # stand in one line (a word's letters do, a flower's petals do not).
    stroke_gap_in_x_heights: float = 0.2
    min_stroke_block_in_x_heights: float = 1.4
    # Narrower clusters, down to this many x-heights, are blocks only where they repeat.
    min_repeated_stroke_block_in_x_heights: float = 0.8
    # An x-height told by fewer letters than this may be wrong: a page with little text,
    # whose alike ornament pieces outnumber its letters (21-24 on such pages, 90 or more on
    # pages of text), is read again at the fallback x-height where it finds nothing.
    min_letters: int = 40
    # Instances closer than this many median instance sizes belong to one ornament.
    ornament_gap: float = 0.6


def as_boxes(rows: np.ndarray) -> list[Box]:
    """Plain integer tuples from an (N, 4) array of boxes."""
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in rows]


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Darkness relative to the local paper tone, in [0, 1] (1 = full ink)."""
    page = gray.astype(np.float32)
    # A wide maximum filter sees through strokes to the paper around them.
    # It is computed on a subsampled page and scaled back up: paper tone varies slowly.
    step = max(1, min(page.shape) // 200)
    small = page[::step, ::step]
    paper_small = ndimage.uniform_filter(ndimage.maximum_filter(small, size=15), size=15)
    paper = np.asarray(
        Image.fromarray(paper_small, mode="F").resize(page.shape[::-1], Image.Resampling.BILINEAR)
    )
    darkness = (paper - page) / np.maximum(paper, 1.0)
    return np.clip(darkness, 0.0, 1.0)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold on values in [0, 1]."""
    # A bincount of the bin indices: what np.histogram does for values in [0, 1], faster.
    bins = np.minimum((np.clip(values, 0.0, 1.0) * 256).astype(np.int64), 255)
    hist = np.bincount(bins.ravel(), minlength=256).astype(np.float64)
    edges = np.linspace(0.0, 1.0, 257)
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    centres = (edges[:-1] + edges[1:]) / 2
    mean_low = np.cumsum(hist * centres) / np.maximum(weight_low, 1)
    mean_high = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


def binarize(ink: np.ndarray) -> np.ndarray:
    """Ink mask; the threshold never drops below a floor so that blank pages stay blank."""
    return ink > max(otsu_threshold(ink), 0.25)


def component_boxes(mask: np.ndarray) -> np.ndarray:
    """Boxes (x, y, w, h) of the 8-connected components of ``mask``."""
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    slices = ndimage.find_objects(labels)
    boxes = [
        (s[1].start, s[0].start, s[1].stop - s[1].start, s[0].stop - s[0].start)
        for s in slices
        if s is not None
    ]
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def text_x_height(boxes: np.ndarray, page_height: int) -> float:
    """The x-height of the page's text, from the heights of letter-like components.

    Letters of one height differ in width (i, n, m), while a repeated vignette does not, so a
    height whose components all have the same width is ornament, not text. Among letter-like
    heights, the one with the most ink (count times height) wins: the specks and pieces of a
    finely cut ornament can outnumber the letters, but they are much smaller. A page with too
    little text falls back to a typical proportion of small-format book pages.
    """
    heights = boxes[:, 3]
    if not (heights >= 3).any():
        return fallback_x_height(page_height)
    counts = np.convolve(np.bincount(heights[heights >= 3]), np.ones(3), mode="same")
    letter_like = [
        height
        for height in np.flatnonzero(counts >= 15)
        if _letter_like_height(
            boxes[np.abs(heights - height) <= max(1, height // 10)], int(height), page_height
        )
    ]
    if not letter_like:
        return fallback_x_height(page_height)
    return float(max(letter_like, key=lambda height: counts[height] * height))


def fallback_x_height(page_height: int) -> float:
    """The x-height of a page with too little text to tell it: a typical proportion of
    small-format book pages."""
    return page_height / 100


def misread_x_height(
    small: np.ndarray, x_height: float, page_height: int, params: SegmentParams
) -> bool:
    """Whether ``x_height`` may be that of a page's repeated ornament rather than its text:
    told by few components (``small``), on a page with little text, where the pieces of
    alike tiles pass for letters; and larger than the fallback."""
    letters = np.abs(small[:, 3] - x_height) <= max(1, x_height // 10)
    return int(letters.sum()) < params.min_letters and fallback_x_height(page_height) < x_height


def _letter_like_height(boxes: np.ndarray, height: int, page_height: int) -> bool:
    """Whether ``boxes``, components about ``height`` tall, may be the letters of the page's
    text. Their widths vary (i, n, m); and, if they are smaller than type is set
    (``SMALLEST_TYPE`` of the page), they stand in a line: the specks of a worn block, many
    and of all widths, lie scattered."""
    if not _widths_vary(boxes[:, 2]):
        return False
    return height >= SMALLEST_TYPE * page_height or _set_in_a_line(boxes, height)


def _widths_vary(widths: np.ndarray) -> bool:
    return len(widths) >= 15 and widths.std() / max(widths.mean(), 1) >= 0.18


def _set_in_a_line(boxes: np.ndarray, height: int) -> bool:
    """Whether ``LINE_LETTERS`` of ``boxes`` (components about ``height`` tall) or more sit on
    one baseline, each at most a wide word space (``WORD_SPACE`` heights) from the next."""
    bottoms = boxes[:, 1] + boxes[:, 3]
    for bottom in np.unique(bottoms):
        on_it = boxes[np.abs(bottoms - bottom) <= max(1, height // 10)]
        on_it = on_it[np.argsort(on_it[:, 0])]
        gaps = on_it[1:, 0] - (on_it[:-1, 0] + on_it[:-1, 2])
        breaks = np.flatnonzero(gaps > WORD_SPACE * height)
        runs = np.diff(np.concatenate([[-1], breaks, [len(on_it) - 1]]))
        if runs.max() >= LINE_LETTERS:
            return True
    return False


def overlapping(a: np.ndarray, b: np.ndarray, gap: np.ndarray | int = 0) -> np.ndarray:
    """(len(a), len(b)) mask of boxes of ``a`` that overlap boxes of ``b`` grown by ``gap``."""
    bx0, by0 = b[:, 0] - gap, b[:, 1] - gap
    bx1, by1 = b[:, 0] + b[:, 2] + gap, b[:, 1] + b[:, 3] + gap
    return (
        (a[:, 0, None] < bx1[None, :])
        & (bx0[None, :] < (a[:, 0] + a[:, 2])[:, None])
        & (a[:, 1, None] < by1[None, :])
        & (by0[None, :] < (a[:, 1] + a[:, 3])[:, None])
    )


def lying_within(boxes: np.ndarray, box: Box, share: float) -> np.ndarray:
    """Mask of the (N, 4) ``boxes`` that have at least ``share`` of their area inside ``box``."""
    x, y, w, h = box
    shared_w = np.minimum(boxes[:, 0] + boxes[:, 2], x + w) - np.maximum(boxes[:, 0], x)
    shared_h = np.minimum(boxes[:, 1] + boxes[:, 3], y + h) - np.maximum(boxes[:, 1], y)
    shared = np.maximum(shared_w, 0) * np.maximum(shared_h, 0)
    return np.asarray(shared >= share * boxes[:, 2] * boxes[:, 3])


def pairwise_gaps(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, N) horizontal and vertical gaps between boxes; negative where their spans overlap
    (then minus the length they share)."""
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    gap_x = np.maximum(x0[:, None], x0[None]) - np.minimum(x1[:, None], x1[None])
    gap_y = np.maximum(y0[:, None], y0[None]) - np.minimum(y1[:, None], y1[None])
    return gap_x, gap_y


def relative_gaps(boxes: np.ndarray) -> np.ndarray:
    """(N, N) gaps between boxes as a fraction of the smaller one's long side; 0 where they
    touch or overlap."""
    gap_x, gap_y = pairwise_gaps(boxes.astype(np.float64))
    size = boxes[:, 2:].max(axis=1).astype(np.float64)
    return np.maximum(np.maximum(gap_x, gap_y), 0) / np.minimum(size[:, None], size[None])


def in_line(boxes: np.ndarray, gap: np.ndarray | int) -> np.ndarray:
    """(N, N) whether two boxes stand at most ``gap`` apart (pixels, or per pair) side by
    side, sharing half the shorter one's height, or one above the other, sharing half the
    narrower one's width: the neighbours along a row or a column."""
    gap_x, gap_y = pairwise_gaps(boxes)
    span_x, span_y = -gap_x, -gap_y  # the length two boxes share along each axis
    half_w = 0.5 * np.minimum(boxes[:, 2][:, None], boxes[:, 2][None])
    half_h = 0.5 * np.minimum(boxes[:, 3][:, None], boxes[:, 3][None])
    side_by_side = (span_x >= -gap) & (span_y >= half_h)
    stacked = (span_y >= -gap) & (span_x >= half_w)
    return side_by_side | stacked


def near_groups(boxes: np.ndarray, gap: np.ndarray | int) -> np.ndarray:
    """Group index per box: boxes overlapping once grown by ``gap`` share a group (transitively)."""
    near = overlapping(boxes, boxes, gap)
    return connected_components(near | near.T, directed=False)[1]


def union_boxes(boxes: np.ndarray, groups: np.ndarray) -> list[Box]:
    """The enclosing box of each group, in group order."""
    unions = []
    for g in range(int(groups.max()) + 1):
        members = boxes[groups == g]
        left, top = members[:, 0].min(), members[:, 1].min()
        right = (members[:, 0] + members[:, 2]).max()
        bottom = (members[:, 1] + members[:, 3]).max()
        unions.append((int(left), int(top), int(right - left), int(bottom - top)))
    return unions


def enclosing_box(boxes: np.ndarray) -> Box:
    """The box enclosing all of (N, 4) ``boxes``."""
    return union_boxes(boxes, np.zeros(len(boxes), dtype=np.int64))[0]


def trimmed(mask: np.ndarray, box: Box) -> Box | None:
    """``box`` shrunk to the ``mask``'s ink inside it, or None where it holds none."""
    x, y, w, h = box
    rows, cols = np.nonzero(mask[y : y + h, x : x + w])
    if len(rows) == 0:
        return None
    return (x + int(cols.min()), y + int(rows.min()), int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1)


def split_by_size(
    mask: np.ndarray, params: SegmentParams, x_height: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Components too large to be text, the others, and the text x-height they were told by
    (read from the components unless given)."""
    boxes = component_boxes(mask)
    size = boxes[:, 2:].max(axis=1)
    if x_height is None:
        x_height = text_x_height(boxes, mask.shape[0])
    is_large = (size >= params.min_size_in_x_heights * x_height) & ~_letter_like(boxes, x_height)
    # Runs of touching blocks stay (they are split later); rules and stains do not.
    is_large &= _small_enough(boxes, mask.shape, params) & ~_rule_like(boxes, x_height, params)
    return boxes[is_large], boxes[~is_large], x_height


def large_instances(
    large: np.ndarray, small: np.ndarray, mask: np.ndarray, params: SegmentParams
) -> list[Box]:
    """Boxes seeded by large components, with the small pieces that sit on them.

    A box may still be a run of touching blocks: split it (``split_touching``), then keep what
    is ``block_shaped``. ``mask`` is the page's ink, of which the components were read.
    """
    if len(large) == 0:
        return []
    size = large[:, 2:].max(axis=1)
    # Large components this close are one block broken by wear or drawn in several strokes.
    gap = np.maximum(1, params.merge_gap_fraction * size).astype(np.int64)
    groups = _regroup_oversized(large, near_groups(large, gap), mask.shape, params)
    # Small pieces (dots, rays, stems) join the block they sit on; text is further away. Only
    # pieces smaller than the block in their longer side: a scan's dark page edge, whose box
    # spans the page, would otherwise swallow every block. A piece beside the block, their
    # boxes apart, must also hold less ink than it: a frame's corner block, square and just
    # under the large size, is no piece of the narrow sort beside it, while a heart under its
    # broad leaves, within their span, is one block with them.
    attach = np.maximum(1, params.attach_gap_fraction * size).astype(np.int64)
    attached = overlapping(small, large, attach)
    attached &= small[:, 2:].max(axis=1)[:, None] <= size[None, :]
    beside = attached & ~overlapping(small, large)
    rows = beside.any(axis=1)
    if rows.any():
        inkier = _ink_within(mask, small[rows])[:, None] >= _ink_within(mask, large)[None, :]
        attached[rows] &= ~(beside[rows] & inkier)
    has_host = attached.any(axis=1)
    host_group = groups[attached[has_host].argmax(axis=1)]
    merged = np.array(
        union_boxes(np.concatenate([large, small[has_host]]), np.concatenate([groups, host_group]))
    )
    return as_boxes(merged)


def _ink_within(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """How many ink pixels of ``mask`` each box (x, y, w, h) holds."""
    return np.array([mask[y : y + h, x : x + w].sum() for x, y, w, h in boxes], dtype=np.int64)


def small_strokes(small: np.ndarray, x_height: float, params: SegmentParams) -> np.ndarray:
    """The small components no larger than a block's seed: letters, dots and strokes. (The
    rest of ``small`` are rules and stains, which would bridge whole pages.)"""
    if len(small) == 0:
        return small
    return small[_seed_sized(small, x_height, params)]


def narrow_sorts(small: np.ndarray, x_height: float, params: SegmentParams) -> np.ndarray:
    """The small components larger than a block's seed, set aside only as tall and narrow as
    letters (``_letter_like``): a narrow sort of a frame's side, turned upright, is one of
    them, while the same sort lying in the frame's top is large."""
    if len(small) == 0:
        return small
    return small[~_seed_sized(small, x_height, params) & _letter_like(small, x_height)]


def _seed_sized(boxes: np.ndarray, x_height: float, params: SegmentParams) -> np.ndarray:
    """Mask of the boxes no longer than a block's seed (``min_size_in_x_heights``)."""
    return boxes[:, 2:].max(axis=1) <= params.min_size_in_x_heights * x_height


def stroke_groups(
    strokes: np.ndarray, x_height: float, page_shape: tuple[int, ...], params: SegmentParams
) -> np.ndarray:
    """The boxes of the tight clusters of three ``strokes`` or more, at most three times as
    long as broad, not a page's whole frame, their strokes not standing in one line: blocks
    engraved as many separate strokes, none large enough to seed a block.

    Strokes of one block sit closer than letters of neighbouring lines; the letters of a
    word stand side by side in one line. ``stroke_blocks`` and ``narrow_stroke_blocks`` sort
    the clusters by breadth.
    """
    if len(strokes) < 3:
        return np.zeros((0, 4), dtype=np.int64)
    groups = near_groups(strokes, max(1, int(params.stroke_gap_in_x_heights * x_height)))
    unions = np.array(union_boxes(strokes, groups))
    keep = (
        (np.bincount(groups) >= 3)
        & (unions[:, 2:].max(axis=1) <= 3 * unions[:, 2:].min(axis=1))
        & _small_enough(unions, page_shape, params)
    )
    keep[keep] = [not _one_line(strokes[groups == g]) for g in np.flatnonzero(keep)]
    return unions[keep]


def stroke_blocks(groups: np.ndarray, x_height: float, params: SegmentParams) -> list[Box]:
    """The ``stroke_groups`` as large as a block in both directions: blocks taken alone."""
    short_side = groups[:, 2:].min(axis=1)
    return as_boxes(groups[short_side >= params.min_stroke_block_in_x_heights * x_height])


def narrow_stroke_blocks(groups: np.ndarray, x_height: float, params: SegmentParams) -> list[Box]:
    """The ``stroke_groups`` narrower than a block taken alone: small engraved sorts, or else
    a capital or a ligature. Only where they repeat are they blocks (``repeats.chained_repeats``
    decides)."""
    short_side = groups[:, 2:].min(axis=1)
    narrow = (short_side < params.min_stroke_block_in_x_heights * x_height) & (
        short_side >= params.min_repeated_stroke_block_in_x_heights * x_height
    )
    return as_boxes(groups[narrow])


def _one_line(strokes: np.ndarray, share: float = 0.75) -> bool:
    """Whether most strokes cross one horizontal line: the letters of a word all cross their
    line's middle, while the pieces of a flower radiate from its centre."""
    middle = float(np.median(strokes[:, 1] + strokes[:, 3] / 2))
    crossing = (strokes[:, 1] <= middle) & (strokes[:, 1] + strokes[:, 3] >= middle)
    return bool(crossing.mean() >= share)


def block_shaped(boxes: list[Box], page_shape: tuple[int, ...], params: SegmentParams) -> list[Box]:
    """The boxes that can be one block: not a rule, a page edge or a stain."""
    if not boxes:
        return []
    return as_boxes(np.array(boxes)[_block_shaped(np.array(boxes), page_shape, params)])


def _regroup_oversized(
    boxes: np.ndarray, groups: np.ndarray, page_shape: tuple[int, ...], params: SegmentParams
) -> np.ndarray:
    """Groups too large to be one block are blocks set touching (a frame, a head-piece): their
    members are grouped again by overlap alone, which keeps a block's nested strokes together
    but no longer bridges the hairline between two blocks."""
    unions = np.array(union_boxes(boxes, groups))
    regrouped = groups.copy()
    next_group = int(groups.max()) + 1
    for g in np.flatnonzero(~_small_enough(unions, page_shape, params)):
        members = np.flatnonzero(groups == g)
        sub = near_groups(boxes[members], 0)
        regrouped[members] = next_group + sub
        next_group += int(sub.max()) + 1
    return np.unique(regrouped, return_inverse=True)[1]


def _letter_like(boxes: np.ndarray, x_height: float) -> np.ndarray:
    """Tall narrow components no taller than a long s or an f with its descender."""
    w, h = boxes[:, 2], boxes[:, 3]
    return (h <= 2.7 * x_height) & (w < 0.6 * h)


def not_page_wide(
    boxes: np.ndarray, page_shape: tuple[int, ...], params: SegmentParams
) -> np.ndarray:
    """``boxes`` less those spanning much of the page both across and down: a scan's dark
    border or background, whose box covers the page. (A block may span a crop of its
    ornament one way, even both: a frame then, too large to be one block.)"""
    if len(boxes) == 0:
        return boxes
    w, h = boxes[:, 2], boxes[:, 3]
    fraction = params.max_page_fraction
    return boxes[(w <= fraction * page_shape[1]) | (h <= fraction * page_shape[0])]


def _small_enough(
    boxes: np.ndarray, page_shape: tuple[int, ...], params: SegmentParams
) -> np.ndarray:
    """False for page edges, stains and whole frames: too large to be one block."""
    w, h = boxes[:, 2], boxes[:, 3]
    return (w <= params.max_page_fraction * page_shape[1]) & (
        h <= params.max_page_fraction * page_shape[0]
    )


def _elongated(boxes: np.ndarray, params: SegmentParams) -> np.ndarray:
    w, h = boxes[:, 2], boxes[:, 3]
    return np.maximum(w, h) > params.max_elongation * np.minimum(w, h)


def _rule_like(boxes: np.ndarray, x_height: float, params: SegmentParams) -> np.ndarray:
    """Long lines thinner than the text: printed rules and gutters, not rows of flowers."""
    thin = boxes[:, 2:].min(axis=1) < params.rule_width_in_x_heights * x_height
    return _elongated(boxes, params) & thin


def _block_shaped(
    boxes: np.ndarray, page_shape: tuple[int, ...], params: SegmentParams
) -> np.ndarray:
    """False for rules, page edges and stains (too elongated or too large to be one block),
    and for what the image's edge cuts: a block cut off is no whole impression, and what a
    crop cuts is mostly half a line of type."""
    x, y, w, h = boxes.T
    inside = (x > 0) & (y > 0) & (x + w < page_shape[1]) & (y + h < page_shape[0])
    return _small_enough(boxes, page_shape, params) & ~_elongated(boxes, params) & inside


def group_ornaments(instances: list[Box], params: SegmentParams) -> tuple[list[Box], list[int]]:
    """Ornament boxes and, for each instance, the index of its ornament."""
    if not instances:
        return [], []
    boxes = np.array(instances, dtype=np.int64)
    gap = int(params.ornament_gap * float(np.median(boxes[:, 2:].max(axis=1))))
    groups = near_groups(boxes, gap)
    return union_boxes(boxes, groups), [int(g) for g in groups]
