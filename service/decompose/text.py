"""Telling a line of large text (headings, capitals) from a band of vignettes.

Capitals of one heading share their top and bottom lines and are nearly all different shapes;
the blocks of a band or a head-piece repeat (or mirror) a few designs. A run of aligned,
adjacent, mostly distinct shapes is therefore text, whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from service.decompose.describe import dihedral_views, template
from service.decompose.segment import Box


@dataclass(frozen=True)
class TextParams:
    # Tops and bottoms agreeing within this fraction of the height make one line of type.
    alignment: float = 0.06
    # Letters of a word or heading are closer than this many heights.
    max_gap: float = 0.6
    # Shapes at least this alike (correlation, any orientation) are the same design or letter.
    likeness: float = 0.8
    # A run whose distinct shapes make up at least this share of its members is text.
    distinct_share: float = 0.6
    min_run: int = 3


def text_like(ink: np.ndarray, boxes: list[Box], params: TextParams | None = None) -> np.ndarray:
    """Boolean mask over ``boxes``: members of runs that read as a line of text."""
    params = params or TextParams()
    text = np.zeros(len(boxes), dtype=bool)
    if len(boxes) < params.min_run:
        return text
    array = np.array(boxes)
    _, run = connected_components(_aligned_neighbours(array, params), directed=False)
    for label in np.unique(run):
        members = np.flatnonzero(run == label)
        if len(members) >= params.min_run:
            distinct = _distinct_shapes(ink, [boxes[i] for i in members], params.likeness)
            text[members] = distinct >= 3 and distinct >= params.distinct_share * len(members)
    return text


def _aligned_neighbours(boxes: np.ndarray, params: TextParams) -> np.ndarray:
    """Pairs of boxes side by side on one line, with the same top and bottom."""
    x, y, w, h = boxes.T
    tall = np.maximum(h[:, None], h[None, :])
    same_line = (np.abs(y[:, None] - y[None, :]) <= params.alignment * tall) & (
        np.abs((y + h)[:, None] - (y + h)[None, :]) <= params.alignment * tall
    )
    gap = np.maximum(x[:, None], x[None, :]) - np.minimum((x + w)[:, None], (x + w)[None, :])
    close = gap <= params.max_gap * tall
    adjacency = same_line & close
    np.fill_diagonal(adjacency, False)
    return adjacency


def _distinct_shapes(ink: np.ndarray, boxes: list[Box], likeness: float) -> int:
    """How many different shapes the boxes hold, alike shapes (any orientation) counted once."""
    views = dihedral_views(np.stack([template(ink, box) for box in boxes]))
    similarity = np.einsum("avd,bd->abv", views, views[:, 0]).max(axis=2)
    alike = np.maximum(similarity, similarity.T) >= likeness
    return int(connected_components(alike, directed=False)[0])
