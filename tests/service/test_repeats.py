"""Small sorts found by their repetition (decompose/repeats.py)."""

from __future__ import annotations

import numpy as np

from service.decompose.repeats import (
    RepeatParams,
    _of_many_pieces,
    _straight_runs,
    chained_repeats,
    periodic_runs,
    split_touching,
    stroke_clusters,
)
from service.decompose.segment import component_boxes

X_HEIGHT = 20.0


def _flower(ink: np.ndarray, x: int, y: int) -> None:
    """A 24 x 24 sort cut as four separate strokes: a bar, a dot and two feet."""
    ink[y : y + 6, x : x + 24] = 1.0
    ink[y + 9 : y + 15, x + 6 : x + 18] = 1.0
    ink[y + 18 : y + 24, x + 2 : x + 10] = 1.0
    ink[y + 18 : y + 24, x + 14 : x + 22] = 1.0


def _page_with_a_row_of_flowers() -> tuple[np.ndarray, list[tuple[int, int]]]:
    ink = np.zeros((200, 400), np.float32)
    corners = [(20 + 28 * i, 40) for i in range(8)]
    for x, y in corners:
        _flower(ink, x, y)
    # A line of "text": blocks of varied widths and heights, set like letters in words.
    rng = np.random.default_rng(0)
    x = 20
    while x < 360:
        width, height = int(rng.integers(4, 16)), int(rng.integers(10, 20))
        ink[140 - height : 140, x : x + width] = 1.0
        x += width + int(rng.choice([3, 3, 3, 12]))
    return ink, corners


def test_a_row_of_sorts_cut_in_pieces_is_split_into_its_sorts() -> None:
    ink, corners = _page_with_a_row_of_flowers()
    mask = ink > 0.5

    found = periodic_runs(ink, mask, component_boxes(mask), X_HEIGHT)

    assert len(found) == len(corners)
    for (x, y, w, h), (cx, cy) in zip(sorted(found), corners, strict=True):
        assert abs(x - cx) <= 2 and abs(y - cy) <= 2 and abs(w - 24) <= 3 and abs(h - 24) <= 3


def test_the_sides_of_a_frame_of_sorts_are_split_into_their_sorts() -> None:
    # Seven flowers a side between four solid corner blocks, set 4 px apart: the strokes of
    # all four sides join into one ring, as long as it is broad.
    ink = np.zeros((320, 320), np.float32)
    rows = [(48 + 28 * i, 40) for i in range(7)] + [(48 + 28 * i, 264) for i in range(7)]
    columns = [(20, 68 + 28 * i) for i in range(7)] + [(244, 68 + 28 * i) for i in range(7)]
    for x, y in rows:
        _flower(ink, x, y)
    turned = np.zeros((24, 24), np.float32)
    _flower(turned, 0, 0)
    for x, y in columns:  # turned a quarter, as the sides of a frame are set
        ink[y : y + 24, x : x + 24] = np.rot90(turned)
    for x, y in [(20, 40), (244, 40), (20, 264), (244, 264)]:
        ink[y : y + 24, x : x + 24] = 1.0
    mask = ink > 0.5

    found = periodic_runs(ink, mask, component_boxes(mask), X_HEIGHT)

    assert sorted((x, y) for x, y, _, _ in found) == sorted(rows + columns)


def test_only_four_sides_round_an_empty_inside_are_read_as_a_frame() -> None:
    box = (0, 0, 100, 100)
    sides = [(0, 0, 100, 10), (0, 90, 100, 10), (0, 10, 10, 80), (90, 10, 10, 80)]

    assert len(_straight_runs(np.array(sides), box, 4, 2)) == 4
    # Three sides (a word's bottom band under its ascenders, say) are no ring...
    assert _straight_runs(np.array(sides[1:]), box, 4, 2) == []
    # ...and neither is a frame round its text, nor a paragraph.
    assert _straight_runs(np.array([*sides, (20, 20, 60, 60)]), box, 4, 2) == []


def test_a_line_of_text_is_not_a_run_of_sorts() -> None:
    ink, _ = _page_with_a_row_of_flowers()
    ink[:100] = 0.0  # only the text line is left
    mask = ink > 0.5

    assert periodic_runs(ink, mask, component_boxes(mask), X_HEIGHT) == []


def test_thin_swashes_set_touching_are_split_one_by_one() -> None:
    # Twelve swashes 24 x 115 (a fifth as wide as tall), joined by a hairline at mid-height.
    ink = np.zeros((160, 340), np.float32)
    for i in range(12):
        x = 20 + 24 * i
        ink[20:135, x + 2 : x + 8] = 1.0  # the stem
        ink[20:28, x + 8 : x + 20] = 1.0  # the head
        ink[127:135, x : x + 4] = 1.0  # the foot
    ink[76:78, 20 : 20 + 24 * 12] = 1.0
    mask = ink > 0.5

    parts = split_touching(ink, mask, (20, 20, 24 * 12, 115))

    assert len(parts) == 12
    assert all(abs(w - 24) <= 4 and h == 115 for _, _, w, h in parts)


def _hollow_sort() -> np.ndarray:
    """A 24 x 24 square sort with one thick side and a dot, so that its mirror image differs."""
    sort = np.zeros((24, 24), np.float32)
    sort[:, :8] = 1.0
    sort[:3] = 1.0
    sort[-3:] = 1.0
    sort[:, -2:] = 1.0
    sort[6:10, 12:16] = 1.0
    return sort


def test_a_row_alternating_a_sort_and_its_mirror_image_is_split_one_by_one() -> None:
    # The row's period holds two sorts (the sort, then its mirror image): cut at the period
    # alone, it would be read as pairs.
    ink = np.zeros((120, 400), np.float32)
    corners = [(20 + 28 * i, 40) for i in range(10)]
    for i, (x, y) in enumerate(corners):
        ink[y : y + 24, x : x + 24] = _hollow_sort()[:, ::-1] if i % 2 else _hollow_sort()
    mask = ink > 0.5

    found = periodic_runs(ink, mask, component_boxes(mask), X_HEIGHT)

    assert sorted(found) == [(x, y, 24, 24) for x, y in corners]


def test_a_sort_of_two_mirrored_strokes_closer_than_the_sorts_is_not_cut_in_two() -> None:
    bracket = np.zeros((24, 11), np.float32)
    bracket[:, :4] = 1.0
    bracket[:4] = 1.0
    bracket[-4:] = 1.0
    # Each sort is a bracket and its mirror image, 1 pixel apart; the sorts stand 5 apart.
    ink = np.zeros((120, 400), np.float32)
    corners = [(20 + 28 * i, 40) for i in range(10)]
    for x, y in corners:
        ink[y : y + 24, x : x + 11] = bracket
        ink[y : y + 24, x + 12 : x + 23] = bracket[:, ::-1]
    mask = ink > 0.5

    found = periodic_runs(ink, mask, component_boxes(mask), X_HEIGHT)

    assert sorted(found) == [(x, y, 23, 24) for x, y in corners]


def test_a_word_of_touching_letters_is_not_cut_at_its_stems() -> None:
    # Eight stems 24 px apart joined at the foot, as "llum" set touching: every other stem
    # rises as an ascender, so the parts a stem period apart are not one block repeated.
    ink = np.zeros((120, 260), np.float32)
    for i in range(8):
        x = 20 + 24 * i
        top = 20 if i % 2 == 0 else 50
        ink[top:100, x + 8 : x + 16] = 1.0
    ink[94:100, 20 : 20 + 24 * 8] = 1.0
    run = (20, 20, 24 * 8, 80)

    assert split_touching(ink, ink > 0.5, run) == [run]


def _band_ending_in_half_a_corner() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Ten 30 x 80 blocks (a ring and a bar) joined by a hairline, then 17 px of a corner
    block touching the last: the run is 10.6 periods long."""
    ink = np.zeros((120, 360), np.float32)
    for i in range(10):
        x = 10 + 30 * i
        ink[20:100, x + 3 : x + 27] = 1.0
        ink[30:90, x + 8 : x + 22] = 0.0
        ink[55:65, x + 12 : x + 18] = 1.0
    ink[59:61, 10:327] = 1.0
    ink[20:100, 310:327] = 1.0
    return ink, (10, 20, 317, 80)


def test_a_band_holding_part_of_a_corner_block_is_cut_into_its_whole_blocks() -> None:
    ink, run = _band_ending_in_half_a_corner()

    parts = split_touching(ink, ink > 0.5, run, partial_from=40)

    # Each part runs from hairline to hairline; the corner's 17 px are no part.
    assert _cut_at(parts, [10 + 30 * i for i in range(11)])


def test_a_band_whose_end_block_is_worn_is_cut_at_its_joins() -> None:
    # Ten 30 x 80 blocks (a ring and a bar) joined by a hairline, the first worn away on its
    # left: the run is 9.83 periods long, and ten even parts would each take a sliver of the
    # next block's ring.
    ink, _ = _band_ending_in_half_a_corner()
    ink[:, 310:] = 0.0
    ink[:, :15] = 0.0

    parts = split_touching(ink, ink > 0.5, (15, 20, 295, 80))

    assert _cut_at(parts, [15] + [10 + 30 * i for i in range(1, 10)] + [310])


def test_a_sliver_of_another_block_at_the_end_of_a_band_is_left_out() -> None:
    ink, _ = _band_ending_in_half_a_corner()
    ink[:, 315:] = 0.0  # 5 px of the corner block stay, touching the last block

    parts = split_touching(ink, ink > 0.5, (10, 20, 305, 80))

    assert _cut_at(parts, [10 + 30 * i for i in range(11)])


def _cut_at(parts: list[tuple[int, int, int, int]], joins: list[int]) -> bool:
    """Whether the run's parts, one per pair of consecutive ``joins``, each begin and end
    within 3 px of them: one ring whole and none of the next (6 px of hairline lie between
    one ring and the next)."""
    ordered = sorted(parts)
    return len(ordered) == len(joins) - 1 and all(
        abs(x - start) <= 3 and abs(x + w - end) <= 3
        for (x, _, w, _), start, end in zip(ordered, joins[:-1], joins[1:], strict=True)
    )


def test_a_run_narrower_than_partial_from_is_cut_only_into_whole_periods() -> None:
    # Touching letters of a word make alike stems: a run this narrow stays whole.
    ink, run = _band_ending_in_half_a_corner()

    assert split_touching(ink, ink > 0.5, run, partial_from=100) == [run]


def test_one_long_block_of_parallel_strokes_is_not_cut() -> None:
    # A long engraved rule of slanted hatching: periodic, but every cut would go through ink.
    ink = np.zeros((100, 400), np.float32)
    ink[20:80, 10:390] = 0.6
    for x in range(10, 380, 23):
        for row in range(60):
            ink[20 + row, x + row // 4 : x + row // 4 + 8] = 1.0
    run = (10, 20, 380, 60)

    assert split_touching(ink, ink > 0.5, run, partial_from=40) == [run]


def _triangle(ink: np.ndarray, x: int, y: int, size: int = 24) -> None:
    for row in range(size):
        ink[y + row, x : x + row + 1] = 1.0


def _ring(ink: np.ndarray, x: int, y: int, size: int = 24) -> None:
    ink[y : y + size, x : x + size] = 1.0
    ink[y + 6 : y + size - 6, x + 6 : x + size - 6] = 0.0


def test_a_grid_alternating_two_sorts_is_found_though_no_neighbours_are_alike() -> None:
    # Columns of three, triangles and rings in turn: along a row no neighbours are alike, and
    # a column is too short to be a chain.
    ink = np.zeros((160, 320), np.float32)
    corners = [(20 + 34 * col, 20 + 34 * row) for row in range(3) for col in range(8)]
    for col, (x, y) in enumerate(corners):
        (_triangle if col % 2 == 0 else _ring)(ink, x, y)

    found = chained_repeats(ink, component_boxes(ink > 0.5), X_HEIGHT)

    assert sorted((x, y) for x, y, _, _ in found) == sorted(corners)


def _spaced_triangles(step: tuple[int, int], count: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of 24 px set ``step`` (dx, dy) apart: 20 px of paper between neighbours."""
    ink = np.zeros((300, 300), np.float32)
    corners = [(20 + step[0] * i, 20 + step[1] * i) for i in range(count)]
    for x, y in corners:
        _triangle(ink, x, y)
    return ink, np.array([(x, y, 24, 24) for x, y in corners])


def test_a_row_of_sorts_spaced_nearly_their_breadth_apart_is_chained() -> None:
    ink, sorts = _spaced_triangles((44, 0))

    assert chained_repeats(ink, sorts, X_HEIGHT) == [tuple(box) for box in sorts]
    # Read as close neighbours only, they stand too far apart to chain.
    close_only = RepeatParams(row_gap_fraction=RepeatParams.gap_fraction)
    assert chained_repeats(ink, sorts, X_HEIGHT, params=close_only) == []


def test_alike_shapes_as_far_apart_one_under_another_are_not_chained() -> None:
    # The stems of letters in lines set one under another stand so.
    ink, sorts = _spaced_triangles((0, 44))

    assert chained_repeats(ink, sorts, X_HEIGHT) == []


def test_the_pieces_of_worn_sorts_set_close_are_not_chained_across_the_spaces() -> None:
    # Each sort worn into two mirrored halves 3 px apart; the sorts 18 px apart. Each half
    # has its close neighbour (its other half), so the spaces between sorts chain nothing.
    ink = np.zeros((100, 400), np.float32)
    pieces = []
    for i in range(6):
        x = 20 + 45 * i
        for row in range(24):
            ink[20 + row, x : x + 1 + row // 2] = 1.0
            ink[20 + row, x + 27 - row // 2 : x + 27] = 1.0
        pieces += [(x, 20, 12, 24), (x + 15, 20, 12, 24)]

    assert chained_repeats(ink, np.array(pieces), X_HEIGHT) == []


def test_alike_shapes_with_a_smaller_one_between_them_are_not_a_spaced_row() -> None:
    # "p o p o p": the letter between two alike ones, too small to be a candidate, is ink.
    ink, sorts = _spaced_triangles((44, 0))
    for x, y, _, _ in sorts[:-1]:
        ink[y + 10 : y + 20, x + 29 : x + 39] = 1.0

    assert chained_repeats(ink, sorts, X_HEIGHT) == []


def test_sorts_set_between_blocks_found_already_are_read_as_one_grid_with_them() -> None:
    # Three rows of rings and triangles in turn, the rings found already as blocks: the
    # triangles alone stand in columns of three, too short a chain and too few a group.
    ink = np.zeros((160, 320), np.float32)
    triangles, rings = [], []
    for row in range(3):
        for col in range(8):
            x, y = 20 + 34 * col, 20 + 34 * row
            (_triangle if col % 2 == 0 else _ring)(ink, x, y)
            (triangles if col % 2 == 0 else rings).append((x, y, 24, 24))
    strokes = np.array(triangles)

    alone = chained_repeats(ink, strokes, X_HEIGHT)
    among_the_rings = chained_repeats(ink, strokes, X_HEIGHT, beside=np.array(rings))

    assert alone == []
    assert sorted((x, y) for x, y, _, _ in among_the_rings) == sorted(
        (x, y) for x, y, _, _ in triangles
    )


def test_the_spokes_of_one_flower_are_not_a_grid() -> None:
    # Eight spokes round a centre, each within reach of the next: three designs (an upright
    # bar, a lying hollow bar, a diagonal stroke) set at least twice each and no two alike
    # neighbours, but no row or column of three.
    ink = np.zeros((160, 160), np.float32)
    for dy in (-30, 30):
        ink[80 + dy - 14 : 80 + dy + 14, 76:84] = 1.0
    for dx in (-30, 30):
        ink[74:86, 80 + dx - 14 : 80 + dx + 14] = 1.0
        ink[77:83, 80 + dx - 11 : 80 + dx + 11] = 0.0
    for dx, dy in [(-22, -22), (22, -22), (-22, 22), (22, 22)]:
        x, y = 80 + dx, 80 + dy
        ink[y - 12 : y + 12, x - 12 : x + 12] = np.eye(24) if dx * dy > 0 else np.eye(24)[::-1]
    ink[74:86, 74:86] = 1.0
    spokes = component_boxes(ink > 0.5)

    assert chained_repeats(ink, spokes, X_HEIGHT) == []


def _worn_flower(ink: np.ndarray, x: int, y: int) -> None:
    """A 40 x 40 sort worn into five strokes, each smaller than a sort, 3 px apart."""
    ink[y : y + 8, x : x + 18] = 1.0
    ink[y : y + 8, x + 21 : x + 40] = 1.0
    ink[y + 11 : y + 22, x + 12 : x + 28] = 1.0
    ink[y + 25 : y + 40, x + 2 : x + 14] = 1.0
    ink[y + 25 : y + 40, x + 26 : x + 38] = 1.0


def test_sorts_worn_into_strokes_are_chained_by_their_clusters() -> None:
    ink = np.zeros((200, 500), np.float32)
    corners = [(20 + 56 * i, 40) for i in range(6)]
    for x, y in corners:
        _worn_flower(ink, x, y)
    strokes = component_boxes(ink > 0.5)
    x_height = 40.0

    assert chained_repeats(ink, strokes, x_height) == []  # no stroke repeats as a sort
    found = chained_repeats(ink, stroke_clusters(strokes, x_height, RepeatParams()), x_height)
    assert sorted(found) == [(x, y, 40, 40) for x, y in corners]


def _worn_tiles(step: int = 44, drop: int = 0, stagger: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six impressions of one 40 x 40 tile (a frame and its diagonals) set ``step`` px apart,
    every other one ``drop`` px lower, the last three ``stagger`` px further, each with a
    third of its ink worn away at random: neighbours are 0.84-0.87 alike, under
    ``likeness``."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:40, :40] / 39 * 2 - 1
    tile = (np.abs(xx) > 0.75) | (np.abs(yy) > 0.75) | (np.abs(np.abs(xx) - np.abs(yy)) < 0.25)
    ink = np.zeros((100, 400), np.float32)
    boxes = []
    for i in range(6):
        x, y = 20 + step * i + stagger * (i >= 3), 30 + drop * (i % 2)
        ink[y : y + 40, x : x + 40] = tile & (rng.random((40, 40)) >= 0.3)
        boxes.append((x, y, 40, 40))
    return ink, np.array(boxes)


def test_worn_impressions_of_a_block_broader_than_any_letter_are_chained() -> None:
    ink, tiles = _worn_tiles()

    assert chained_repeats(ink, tiles, x_height=20.0) == [tuple(tile) for tile in tiles]
    # As broad as a letter (under 1.5 x-heights of 30 px), their pieces not counted and their
    # even setting not read, they must be alike as sorts are.
    by_size_alone = RepeatParams(worn_from_pieces=10**6, min_even=10**6)
    assert chained_repeats(ink, tiles, x_height=30.0, params=by_size_alone) == []


def test_worn_impressions_in_many_pieces_are_chained_though_as_small_as_letters() -> None:
    # Worn away at random, each tile holds many pieces inside it: no letter does.
    ink, tiles = _worn_tiles()

    assert chained_repeats(ink, tiles, x_height=30.0) == [tuple(tile) for tile in tiles]


def test_worn_sorts_set_evenly_in_a_row_need_be_alike_only_as_worn_blocks() -> None:
    # As broad as a letter and their pieces not counted: six of one size at one pitch.
    by_setting = RepeatParams(worn_from_pieces=10**6)
    ink, tiles = _worn_tiles()

    assert chained_repeats(ink, tiles, x_height=30.0, params=by_setting) == [
        tuple(tile) for tile in tiles
    ]
    seven_needed = RepeatParams(worn_from_pieces=10**6, min_even=7)
    assert chained_repeats(ink, tiles, x_height=30.0, params=seven_needed) == []
    # Three of them set 10 px further: two pitches, as letters stand.
    ink, tiles = _worn_tiles(stagger=10)
    assert chained_repeats(ink, tiles, x_height=30.0, params=by_setting) == []


def test_worn_sorts_spaced_in_a_row_need_not_be_alike_as_close_sorts() -> None:
    # As broad as a letter, 26 px of blank paper apart, every other one set 12 px lower (a
    # turned sort's ink sits otherwise in its body): no word sets its letters so.
    ink, tiles = _worn_tiles(step=66, drop=12)

    assert chained_repeats(ink, tiles, x_height=30.0) == [tuple(tile) for tile in tiles]
    strict = RepeatParams(spaced_likeness=RepeatParams.likeness)
    assert chained_repeats(ink, tiles, x_height=30.0, params=strict) == []


def test_the_pieces_of_a_broken_hairline_are_no_sorts() -> None:
    # A rule one pixel thin, broken every 48 px (a skewed scan steps it): alike dashes.
    ink = np.zeros((40, 700), np.float32)
    dashes = [(20 + 64 * i, 20, 48, 1) for i in range(10)]
    for x, y, w, h in dashes:
        ink[y : y + h, x : x + w] = 1.0

    assert chained_repeats(ink, np.array(dashes), x_height=25.0) == []
    any_thickness = RepeatParams(min_thickness_in_x_heights=0.0)
    assert chained_repeats(ink, np.array(dashes), x_height=25.0, params=any_thickness) == dashes


def test_only_square_shapes_holding_pieces_away_from_their_edges_count_as_many_pieces() -> None:
    ink = np.zeros((100, 400), np.float32)
    for x in (10, 20, 30):  # three dots inside a 40 x 40 square, and a bar across it
        ink[20:24, x + 10 : x + 14] = 1.0
    ink[35:38, 15:45] = 1.0
    ink[60:100, 100:140] = 1.0  # a square of ink and, beside it, four strokes along its edges
    ink[0:40, 200:202] = ink[0:40, 238:240] = ink[0:2, 200:240] = ink[38:40, 200:240] = 1.0
    for x in range(260, 380, 30):  # four dots inside a long box, as the letters of a word
        ink[10:14, x + 10 : x + 14] = 1.0
    boxes = np.array([(10, 10, 40, 40), (100, 60, 40, 40), (200, 0, 40, 40), (260, 0, 120, 24)])

    assert _of_many_pieces(ink, boxes, least=4).tolist() == [True, False, False, False]
    assert _of_many_pieces(ink, boxes, least=5).tolist() == [False, False, False, False]


def test_the_clusters_of_a_line_of_text_are_not_chained() -> None:
    ink, _ = _page_with_a_row_of_flowers()
    ink[:100] = 0.0  # only the text line is left
    strokes = component_boxes(ink > 0.5)
    x_height = 40.0  # clusters strokes 4 px apart: the letters of each word join

    clusters = stroke_clusters(strokes, x_height, RepeatParams())

    assert len(clusters) < len(strokes)
    assert chained_repeats(ink, clusters, x_height) == []


def test_a_long_band_holding_a_broader_block_is_cut_at_the_joins_on_both_sides() -> None:
    # Fourteen 30 x 80 blocks joined by a hairline, a 45 px block set among them after the
    # seventh: the joins after it are a third of a period off those before, so one phase
    # for the whole band cuts through half its blocks. Narrower than partial_from, but
    # longer than long_from: no word.
    ink = np.zeros((120, 520), np.float32)
    joins = [10 + 30 * i for i in range(8)] + [265 + 30 * i for i in range(8)]
    for x in joins[:7] + joins[8:-1]:
        ink[20:100, x + 3 : x + 27] = 1.0
        ink[30:90, x + 8 : x + 22] = 0.0
        ink[55:65, x + 12 : x + 18] = 1.0
    ink[40:80, 223:262] = 1.0
    ink[59:61, 10:475] = 1.0

    parts = split_touching(ink, ink > 0.5, (10, 20, 465, 80), partial_from=100, long_from=400)

    assert _cut_at(parts, joins)


def test_a_word_of_alike_stems_shorter_than_long_from_is_not_read_in_part() -> None:
    # "minimum" set solid: twenty stems 4 px broad, 10 px apart, joined at the foot, and a
    # round letter among them, so the word is not a whole number of periods long. Its stems
    # are alike, so only its length, under ``long_from``, keeps it whole.
    ink = np.zeros((60, 260), np.float32)
    for i in range(20):
        x = 10 + 10 * i + (14 if i >= 10 else 0)
        ink[20:40, x : x + 4] = 1.0
    ink[22:38, 110:122] = 1.0
    ink[38:40, 10:224] = 1.0
    word = (10, 20, 214, 20)

    assert split_touching(ink, ink > 0.5, word, partial_from=40, long_from=240) == [word]
    assert len(split_touching(ink, ink > 0.5, word, partial_from=40, long_from=200)) > 1
