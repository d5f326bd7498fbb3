"""Completing motifs on a page by template matching (decompose/matching.py)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from service.decompose.matching import (
    SPECK_SHARE,
    MatchParams,
    SearchArea,
    missed_placements,
    pieces_within,
    split_runs,
)
from service.decompose.segment import SegmentParams

# The text's x-height on the test pages: the 40 x 30 block is three of them broad.
X_HEIGHT = 10.0


def _block() -> np.ndarray:
    """An asymmetric 40 x 30 block (an L with a dot), so that its turns differ."""
    block = np.zeros((40, 30), np.float32)
    block[:, :8] = 1.0
    block[32:, :] = 1.0
    block[8:16, 18:26] = 1.0
    return block


def _page(placements: list[tuple[int, int, np.ndarray]]) -> np.ndarray:
    ink = np.zeros((300, 500), np.float32)
    for x, y, pixels in placements:
        ink[y : y + pixels.shape[0], x : x + pixels.shape[1]] = pixels
    return ink


def test_correlation_peaks_where_the_template_stands() -> None:
    block = _block()
    ink = _page([(120, 70, block)])

    score = SearchArea(ink).correlation(block)

    assert np.unravel_index(np.argmax(score), score.shape) == (70, 120)
    assert score.max() > 0.999
    assert score[0, 0] == 0  # a blank window has no correlation, not a division by zero


def test_impressions_missed_by_segmentation_are_found_in_any_orientation() -> None:
    block = _block()
    turned = np.rot90(block).copy()
    # Beside the segmented impression, and below it turned a quarter.
    ink = _page([(40, 40, block), (76, 40, block), (40, 86, turned)])
    found = [(40, 40, 30, 40)]

    placed = missed_placements(ink, found, found, X_HEIGHT, SegmentParams())

    assert sorted(placed) == [(40, 86, 40, 30), (76, 40, 30, 40)]


def test_faint_show_through_and_pieces_of_a_larger_block_are_not_impressions() -> None:
    block = _block()
    # A faint copy (ink from the other side of the leaf) and a copy set inside a dark block,
    # whose surroundings are inked: neither is an impression of the block.
    dark = np.ones((60, 50), np.float32)
    dark[10:50, 10:40] = block
    ink = _page([(40, 40, block), (76, 40, 0.3 * block), (30, 86, dark)])
    found = [(40, 40, 30, 40)]
    searched_widely = MatchParams(margin=3.0)

    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams(), searched_widely) == []


def _framed_block(seed: int) -> np.ndarray:
    """A 100 x 70 block: the L with a dot inside a worn frame, blank between them."""
    framed = np.zeros((100, 70), np.float32)
    framed[:8], framed[-8:], framed[:, :8], framed[:, -8:] = 1.0, 1.0, 1.0, 1.0
    framed[np.random.default_rng(seed).random(framed.shape) < 0.1] = 0.0
    framed[30:70, 20:50] = _block()
    return framed


def test_a_small_block_matched_inside_a_larger_one_found_after_it_is_no_impression() -> None:
    # A band of framed blocks, the first one segmented, and the small block itself below the
    # second. The small block matches the copy of it inside the second framed block best (the
    # frames are worn), before that framed block is found: once found, the copy is a piece.
    band = [(20 + 90 * index, 20) for index in range(4)]
    ink = _page([(x, y, _framed_block(seed)) for seed, (x, y) in enumerate(band)])
    ink[126:166, 130:160] = _block()
    found = [(20, 20, 70, 100), (130, 126, 30, 40)]

    placed = missed_placements(ink, found, found, X_HEIGHT, SegmentParams())

    assert sorted(placed) == [(x, y, 70, 100) for x, y in band[1:]]


def test_nothing_is_searched_far_from_the_ornaments() -> None:
    block = _block()
    ink = _page([(40, 40, block), (400, 220, block)])
    found = [(40, 40, 30, 40)]

    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams()) == []


def test_a_block_found_only_as_a_piece_is_found_whole_and_the_piece_named() -> None:
    block = _block()
    ink = _page([(40, 40, block), (76, 40, block)])
    segmented = [(40, 40, 30, 40), (94, 48, 8, 8)]  # the second impression: only its dot

    placed = missed_placements(ink, segmented, segmented[:1], X_HEIGHT, SegmentParams())

    assert placed == [(76, 40, 30, 40)]
    assert pieces_within(placed, segmented) == [(94, 48, 8, 8)]


def test_a_worn_block_found_as_alike_specks_is_found_whole() -> None:
    block = _block()
    block[20:28, 18:26] = 1.0  # a second dot under the first: two alike specks in a column
    ink = ndimage.gaussian_filter(_page([(40, 40, block), (76, 40, block)]), 1.0)
    specks = [(93, 47, 10, 10), (93, 59, 10, 10)]  # all segmentation found of the second block
    segmented = [(40, 40, 30, 40), *specks]

    placed = missed_placements(ink, segmented, segmented[:1], X_HEIGHT, SegmentParams())

    assert placed == [(76, 40, 30, 40)]
    assert pieces_within(placed, segmented) == specks


def test_a_band_missed_but_for_its_first_block_is_followed_to_its_end() -> None:
    block = _block()
    ink = _page([(20 + 36 * i, 40, block) for i in range(10)])
    found = [(20, 40, 30, 40)]

    placed = missed_placements(ink, found, found, X_HEIGHT, SegmentParams())

    assert sorted(placed) == [(20 + 36 * i, 40, 30, 40) for i in range(1, 10)]


def test_a_band_is_followed_past_a_block_too_worn_to_match() -> None:
    block = _block()
    worn = block.copy()
    worn[:, 8:] = 0.0  # only the stem is left
    band = [(20 + 36 * i, 40, worn if i == 3 else block) for i in range(10)]
    found = [(20, 40, 30, 40), (56, 40, 30, 40)]

    placed = missed_placements(_page(band), found, found, X_HEIGHT, SegmentParams())

    assert sorted(placed) == [(20 + 36 * i, 40, 30, 40) for i in (2, 4, 5, 6, 7, 8, 9)]


def test_tiles_set_touching_are_found_though_no_blank_sets_them_apart() -> None:
    block = _block()
    grid = [(40 + 30 * column, 40 + 40 * row, block) for row in range(3) for column in range(3)]
    ink = _page(grid)
    found = [(40, 40, 30, 40)]
    tiles = [(40 + 30 * column, 40 + 40 * row, 30, 40) for row in range(3) for column in range(3)]

    placed = missed_placements(ink, found, found, X_HEIGHT, SegmentParams())
    as_letters = missed_placements(ink, found, found, 3 * X_HEIGHT, SegmentParams())

    assert sorted(placed) == sorted(tiles[1:])
    assert as_letters == []  # a sort under 1.5 x-heights may be a letter touching others


def test_tiles_read_as_the_text_s_height_are_found_where_two_are_found_set_touching() -> None:
    # A frame of tiles filling a page of little text: the tiles' height passes for the
    # text's x-height, and so they may be letters; two found touching, alike, are tiles.
    block = _block()
    grid = [(40 + 30 * column, 40 + 40 * row, block) for row in range(3) for column in range(3)]
    tiles = [(40 + 30 * column, 40 + 40 * row, 30, 40) for row in range(3) for column in range(3)]
    found = tiles[:2]

    placed = missed_placements(_page(grid), found, found[:1], 3 * X_HEIGHT, SegmentParams())
    alone = missed_placements(_page(grid), found[:1], found[:1], 3 * X_HEIGHT, SegmentParams())

    assert sorted(placed) == sorted(tiles[2:])
    assert alone == []  # found alone, the block may be a letter touching others


def test_the_mirrored_half_of_a_symmetric_block_is_no_tile() -> None:
    half = _block()
    ink = _page([(40, 40, np.hstack([half[:, ::-1], half]))])  # the halves' stems meet
    found = [(70, 40, 30, 40)]  # one half of the block, taken for a block of its own

    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams()) == []


def test_a_large_block_is_placed_at_its_exact_corner_off_the_coarse_grid() -> None:
    block = np.kron(_block(), np.ones((2, 2), np.float32))  # 80 x 60: matched at a step of 3
    ink = _page([(40, 40, block), (113, 41, block)])
    found = [(40, 40, 60, 80)]

    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams()) == [(113, 41, 60, 80)]


def test_a_worn_impression_off_the_coarse_grid_is_found() -> None:
    block = np.kron(_block(), np.ones((2, 2), np.float32))
    worn = block.copy()
    worn[:, 4:8] = 0.0  # a crack through the stem, and a lost corner
    worn[64:, 48:] = 0.0
    ink = _page([(40, 40, block), (113, 41, worn)])
    found = [(40, 40, 60, 80)]

    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams()) == [(113, 41, 60, 80)]


def test_a_run_of_blocks_left_whole_does_not_swallow_the_blocks_found_singly() -> None:
    block = _block()
    ink = _page([(20 + 34 * i, 40, block) for i in range(4)])
    # Segmentation left the first two blocks as one run and found the next two singly.
    run, singles = (20, 40, 64, 40), [(88, 40, 30, 40), (122, 40, 30, 40)]

    assert missed_placements(ink, [run, *singles], [run], X_HEIGHT, SegmentParams()) == []


def test_impressions_are_found_on_grainy_paper_whose_tone_reads_as_faint_ink() -> None:
    block = _block()
    rng = np.random.default_rng(0)
    ink = _page([(40, 40, block), (76, 40, block)])
    ink = np.maximum(ink, rng.uniform(0.0, 0.24, ink.shape).astype(np.float32))  # mean 0.12
    found = [(40, 40, 30, 40)]

    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams()) == [(76, 40, 30, 40)]


def test_a_block_inked_to_its_edge_is_found_though_the_scan_blurs_it_past_its_box() -> None:
    # A checkerboard tile: its dark squares run to its edges, and the scan's blur spills them
    # a pixel or two beyond, which must not read as a larger block around the placement.
    tile = np.kron(np.array([[1, 0], [0, 1]], np.float32), np.ones((20, 20), np.float32))
    ink = ndimage.gaussian_filter(_page([(40, 40, tile), (100, 40, tile)]), 1.0)
    found = [(40, 40, 40, 40)]
    hugging = MatchParams(frame_gap=0)

    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams(), hugging) == []
    assert missed_placements(ink, found, found, X_HEIGHT, SegmentParams()) == [(100, 40, 40, 40)]


def test_a_pair_of_touching_blocks_is_split_where_the_page_shows_the_block_alone() -> None:
    block = _block()
    turned = np.rot90(block, 2).copy()
    # Two blocks set touching (found as one instance) and, apart, the block alone turned a
    # half: the pair is two impressions, in the same orientation.
    ink = _page([(40, 40, block), (70, 40, block), (200, 40, turned)])
    pair, single = (40, 40, 60, 40), (200, 40, 30, 40)

    assert split_runs(ink, [pair, single], [single], X_HEIGHT) == {
        pair: [(40, 40, 30, 40), (70, 40, 30, 40)]
    }


def test_a_sort_set_touching_the_same_sort_on_its_side_is_split_into_the_two() -> None:
    block = _block()
    on_its_side = np.rot90(block).copy()
    # A frame alternating the sort upright and on its side: one upright above one on its
    # side, touching (found as one instance), and the sort alone elsewhere.
    ink = _page([(40, 40, block), (40, 80, on_its_side), (200, 40, block)])
    pair, single = (40, 40, 40, 70), (200, 40, 30, 40)

    runs = split_runs(ink, [pair, single], [single], X_HEIGHT)

    assert list(runs) == [pair]
    assert sorted(runs[pair]) == [(40, 40, 30, 40), (40, 80, 40, 30)]


def test_an_instance_holding_more_than_the_turned_pair_is_not_split() -> None:
    block = _block()
    # The same pair with a stroke of something else beside the upright sort.
    extra = np.ones((30, 8), np.float32)
    on_its_side = np.rot90(block).copy()
    ink = _page([(40, 40, block), (40, 80, on_its_side), (72, 45, extra), (200, 40, block)])
    pair, single = (40, 40, 40, 70), (200, 40, 30, 40)

    assert split_runs(ink, [pair, single], [single], X_HEIGHT) == {}


def test_a_symmetric_block_is_not_split_into_its_mirrored_halves() -> None:
    half = _block()
    # A block whose right half mirrors its left: the half, found alone elsewhere, tiles it
    # only turned, so it is one block, not a run of two.
    whole = np.concatenate([half, half[:, ::-1]], axis=1)
    ink = _page([(40, 40, whole), (200, 40, half)])
    symmetric, single = (40, 40, 60, 40), (200, 40, 30, 40)

    assert split_runs(ink, [symmetric, single], [single], X_HEIGHT) == {}


def test_a_frame_corner_of_touching_tiles_is_split_though_letters_stand_in_its_hollow() -> None:
    block = _block()
    on_its_side = np.rot90(block).copy()
    yy, xx = np.mgrid[:24, :16] / np.array([23, 15])[:, None, None] * 2 - 1
    letter = ((xx**2 + yy**2 <= 1) & (xx**2 + yy**2 >= 0.4)).astype(np.float32)  # an o
    # A frame's top row of three tiles meets its column of two, set on their side: one
    # component, boxed with the letters set in the L's hollow; the tile alone elsewhere.
    tiles = [(40, 40, block), (70, 40, block), (100, 40, block)]
    tiles += [(130, 40, on_its_side), (130, 70, on_its_side)]
    letters = [(x, 84, letter) for x in (50, 72, 94)]
    ink = _page([*tiles, *letters, (300, 40, block)])
    corner, single = (40, 40, 130, 70), (300, 40, 30, 40)

    runs = split_runs(ink, [corner, single], [single], X_HEIGHT)

    assert list(runs) == [corner]
    assert sorted(runs[corner]) == sorted((x, y, p.shape[1], p.shape[0]) for x, y, p in tiles)


def test_a_block_of_four_mirrored_quarters_is_not_split_into_them() -> None:
    quarter = _block()
    # Each quarter in an orientation of its own: one block, whose quarter stands alone too.
    top = np.concatenate([quarter, quarter[:, ::-1]], axis=1)
    whole = np.concatenate([top, top[::-1]], axis=0)
    ink = _page([(40, 40, whole), (300, 40, quarter)])
    symmetric, single = (40, 40, 60, 80), (300, 40, 30, 40)

    assert split_runs(ink, [symmetric, single], [single], X_HEIGHT) == {}


def test_a_flower_whose_heart_is_shaped_as_its_petals_is_not_split_into_them() -> None:
    yy, xx = np.mgrid[:30, :20] / np.array([29, 19])[:, None, None] * 2 - 1
    upright = (xx**2 + yy**2 <= 1).astype(np.float32)  # a petal, alike turned a half
    lying = np.rot90(upright).copy()
    # Petals round a heart shaped as a lying petal: the heart and the lying petals make a
    # run of three, but the upright petals stand two blocks apart, across the heart.
    petals = [(40, 80, lying), (70, 80, lying), (100, 80, lying)]
    petals += [(75, 50, upright), (75, 100, upright)]
    ink = _page([*petals, (300, 40, upright)])
    bloom, single = (40, 50, 90, 80), (300, 40, 20, 30)

    assert split_runs(ink, [bloom, single], [single], X_HEIGHT) == {}


def test_the_tile_beside_a_corner_block_is_found_by_its_tiling_on_the_other_side() -> None:
    block = _block()
    yy, xx = np.mgrid[:40, :40] / 39 * 2 - 1
    corner = (xx**2 + yy**2 <= 1).astype(np.float32)  # another design, closing the band
    ink = _page([(40, 40, block), (70, 40, block), (100, 40, block), (130, 40, corner)])
    found = [(40, 40, 30, 40)]

    placed = missed_placements(ink, found, found, X_HEIGHT, SegmentParams())

    assert sorted(placed) == [(70, 40, 30, 40), (100, 40, 30, 40)]


def test_only_specks_well_inside_a_block_are_its_specks() -> None:
    block = (100, 100, 60, 60)
    speck, half, beside = (120, 110, 10, 12), (100, 100, 30, 60), (170, 100, 10, 10)
    astride = (150, 100, 20, 10)  # reaches out of the block: no speck of it

    found = pieces_within([block], [block, speck, half, beside, astride], SPECK_SHARE)

    assert found == [speck]
