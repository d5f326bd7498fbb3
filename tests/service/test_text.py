"""Type told from vignettes by reading a candidate in its line (decompose/text.py)."""

from __future__ import annotations

import numpy as np

from service.decompose.segment import component_boxes
from service.decompose.text import (
    between_letters,
    read_among_letters,
    set_in_lines,
    stands_in_a_line,
    text_like,
)

SIZE = 40


def _shape(kind: str, size: int = SIZE) -> np.ndarray:
    """A filled shape in a ``size`` square: distinct kinds stand for distinct letters."""
    yy, xx = np.mgrid[:size, :size] / (size - 1) * 2 - 1
    shapes = {
        "disk": xx**2 + yy**2 <= 1,
        "ring": (xx**2 + yy**2 <= 1) & (xx**2 + yy**2 >= 0.4),
        "cross": (np.abs(xx) < 0.25) | (np.abs(yy) < 0.25),
        "wedge": yy >= np.abs(xx) * 2 - 1,
        "bar": np.abs(yy) < 0.3,
    }
    return shapes[kind].astype(np.float32)


def _line(kinds: list[str], tops: list[int] | None = None, sizes: list[int] | None = None):
    """Shapes set left to right 6 px apart on an ink page, and their boxes."""
    sizes = sizes or [SIZE] * len(kinds)
    tops = tops or [50] * len(kinds)
    ink = np.zeros((200, 60 + 50 * len(kinds)), np.float32)
    boxes, x = [], 30
    for kind, top, size in zip(kinds, tops, sizes, strict=True):
        ink[top : top + size, x : x + size] = _shape(kind, size)
        boxes.append((x, top, size, size))
        x += size + 6
    return ink, boxes


def test_a_large_letter_among_small_distinct_letters_is_type() -> None:
    # Only the cross is large enough to be a candidate; its neighbours are letter strokes.
    ink, boxes = _line(["disk", "wedge", "cross", "ring", "bar"])
    candidate, strokes = [boxes[2]], np.array(boxes[:2] + boxes[3:])

    assert text_like(ink, candidate, strokes).tolist() == [True]


def test_a_band_alternating_two_designs_is_not_type() -> None:
    ink, boxes = _line(["cross", "disk", "cross", "disk", "cross"])
    candidates = [boxes[0], boxes[2], boxes[4]]
    strokes = np.array([boxes[1], boxes[3]])

    assert text_like(ink, candidates, strokes).tolist() == [False, False, False]


def test_distinct_blocks_centred_on_a_band_are_not_type() -> None:
    # Blocks of different sizes centred on one axis share neither a top nor a bottom line,
    # as letters on a baseline do.
    sizes = [24, 40, 30]
    ink, boxes = _line(["disk", "cross", "ring"], tops=[58, 50, 55], sizes=sizes)

    assert text_like(ink, boxes, np.zeros((0, 4), np.int64)).tolist() == [False] * 3


def test_the_candidates_own_strokes_are_not_its_neighbours() -> None:
    # Strokes inside the candidate (its pieces) must not make it look like a word.
    ink, boxes = _line(["cross"])
    x, y, w, h = boxes[0]
    pieces = np.array(
        [(x, y, w // 3, h), (x + w // 3, y, w // 3, h), (x + 2 * w // 3, y, w // 3, h)]
    )

    assert text_like(ink, boxes, pieces).tolist() == [False]


def _sort_of_strokes(ink: np.ndarray, x: int, top: int = 50) -> tuple[int, int, int, int]:
    """A 40 x 40 sort whose upper part is printed as four strokes of different shapes."""
    for offset, kind in zip((0, 10, 20, 30), ("disk", "wedge", "cross", "ring"), strict=True):
        ink[top : top + 24, x + offset : x + offset + 8] = _shape(kind, 24)[:, ::3]
    ink[top + 36 : top + 40, x : x + SIZE] = 1.0  # and a rule beneath them
    return (x, top, SIZE, SIZE)


def test_a_sort_is_read_among_its_band_not_among_the_strokes_of_its_neighbours() -> None:
    ink = np.zeros((200, 400), np.float32)
    band = [_sort_of_strokes(ink, 30 + 46 * i) for i in range(7)]
    strokes = component_boxes(ink > 0.5)
    middle = band[3]

    # Alone, its neighbours are the next sorts' strokes, as unlike each other as letters.
    assert text_like(ink, [middle], strokes).tolist() == [True]
    # Read with the rest of its band, it is one sort among its like.
    assert text_like(ink, [middle], strokes, beside=[*band[:3], *band[4:]]).tolist() == [False]


def _two_lines(upper: list[str], lower: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two lines of shapes set solid: the lower line's tops one pixel below the upper line's
    bottoms, as close as a block's strokes, yet separate components."""
    ink = np.zeros((200, 60 + 50 * max(len(upper), len(lower))), np.float32)
    boxes = []
    for top, kinds in ((50, upper), (50 + SIZE + 1, lower)):
        for index, kind in enumerate(kinds):
            x = 30 + index * (SIZE + 6)
            ink[top : top + SIZE, x : x + SIZE] = _shape(kind, SIZE)
            boxes.append((x, top, SIZE, SIZE))
    return ink, np.array(boxes)


def test_strokes_of_two_tight_lines_of_letters_are_set_in_lines() -> None:
    ink, strokes = _two_lines(["disk", "wedge", "cross", "ring"], ["bar", "ring", "disk", "cross"])
    # A cluster of the middle letters of both lines, as tight as a block's strokes.
    block = (30 + SIZE + 6, 50, 2 * SIZE + 6, 2 * SIZE + 1)

    assert set_in_lines(ink, block, strokes)


def test_strokes_of_a_block_are_not_set_in_lines() -> None:
    # Two rows of one shape, as the petals of an engraved block repeat one design.
    ink, strokes = _two_lines(["wedge"] * 4, ["wedge"] * 4)
    block = (30 + SIZE + 6, 50, 2 * SIZE + 6, 2 * SIZE + 1)

    assert not set_in_lines(ink, block, strokes)


def test_a_word_inside_a_line_stands_in_it_and_a_lone_sort_does_not() -> None:
    ink, boxes = _line(["disk", "wedge", "cross", "ring"])
    word, strokes = boxes[1], np.array(boxes[:1] + boxes[2:])

    assert stands_in_a_line(word, strokes)
    # The same sort on a line of its own, with the text two lines below it.
    assert not stands_in_a_line((word[0], word[1] - 3 * SIZE, SIZE, SIZE), strokes)


def test_a_ligature_twice_as_tall_as_its_letters_stands_in_their_line() -> None:
    # From ascender to descender, an italic long-s ligature spans twice the x-height letters.
    ink, boxes = _line(["disk", "wedge", "cross"], tops=[62, 40, 62], sizes=[40, 84, 40])
    ligature, strokes = boxes[1], np.array([boxes[0], boxes[2]])

    assert stands_in_a_line(ligature, strokes)


def test_a_word_stands_in_a_justified_line_across_its_wide_spaces() -> None:
    # The next word begins 1.2 heights to the right, as a justified line spaces it.
    word = (30, 50, SIZE, SIZE)
    next_word = (30 + SIZE + int(1.2 * SIZE), 50, SIZE, SIZE)
    far_word = (30 + SIZE + 2 * SIZE, 50, SIZE, SIZE)

    assert stands_in_a_line(word, np.array([next_word]))
    assert not stands_in_a_line(word, np.array([far_word]))


def test_a_word_stands_between_letters_and_the_last_sort_of_a_pair_does_not() -> None:
    ink, boxes = _line(["disk", "wedge", "cross", "ring"])

    assert between_letters(boxes[1], np.array([boxes[0], boxes[2]]))
    # Beside the last of two sorts set in a line stands its fellow sort, no letter.
    assert not between_letters(boxes[2], np.array([boxes[3]]))


def test_a_letter_cut_out_of_a_word_reads_among_letters_and_a_sort_in_a_line_does_not() -> None:
    # "sha" set as free letters, then "ll" cut as two instances side by side.
    _, boxes = _line(["disk", "wedge", "cross", "bar", "bar"])
    letters, doubled = np.array(boxes[:3]), np.array(boxes[3:])

    assert read_among_letters(boxes[3], doubled, letters)
    assert read_among_letters(boxes[4], doubled, letters)  # past its fellow, "ha"
    # Two sorts set inside a line have one letter on each side, not two.
    pair, around = np.array(boxes[1:3]), np.array([boxes[0], boxes[3]])
    assert not read_among_letters(boxes[1], pair, around)
    assert not read_among_letters(boxes[2], pair, around)
    # The sorts of a band are read among their fellows only.
    assert not read_among_letters(boxes[2], np.array(boxes), np.zeros((0, 4), np.int64))
