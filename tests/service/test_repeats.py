"""Small sorts found by their repetition (decompose/repeats.py)."""

from __future__ import annotations

import numpy as np

from service.decompose.repeats import periodic_runs
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


def test_a_line_of_text_is_not_a_run_of_sorts() -> None:
    ink, _ = _page_with_a_row_of_flowers()
    ink[:100] = 0.0  # only the text line is left
    mask = ink > 0.5

    assert periodic_runs(ink, mask, component_boxes(mask), X_HEIGHT) == []
