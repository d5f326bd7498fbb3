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


@dataclass(frozen=True)
class SegmentParams:
    # A component counts as ornament when taller or wider than this many text x-heights.
    min_size_in_x_heights: float = 2.3
    # Pieces of one vignette (dots, stems) closer than this fraction of its size are merged.
    merge_gap_fraction: float = 0.04
    # Instances closer than this many median instance sizes belong to one ornament.
    ornament_gap: float = 0.6


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
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
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
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    slices = ndimage.find_objects(labels)
    boxes = [
        (s[1].start, s[0].start, s[1].stop - s[1].start, s[0].stop - s[0].start)
        for s in slices
        if s is not None
    ]
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def text_x_height(boxes: np.ndarray) -> float:
    """The most common component height: on a printed page, the x-height of the text."""
    heights = boxes[:, 3][boxes[:, 3] >= 3]
    if heights.size == 0:
        return 10.0
    counts = np.bincount(heights)
    smoothed = np.convolve(counts, np.ones(3), mode="same")
    return float(max(int(np.argmax(smoothed)), 3))


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


def find_instances(mask: np.ndarray, params: SegmentParams) -> list[Box]:
    """Candidate vignette boxes: large components plus the small pieces that sit on them."""
    boxes = component_boxes(mask)
    if len(boxes) == 0:
        return []
    size = boxes[:, 2:].max(axis=1)
    is_large = size >= params.min_size_in_x_heights * text_x_height(boxes)
    large, small = boxes[is_large], boxes[~is_large]
    if len(large) == 0:
        return []
    # Large components this close are one block broken by wear or drawn in several strokes.
    gap = np.maximum(1, params.merge_gap_fraction * size[is_large]).astype(np.int64)
    groups = near_groups(large, gap)
    # Small pieces (dots, thin stems) join the block they touch; text letters are too far away.
    attached = overlapping(small, large, gap)
    has_host = attached.any(axis=1)
    host_group = groups[attached[has_host].argmax(axis=1)]
    return union_boxes(
        np.concatenate([large, small[has_host]]), np.concatenate([groups, host_group])
    )


def group_ornaments(instances: list[Box], params: SegmentParams) -> tuple[list[Box], list[int]]:
    """Ornament boxes and, for each instance, the index of its ornament."""
    if not instances:
        return [], []
    boxes = np.array(instances, dtype=np.int64)
    gap = int(params.ornament_gap * float(np.median(boxes[:, 2:].max(axis=1))))
    groups = near_groups(boxes, gap)
    return union_boxes(boxes, groups), [int(g) for g in groups]
