"""Blocks cut as several pieces: joining them (decompose/constellations.py), finding blocks
made of strokes only, and keeping touching blocks apart (decompose/segment.py)."""

from __future__ import annotations

import numpy as np

from service.decompose.constellations import ConstellationParams, Piece, join_pieces, joined_boxes
from service.decompose.segment import SegmentParams, large_instances, stroke_blocks, stroke_groups
from service.dihedral import Orientation

UPRIGHT = Orientation(0, False)
PARAMS = ConstellationParams()


def _petal_pair(page: int, x: int) -> list[Piece]:
    """Two pieces of one block: motif 0 and motif 1, one pixel apart."""
    return [
        Piece(page, (x, 100, 40, 60), 0, UPRIGHT),
        Piece(page, (x + 41, 100, 40, 60), 1, UPRIGHT),
    ]


def _band(page: int, motif: int, count: int) -> list[Piece]:
    """``count`` copies of one block set touching in a row."""
    return [Piece(page, (500 + 41 * i, 300, 40, 40), motif, UPRIGHT) for i in range(count)]


def test_pieces_always_seen_together_are_joined() -> None:
    pieces = _petal_pair(0, 10) + _petal_pair(1, 200) + _petal_pair(2, 10)

    groups = join_pieces(pieces, PARAMS)

    assert sorted(sorted(g) for g in groups) == [[0, 1], [2, 3], [4, 5]]


def test_a_band_of_one_block_is_not_joined() -> None:
    assert join_pieces(_band(0, 2, 6) + _band(1, 2, 4), PARAMS) == []


def test_blocks_that_also_appear_apart_are_not_joined() -> None:
    # Motifs 3 and 4 touch once, but each appears alone on three other pages.
    together = [Piece(0, (0, 0, 40, 40), 3, UPRIGHT), Piece(0, (41, 0, 40, 40), 4, UPRIGHT)]
    apart = [Piece(page, (0, 0, 40, 40), 3 + page % 2, UPRIGHT) for page in range(1, 7)]

    assert join_pieces(together + apart, PARAMS) == []


def _four_leaves(page: int, x: int, turns: list[int] | None = None) -> list[Piece]:
    """One leaf in four orientations, a fifth of its size apart: a four-leaf block."""
    angles = turns or [0, 90, 270, 180]
    corners = [(x, 0), (x + 48, 0), (x, 48), (x + 48, 48)]
    return [
        Piece(page, (cx, cy, 40, 40), 7, Orientation(angle, False))
        for (cx, cy), angle in zip(corners, angles, strict=True)
    ]


def test_a_block_whose_pieces_stand_apart_is_joined_when_it_recurs() -> None:
    pieces = _four_leaves(0, 0) + _four_leaves(1, 300)

    groups = join_pieces(pieces, PARAMS)

    assert sorted(sorted(g) for g in groups) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_a_leaf_repeated_across_the_diagonal_of_a_block_is_still_one_block() -> None:
    # A half-turn-symmetric leaf: opposite leaves read as one orientation.
    diagonal = [0, 270, 270, 0]
    pieces = _four_leaves(0, 0, diagonal) + _four_leaves(1, 300, diagonal)

    assert sorted(sorted(g) for g in join_pieces(pieces, PARAMS)) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_a_square_of_one_block_repeated_side_by_side_is_not_joined() -> None:
    side_by_side = [0, 0, 180, 180]
    pieces = _four_leaves(0, 0, side_by_side) + _four_leaves(1, 300, side_by_side)

    assert join_pieces(pieces, PARAMS) == []


def test_a_rosette_set_once_stays_separate_blocks() -> None:
    # The same arrangement seen once is the printer's composition, not one block.
    assert join_pieces(_four_leaves(0, 0), PARAMS) == []


def test_joined_boxes_replace_members_by_their_union() -> None:
    boxes = [(0, 0, 10, 10), (11, 0, 10, 12), (50, 50, 5, 5)]

    assert sorted(joined_boxes(boxes, [[0, 1]])) == [(0, 0, 21, 12), (50, 50, 5, 5)]


def test_blocks_set_touching_in_a_frame_stay_separate_blocks() -> None:
    # Eight blocks of 300 px round a 1000 x 1000 page, a hairline apart: as one group they
    # would span the page and be thrown away as a rule or a stain.
    blocks = [(x, 0, 299, 299) for x in (0, 300, 600)] + [(0, 300, 299, 299), (600, 300, 299, 299)]
    blocks += [(x, 600, 299, 299) for x in (0, 300, 600)]
    stroke_inside = (50, 50, 100, 100)  # nested inside the first block: part of it
    large = np.array([*blocks, stroke_inside])

    found = large_instances(large, np.zeros((0, 4), np.int64), _inked(blocks), SegmentParams())

    assert sorted(found) == sorted(blocks)


def test_a_scans_dark_page_edge_does_not_swallow_the_blocks() -> None:
    # The edge is one thin L-shaped component whose box spans the page.
    blocks = [(200, 300, 100, 100), (320, 300, 100, 100)]
    edge = (0, 0, 1000, 1000)
    mask = _inked(blocks)
    mask[:, :3] = mask[-3:, :] = True

    found = large_instances(np.array(blocks), np.array([edge]), mask, SegmentParams())

    assert sorted(found) == blocks


def test_a_square_block_beside_a_narrow_one_is_no_piece_of_it() -> None:
    # A frame's corner block, just under the large size, is shorter than the narrow sort
    # beside it but holds more ink: two blocks, not a block and its stem. A dot still joins.
    sort = (200, 300, 100, 38)
    corner, dot = (104, 290, 92, 92), (302, 310, 6, 6)

    found = large_instances(
        np.array([sort]), np.array([corner, dot]), _inked([sort, corner, dot]), SegmentParams()
    )

    assert found == [(200, 300, 108, 38)]


def test_a_slanting_petal_joins_its_flower_though_its_box_is_larger() -> None:
    # The upright petal is the large component; the slanting one, a thin diagonal stroke,
    # spans a squarer box of more area but holds less ink.
    upright = (100, 100, 35, 57)
    slanting = (136, 60, 51, 51)
    mask = _inked([upright])
    for step in range(51):
        mask[60 + 50 - step, 136 + step : 136 + step + 4] = True

    found = large_instances(np.array([upright]), np.array([slanting]), mask, SegmentParams())

    assert found == [(100, 60, 87, 97)]


def test_a_heart_under_its_broad_leaves_is_one_block_with_them() -> None:
    # The leaves are the large component, the heart holds more ink but lies within their
    # span, its box overlapping theirs: one block.
    leaves, heart = (481, 225, 119, 50), (500, 264, 86, 84)
    mask = _inked([heart])
    mask[225:235, 481:600] = True

    found = large_instances(np.array([leaves]), np.array([heart]), mask, SegmentParams())

    assert found == [(481, 225, 119, 123)]


def _inked(boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A 1000 x 1000 page whose ink fills each box."""
    mask = np.zeros((1000, 1000), bool)
    for x, y, w, h in boxes:
        mask[y : y + h, x : x + w] = True
    return mask


def test_overlapping_pieces_are_one_block_even_when_seen_once() -> None:
    # Type is set side by side, so two impressions never overlap: these are two cuts of one.
    pieces = [Piece(0, (0, 0, 60, 40), 5, UPRIGHT), Piece(0, (30, 10, 60, 40), 6, UPRIGHT)]
    pieces += [Piece(page, (0, 0, 60, 40), 5, UPRIGHT) for page in range(1, 5)]

    assert join_pieces(pieces, PARAMS) == [[0, 1]]


def test_a_block_engraved_as_many_small_strokes_is_one_block() -> None:
    # A 60 x 60 block of 25 strokes (each under two x-heights of 20 px), two pixels apart,
    # beside a line of words: letters one line high, too low to be a block.
    strokes = [(100 + 12 * i, 100 + 12 * j, 10, 10) for i in range(5) for j in range(5)]
    letters = [(300 + 14 * i + 20 * (i // 4), 110, 12, 20) for i in range(12)]
    small = np.array(strokes + letters)

    groups = stroke_groups(small, 20.0, (1000, 1000), SegmentParams())
    found = stroke_blocks(groups, 20.0, SegmentParams())

    assert found == [(100, 100, 58, 58)]


def test_a_small_flower_of_strokes_is_a_block_and_a_word_as_tall_is_not() -> None:
    # Both are 30 px (1.5 x-heights) each way and made of strokes 2 px apart; the flower's
    # petals radiate from its centre, the word's letters stand side by side on one line.
    petals = [
        (100, 100, 10, 14),
        (112, 100, 6, 12),
        (120, 100, 10, 14),
        (100, 116, 10, 14),
        (112, 118, 6, 12),
        (120, 116, 10, 14),
    ]
    word = [(300, 100, 8, 30), (310, 110, 8, 20), (320, 100, 8, 30), (330, 110, 8, 20)]

    groups = stroke_groups(np.array(petals + word), 20.0, (1000, 1000), SegmentParams())
    found = stroke_blocks(groups, 20.0, SegmentParams())

    assert found == [(100, 100, 30, 30)]
