"""The collection's established motifs find the impressions that segmentation set aside."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from service.decompose import PageImage
from service.decompose.describe import TemplateDescriber, dihedral_views, template
from service.decompose.dictionary import (
    DictionaryParams,
    best_cutting,
    closest_motifs,
    established_motifs,
    grid_cuttings,
    set_as_bands,
    trusted_matches,
)
from service.decompose.pipeline import (
    BaselineParams,
    _cut_by_the_dictionary,
    _describe,
    _found_by_the_dictionary,
    _Located,
    assemble,
)
from service.decompose.segment import Box, binarize, ink_map

BLOCK, RING = 40, 30


def _flag(pixels: np.ndarray, x: int, y: int) -> Box:
    """A block no turn or mirror maps onto itself: a post with a flag at its top right."""
    pixels[y : y + BLOCK, x : x + 8] = 0
    pixels[y : y + 16, x + 8 : x + BLOCK] = 0
    pixels[y + 24 : y + 30, x + 20 : x + 32] = 0
    return (x, y, BLOCK, BLOCK)


def _ring(pixels: np.ndarray, x: int, y: int) -> Box:
    """A round sort, as alike to itself turned as a letter o."""
    rows, cols = np.ogrid[:RING, :RING]
    radius = np.hypot(rows - RING / 2 + 0.5, cols - RING / 2 + 0.5)
    area = pixels[y : y + RING, x : x + RING]
    area[(radius < RING / 2) & (radius > RING / 2 - 6)] = 0
    return (x, y, RING, RING)


def _page(name: str, kept: list[Box], spares: list[Box], pixels: np.ndarray) -> _Located:
    page = PageImage(name, pixels)
    shapes = np.array(spares, np.int64).reshape(-1, 4)
    return _Located(page, ink_map(pixels), kept, np.zeros((0, 4), np.int64), 20.0, shapes)


def _blank() -> np.ndarray:
    return np.full((120, 400), 240, np.uint8)


def test_the_upright_view_is_the_first_of_the_eight() -> None:
    pixels = _blank()
    boxes = [_flag(pixels, 10, 10), _ring(pixels, 100, 10), (5, 5, 150, 60)]
    ink = ink_map(pixels)
    describer = TemplateDescriber()
    crops = np.stack([template(ink, box, describer.size) for box in boxes])

    upright = describer.upright(crops)

    np.testing.assert_allclose(upright, describer.views(crops)[:, 0], atol=1e-6)
    assert describer.upright(crops[:0]).shape == (0, upright.shape[1])


def test_established_motifs_recur_on_several_pages() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    page_of = np.array([0, 1, 1, 0, 0, 0, 0, 1, 2])
    kept = np.array([True] * 8 + [False])
    params = DictionaryParams(min_members=3, min_pages=2)

    motifs, pages = established_motifs(labels, kept, page_of, params)

    # Motif 1 is on one page only; motif 2 has two kept impressions only.
    assert motifs.tolist() == [0] and pages.tolist() == [2]


def test_the_closest_motif_is_found_under_any_orientation() -> None:
    pixels = _blank()
    flag, ring = _flag(pixels, 10, 10), _ring(pixels, 100, 10)
    ink = ink_map(pixels)
    crops = [ink[y : y + h, x : x + w] for x, y, w, h in (flag, ring)]
    square = np.zeros((2, BLOCK, BLOCK), np.float32)
    square[0], square[1, :RING, :RING] = crops[0], crops[1]
    prototypes = dihedral_views(square)
    turned_mirrored = dihedral_views(square[:1, ::-1, :].transpose(0, 2, 1).copy())[:, 0]

    closest, likeness = closest_motifs(turned_mirrored, prototypes)

    assert closest.tolist() == [0] and likeness[0] > 0.99


def test_a_motif_matching_on_more_pages_than_it_was_found_on_is_refused() -> None:
    motif_of = np.array([0, 0, 1, 1, 1])
    page_of = np.array([3, 3, 4, 5, 6])
    pages_found = np.array([4, 4])

    trusted = trusted_matches(motif_of, page_of, pages_found, share=0.5)

    # Motif 0 matches on one page of the four it was found on; motif 1, on three.
    assert trusted.tolist() == [True, True, False, False, False]


def test_matches_in_a_band_of_four_are_set_as_a_band_and_scattered_ones_are_not() -> None:
    band = [(100 + 45 * i, 50, 40, 40) for i in range(4)]  # a row, 5 px apart
    column = [(20, 100 + 45 * i, 40, 40) for i in range(4)]  # a column
    scattered = [(100, 200, 40, 40), (300, 260, 40, 40), (500, 200, 40, 40), (700, 320, 40, 40)]
    three = [(100 + 45 * i, 400, 40, 40) for i in range(3)]
    boxes = np.array(band + column + scattered + three)
    motif_of = np.array([0] * 4 + [0] * 4 + [0] * 4 + [1] * 3)
    page_of = np.array([0] * 4 + [1] * 4 + [0] * 4 + [0] * 3)

    banded = set_as_bands(boxes, motif_of, page_of, least=4)

    # The row and the column make bands; scattered matches and a row of three do not.
    assert banded.tolist() == [True] * 8 + [False] * 7


def test_a_block_set_aside_is_found_and_a_letter_like_motif_finds_nothing() -> None:
    located = []
    for page in range(4):
        # The flag block, kept on four pages; the ring, kept on two only.
        pixels = _blank()
        kept = [_flag(pixels, 10, 10), _flag(pixels, 60, 10), _flag(pixels, 110, 10)]
        if page < 2:
            kept += [_ring(pixels, 200, 10), _ring(pixels, 240, 10)]
        located.append(_page(f"kept{page}", kept, [], pixels))
    pixels = _blank()
    set_aside = [_flag(pixels, 10, 60), _flag(pixels, 60, 60)]
    located.append(_page("set-aside", [], [*set_aside, (5, 55, 110, 50)], pixels))
    for page in range(3):
        # Rings set aside on three more pages: more pages than the ring was found on.
        pixels = _blank()
        located.append(_page(f"rings{page}", [], [_ring(pixels, 20, 20)], pixels))
    describer = TemplateDescriber()
    findings = _describe(located, describer, None)
    params = BaselineParams()
    first = assemble(findings, params, describer, None)

    found = _found_by_the_dictionary(findings, first, describer, params)

    assert found[:4] == [None] * 4
    # The two blocks, not the box around both (less alike to the block: the likest first).
    assert sorted(found[4] or []) == sorted(set_aside)
    assert found[5:] == [None] * 3


def _spoked_flower(pixels: np.ndarray, x: int, y: int) -> tuple[Box, list[Box], Box]:
    """A 60 x 60 block cut as five pieces: four bars round a hollow square with a flag in it.
    Returns the block, its bars and its middle."""
    pixels[y + 16 : y + 44, x + 16 : x + 44] = 0
    pixels[y + 22 : y + 38, x + 22 : x + 38] = 240
    pixels[y + 25 : y + 30, x + 25 : x + 35] = 0
    bars = [
        (x + 26, y, 8, 14),
        (x + 26, y + 46, 8, 14),
        (x, y + 26, 14, 8),
        (x + 46, y + 26, 14, 8),
    ]
    for bx, by, bw, bh in bars:
        pixels[by : by + bh, bx : bx + bw] = 0
    return (x, y, 60, 60), bars, (x + 13, y + 13, 34, 34)


def test_the_middle_of_a_block_set_aside_is_grown_over_its_kept_pieces() -> None:
    located = []
    for page in range(4):
        pixels = np.full((120, 400), 240, np.uint8)
        kept = [_spoked_flower(pixels, 10 + 100 * i, 20)[0] for i in range(3)]
        located.append(_page(f"whole{page}", kept, [], pixels))
    # Here the flowers' bars, alike to each other, were kept as a motif of their own, and
    # their middles set aside.
    pixels = np.full((120, 400), 240, np.uint8)
    flowers = [_spoked_flower(pixels, 10 + 100 * i, 20) for i in range(3)]
    bars = [bar for _, flower_bars, _ in flowers for bar in flower_bars]
    located.append(_page("pieces", bars, [middle for _, _, middle in flowers], pixels))
    describer = TemplateDescriber()
    findings = _describe(located, describer, None)
    params = BaselineParams()
    first = assemble(findings, params, describer, None)
    assert first.kept[-len(bars) :].all()

    found = _found_by_the_dictionary(findings, first, describer, params)

    assert found[:4] == [None] * 4
    assert sorted(found[4] or []) == sorted(block for block, _, _ in flowers)


def _framed_dot(pixels: np.ndarray, x: int, y: int) -> Box:
    """A second block, unlike the flag: a square frame with a dot in one corner."""
    pixels[y : y + BLOCK, x : x + BLOCK] = 0
    pixels[y + 6 : y + BLOCK - 6, x + 6 : x + BLOCK - 6] = 240
    pixels[y + 10 : y + 20, x + 10 : x + 20] = 0
    return (x, y, BLOCK, BLOCK)


def _merged_pair(
    pixels: np.ndarray, x: int, y: int, first: Callable[..., Box] = _flag
) -> tuple[Box, list[Box]]:
    """A flag (or the ``first`` block) and a framed dot set touching: one box, as
    segmentation reads them."""
    blocks = [first(pixels, x, y), _framed_dot(pixels, x + BLOCK, y)]
    return (x, y, 2 * BLOCK, BLOCK), blocks


def test_a_box_is_cut_evenly_into_cells_trimmed_to_their_ink() -> None:
    pixels = _blank()
    pair, blocks = _merged_pair(pixels, 10, 10)

    cuttings = grid_cuttings(binarize(ink_map(pixels)), pair)

    assert blocks in cuttings
    assert [(10, 10, 80, 20), (10, 30, 80, 20)] in cuttings


def test_a_grid_three_deep_of_merged_pairs_is_cut_into_its_six_blocks() -> None:
    pixels = np.full((160, 200), 240, np.uint8)
    blocks = [block for row in range(3) for block in _merged_pair(pixels, 10, 10 + BLOCK * row)[1]]

    cuttings = grid_cuttings(binarize(ink_map(pixels)), (10, 10, 2 * BLOCK, 3 * BLOCK))

    assert blocks in cuttings


def test_blocks_of_two_sizes_are_cut_at_the_blank_between_them() -> None:
    pixels = _blank()
    flag = _flag(pixels, 10, 10)
    bar = (54, 10, 28, BLOCK)  # a narrower block, four pixels right of the flag
    pixels[10:50, 54:82] = 0

    cuttings = grid_cuttings(binarize(ink_map(pixels)), (10, 10, 72, BLOCK))

    assert [flag, bar] in cuttings


def test_no_cutting_leaves_a_cell_its_ink_hardly_fills() -> None:
    pixels = _blank()
    flag = _flag(pixels, 10, 10)
    pixels[30:33, 70:73] = 0  # a speck where a second block would stand

    cuttings = grid_cuttings(binarize(ink_map(pixels)), (10, 10, 2 * BLOCK, BLOCK))

    # Cut into columns, a cell holds the speck alone; cut into rows, each holds some flag.
    assert flag not in [cell for cells in cuttings for cell in cells]
    assert cuttings and all(cell[0] == 10 for cells in cuttings for cell in cells)


def test_the_cutting_chosen_is_alike_to_motifs_in_its_least_alike_cell() -> None:
    halves: list[Box] = [(0, 0, 10, 10), (10, 0, 10, 10)]
    quarters: list[Box] = [(0, 0, 5, 5), (5, 0, 5, 5), (0, 5, 5, 5), (5, 5, 5, 5)]
    motif, view = np.array([0, 1, 0, 1, 0, 1]), np.array([0, 0, 0, 0, 4, 0])
    alike = np.array([0.9, 0.86, 0.99, 0.99, 0.99, 0.88])

    assert best_cutting([halves, quarters], motif, view, alike, 0.85) == quarters
    assert best_cutting([halves, quarters], motif, view, alike, 0.89) is None
    assert best_cutting([], motif[:0], view[:0], np.zeros(0), 0.85) is None


def test_a_block_is_not_cut_into_one_motif_turned_or_mirrored() -> None:
    halves: list[Box] = [(0, 0, 10, 10), (10, 0, 10, 10)]
    alike = np.array([0.95, 0.95])
    one_motif = np.array([3, 3])

    mirrored = best_cutting([halves], one_motif, np.array([0, 4]), alike, 0.85)
    repeated = best_cutting([halves], one_motif, np.array([2, 2]), alike, 0.85)

    assert mirrored is None and repeated == halves


def test_blocks_merged_on_one_page_are_cut_into_the_collection_s_motifs() -> None:
    located = []
    for page in range(3):
        # Flags and framed dots printed apart: motifs established on three pages.
        pixels = _blank()
        kept = [_flag(pixels, 10 + 50 * i, 10) for i in range(3)]
        kept += [_framed_dot(pixels, 170 + 50 * i, 10) for i in range(3)]
        located.append(_page(f"apart{page}", kept, [], pixels))
    # Here each flag touches a framed dot: three merged pairs, a motif of this page alone.
    pixels = _blank()
    pairs = [_merged_pair(pixels, 10 + 100 * i, 40) for i in range(3)]
    located.append(_page("merged", [pair for pair, _ in pairs], [], pixels))
    # A block found on two pages is a block in its own right, whatever its halves look like.
    for page in range(2):
        pixels = _blank()
        kept = [_merged_pair(pixels, 10 + 100 * i, 40, _framed_dot)[0] for i in range(3)]
        located.append(_page(f"pair block{page}", kept, [], pixels))
    describer = TemplateDescriber()
    findings = _describe(located, describer, None)
    params = BaselineParams()
    first = assemble(findings, params, describer, None)
    assert first.kept.all()
    untouched: list[list[Box] | None] = [None] * len(findings)

    cut = _cut_by_the_dictionary(findings, first, untouched, describer, params)

    assert cut[3] == [block for _, blocks in pairs for block in blocks]
    assert cut[:3] == [None] * 3 and cut[4:] == [None] * 2
