"""The collection's motifs as a dictionary: impressions that segmentation set aside, found again.

Segmentation reads some whole ornaments as type (a row of alike sorts set symmetrically, a
cross of four tiles touching) or merges their blocks, and then nothing of them is clustered.
Yet the same blocks are often found on other pages: motifs established across the collection
are the dictionary of a convolutional motif model, learned from the pages themselves. Every
shape set aside on a page (a block of large components, a cluster of strokes) that is closely
alike to an established motif, under some orientation, is an impression of it.

Type is the danger: a motif that looks like a letter (a round sort, a dot) would find letters
on every page. A block's missed impressions are a minority of its impressions, on fewer pages
than it was found on; a letter-like motif's matches spread over far more pages than it was
found on, so such a motif's matches are all refused, but where they stand as a band: a row
of alike shapes, evenly set, is no line of letters.

The dictionary also cuts apart blocks that segmentation left merged: touching tiles of a
frame read in pairs, a band two rows deep read in squares of four. Clustered, such merged
impressions make a motif of one page; cut evenly, their cells are impressions of established
motifs. A block found on several pages is never cut, nor any block into one motif in
several orientations: the mirrored halves of a symmetric tile look like a motif too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from service.decompose.cluster import grouped
from service.decompose.segment import Box, in_line, trimmed

#: Grids (columns, rows) that an instance may be cut into: blocks merged in twos, threes or
#: fours along a band, or in a grid up to three by three.
GRIDS = ((2, 1), (1, 2), (2, 2), (3, 1), (1, 3), (3, 2), (2, 3), (3, 3), (4, 1), (1, 4))
#: The ink of each cell spans at least this share of the cell, across and down.
MIN_FILL = 0.5
#: A cut runs along a blank at most this share of a cell from its even place.
BLANK_REACH = 0.3


@dataclass(frozen=True)
class DictionaryParams:
    # Likeness to a motif's prototype (under some orientation) above which a shape set aside
    # is an impression of it: stricter than joining a motif (``ClusterParams.join``), as no
    # neighbour vouches for the shape.
    likeness: float = 0.85
    # A motif is established with this many kept impressions, on this many pages at least.
    min_members: int = 3
    min_pages: int = 2
    # Shapes shorter than this (long side, in x-heights) are specks and punctuation. Lower
    # than chains go (``RepeatParams.min_size_in_x_heights``): a small sort recurring across
    # the collection needs no alike neighbour to be found.
    min_size_in_x_heights: float = 0.5
    # A motif's matches are refused when they fall on more pages than this share of the
    # pages it was found on...
    page_share: float = 0.5
    # ...but for matches set as a band: this many or more of one motif on a page, side by
    # side or stacked, each within its size of the next. Letters never repeat so.
    min_band: int = 4


def established_motifs(
    labels: np.ndarray, kept: np.ndarray, page_of: np.ndarray, params: DictionaryParams
) -> tuple[np.ndarray, np.ndarray]:
    """The motifs (indices into the clustering) that recur enough to be looked for, and the
    number of pages each was found on."""
    motifs, pages = [], []
    for members in grouped(np.flatnonzero(kept), labels):
        found_on = len(np.unique(page_of[members]))
        if len(members) >= params.min_members and found_on >= params.min_pages:
            motifs.append(int(labels[members[0]]))
            pages.append(found_on)
    return np.array(motifs, dtype=np.int64), np.array(pages, dtype=np.int64)


def closest_motifs(upright: np.ndarray, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (N, D) shapes' ``upright`` views and (E, 8, D) motif ``prototypes``: each shape's
    closest motif (index into ``prototypes``) and its likeness under the best orientation."""
    closest, _, likeness = closest_views(upright, prototypes)
    return closest, likeness


def closest_views(
    upright: np.ndarray, prototypes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As ``closest_motifs``, with the view (0 to 7) of the closest motif that each shape is
    most alike to."""
    if not len(upright) or not len(prototypes):
        empty = np.zeros(len(upright), np.int64)
        return empty, empty, np.zeros(len(upright))
    # One matrix product (BLAS): a page sets aside hundreds of shapes.
    flat = prototypes.reshape(-1, prototypes.shape[-1])
    likeness = (upright @ flat.T).reshape(len(upright), len(prototypes), -1)
    best = likeness.reshape(len(upright), -1).argmax(axis=1)
    closest, view = np.divmod(best, likeness.shape[2])
    return closest, view, likeness[np.arange(len(upright)), closest, view]


def trusted_matches(
    motif_of: np.ndarray, page_of: np.ndarray, pages_found: np.ndarray, share: float
) -> np.ndarray:
    """Mask of the matches (shape ``i`` on page ``page_of[i]`` taken for motif ``motif_of[i]``,
    an index into ``pages_found``) whose motif matches on no more pages than ``share`` of the
    pages it was found on."""
    trusted = np.zeros(len(motif_of), dtype=bool)
    for members in grouped(np.arange(len(motif_of)), motif_of):
        motif = motif_of[members[0]]
        spread = len(np.unique(page_of[members]))
        trusted[members] = spread <= share * pages_found[motif]
    return trusted


def set_as_bands(
    boxes: np.ndarray, motif_of: np.ndarray, page_of: np.ndarray, least: int
) -> np.ndarray:
    """Mask of the matches (``boxes``, (N, 4)) standing in a band of ``least`` or more
    matches of their motif on their page: neighbours in one row or column, within the
    smaller one's size of each other, chained."""
    banded = np.zeros(len(boxes), dtype=bool)
    for members in grouped(
        np.arange(len(boxes)), motif_of * (page_of.max(initial=0) + 1) + page_of
    ):
        if len(members) < least:
            continue
        sides = boxes[members, 2:].max(axis=1)
        near = in_line(boxes[members], np.minimum(sides[:, None], sides[None]))
        _, band = connected_components(near, directed=False)
        sizes = np.bincount(band)
        banded[members] = sizes[band] >= least
    return banded


def grid_cuttings(mask: np.ndarray, box: Box) -> list[list[Box]]:
    """``box`` cut by each of ``GRIDS``, each cell trimmed to the ``mask``'s ink. Each cut
    runs along the blank nearest its even place, within ``BLANK_REACH`` of a cell (blocks of
    two sizes merged, a tile and a small sort), or at that place where there is none (tiles
    set touching). A cutting is left out where some cell's ink spans less than ``MIN_FILL``
    of the cell across or down: blocks merged in a grid fill their cells."""
    x, y, w, h = box
    inside = mask[y : y + h, x : x + w]
    inked_columns, inked_rows = np.asarray(inside.any(axis=0)), np.asarray(inside.any(axis=1))
    cuttings = []
    for columns, rows in GRIDS:
        xs = x + _cuts(inked_columns, columns)
        ys = y + _cuts(inked_rows, rows)
        cells = []
        for cell in _grid_cells(xs, ys):
            ink = trimmed(mask, cell)
            if ink is None or min(ink[2] / cell[2], ink[3] / cell[3]) < MIN_FILL:
                break
            cells.append(ink)
        else:
            cuttings.append(cells)
    return cuttings


def best_cutting(
    cuttings: list[list[Box]],
    motif: np.ndarray,
    view: np.ndarray,
    alike: np.ndarray,
    least: float,
) -> list[Box] | None:
    """Among ``cuttings``, the one whose cells are all at least ``least`` alike to an
    established motif, the likest in its least alike cell; None where there is none. Each
    cell's closest ``motif``, the ``view`` of it, and its likeness (``alike``) are given
    cutting after cutting. Cells that are one motif in several orientations are the mirrored
    or turned halves of a symmetric block, never cut so: merged blocks repeat by translation
    or differ."""
    best, best_least, start = None, least, 0
    for cells in cuttings:
        cut = slice(start, start + len(cells))
        start += len(cells)
        worst = float(alike[cut].min())
        halves = len(set(motif[cut].tolist())) == 1 and len(set(view[cut].tolist())) > 1
        if worst >= best_least and not halves:
            best, best_least = cells, worst
    return best


def _cuts(inked: np.ndarray, parts: int) -> np.ndarray:
    """Offsets cutting a line of ``inked`` columns (or rows) into ``parts``: its ends, and
    between them the blank nearest each even cut, or that cut."""
    length = len(inked)
    reach = round(BLANK_REACH * length / parts)
    cuts = [0]
    for part in range(1, parts):
        even = round(part * length / parts)
        near = np.arange(max(1, even - reach), min(length - 1, even + reach + 1))
        blank = near[~inked[near]]
        cuts.append(int(blank[np.argmin(np.abs(blank - even))]) if len(blank) else even)
    return np.array([*cuts, length])


def _grid_cells(xs: np.ndarray, ys: np.ndarray) -> list[Box]:
    """The cells between consecutive cuts ``xs`` across and ``ys`` down, row by row."""
    return [
        (int(left), int(top), int(right - left), int(bottom - top))
        for top, bottom in itertools.pairwise(ys)
        for left, right in itertools.pairwise(xs)
    ]
