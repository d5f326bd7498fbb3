"""Pieces joined where their union looks like a block the collection shows whole elsewhere."""

from __future__ import annotations

import numpy as np

from service.decompose.constellations import Piece
from service.decompose.segment import Box
from service.decompose.wholes import (
    WholeParams,
    candidate_groups,
    candidate_unions,
    chosen_wholes,
    union_of,
)
from service.dihedral import Orientation

UPRIGHT = Orientation(0, False)
HALF = 5  # the motif of the pieces
WHOLE = 9  # a motif found whole on another page
PARAMS = WholeParams()


def _pieces(boxes: list[Box], motif: int = HALF) -> list[Piece]:
    return [Piece(0, box, motif, UPRIGHT) for box in boxes]


def _unlike(count: int) -> np.ndarray:
    """As-printed descriptors that are all different (mirrored halves, turned leaves)."""
    return np.eye(count, 16)


def _joined(
    pieces: list[Piece], printed: np.ndarray, alike: dict[Box, tuple[int, float]]
) -> list[list[int]]:
    """What the pipeline joins when the union boxes listed in ``alike`` resemble the given
    motif (found whole on another page), and any other union resembles nothing."""
    candidates = candidate_groups(pieces, printed, PARAMS)
    found = [alike.get(union_of(pieces, group), (0, 0.1)) for group in candidates]
    motif = np.array([m for m, _ in found], dtype=np.int64)
    similarity = np.array([s for _, s in found])
    return chosen_wholes(pieces, candidates, motif, similarity, PARAMS)


def test_two_halves_whose_union_is_a_known_block_are_joined() -> None:
    halves = [(100, 100, 40, 19), (100, 121, 40, 19)]
    alike = {(100, 100, 40, 40): (WHOLE, 0.95)}
    assert _joined(_pieces(halves), _unlike(2), alike) == [[0, 1]]


def test_a_union_alike_to_nothing_stays_pieces() -> None:
    halves = [(100, 100, 40, 19), (100, 121, 40, 19)]
    alike = {(100, 100, 40, 40): (WHOLE, PARAMS.likeness - 0.05)}
    assert _joined(_pieces(halves), _unlike(2), alike) == []


def test_a_band_of_blocks_alike_as_printed_is_never_joined() -> None:
    # Two blocks side by side whose union happens to look like some motif: they repeat one
    # another by translation, so they are a band, not the parts of one block.
    blocks = [(100, 100, 20, 40), (121, 100, 20, 40)]
    alike = {(100, 100, 41, 40): (WHOLE, 0.97)}
    same = np.tile(_unlike(1), (2, 1))
    assert _joined(_pieces(blocks), same, alike) == []
    assert _joined(_pieces(blocks), _unlike(2), alike) == [[0, 1]]


def test_a_union_alike_to_its_own_pieces_motif_is_not_a_whole() -> None:
    halves = [(100, 100, 40, 19), (100, 121, 40, 19)]
    alike = {(100, 100, 40, 40): (HALF, 0.95)}
    assert _joined(_pieces(halves), _unlike(2), alike) == []


def test_blocks_set_corner_to_corner_are_no_candidate() -> None:
    # Two blocks touching at a corner leave half of their union blank (a checkerboard's look).
    diagonal = np.array([(0, 0, 40, 40), (41, 41, 40, 40)])
    assert candidate_unions(diagonal, PARAMS) == []
    side_by_side = np.array([(0, 0, 40, 40), (41, 0, 40, 40)])
    assert candidate_unions(side_by_side, PARAMS) == [(0, 1)]


def test_a_union_that_swallows_another_box_includes_it() -> None:
    # Three stacked pieces: the union of the outer two holds the middle one.
    stacked = np.array([(0, 0, 40, 12), (0, 13, 40, 12), (0, 26, 40, 12)])
    assert candidate_unions(stacked, PARAMS) == [(0, 1), (0, 1, 2), (1, 2)]


def test_the_whole_block_wins_over_a_part_that_resembles_another_motif() -> None:
    # Four leaves of a block, two by two. Its top pair resembles a motif of pairs, more
    # closely than the four resemble the whole block; the four are joined all the same.
    leaves = [(0, 0, 20, 20), (21, 0, 20, 20), (0, 21, 20, 20), (21, 21, 20, 20)]
    pair, whole = 7, WHOLE
    alike = {(0, 0, 41, 20): (pair, 0.99), (0, 0, 41, 41): (whole, 0.9)}
    assert _joined(_pieces(leaves), _unlike(4), alike) == [[0, 1, 2, 3]]
