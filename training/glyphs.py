"""Ornament glyphs rendered from the fonts with FreeType, as the vignette bank stores them.

Rendering needs freetype-py (the ``train`` extra); loading a bank that is already rendered
(``training.bank.load_bank``) does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import freetype
import numpy as np

EM_PX = 128
MARGIN_PX = 2
MIN_SIDE_PX = 8


@dataclass(frozen=True)
class FontSpec:
    """One ornament font and which of its glyphs are ornaments rather than text."""

    file: str
    label: str
    keep: Callable[[str], bool] = field(default=lambda glyph: True)
    codepoints: tuple[int, ...] = ()  # when set, only these characters (named U+XXXX)


_NOT_GLYPHS = {".notdef", ".null", "nonmarkingreturn", "space", "nobreakspace"}
# Plain text, modern signs and jokes: not printers' ornaments.
_ADF_TEXT = {"section", "bullet"}
_FOURIER_TEXT = {"noway", "warning", "caution", "bomb", "grimace", "thething", "euro"}
# Symbola's et ligatures, ampersands, quotation marks, interrobangs and solidi are letters.
_SYMBOLA_TEXT = set(range(0x1F670, 0x1F67E))

FONTS: tuple[FontSpec, ...] = (
    FontSpec("FeFlow1.otf", "IM Fell Flowers 1"),
    FontSpec("OrnementsADF.pfb", "Ornements ADF", lambda g: g not in _ADF_TEXT),
    FontSpec(
        "FourierOrns-Regular.otf",
        "Fourier Ornaments",
        lambda g: g not in _FOURIER_TEXT and not g.startswith("pilcrow"),
    ),
    FontSpec(
        "Symbola_hint.ttf",
        "Symbola",
        codepoints=tuple(
            c
            for c in (*range(0x1F650, 0x1F680), 0x2619, 0x2766, 0x2767, *range(0x273F, 0x274C))
            if c not in _SYMBOLA_TEXT
        ),
    ),
)


def open_face(path: Path) -> freetype.Face:
    face = freetype.Face(str(path))
    face.set_char_size(EM_PX * 64)
    return face


def _glyph_index(face: freetype.Face, glyph: str) -> int:
    if glyph.startswith("U+"):
        index = face.get_char_index(int(glyph[2:], 16))
    else:
        index = face.get_name_index(glyph.encode())
    if not index:
        raise KeyError(f"glyph {glyph!r} not in {face.family_name.decode()}")
    return int(index)


def _render_index(face: freetype.Face, index: int) -> np.ndarray:
    # No hinting: grid fitting would make a glyph and its rotated twin differ more than they are.
    face.load_glyph(index, freetype.FT_LOAD_RENDER | freetype.FT_LOAD_NO_HINTING)
    bitmap = face.glyph.bitmap
    if not bitmap.rows or not bitmap.width:
        return np.zeros((0, 0), dtype=np.float32)
    coverage = np.array(bitmap.buffer, dtype=np.uint8).reshape(bitmap.rows, bitmap.pitch)
    return _crop(coverage[:, : bitmap.width].astype(np.float32) / 255.0)


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink)
    if not rows.size:
        return np.zeros((0, 0), dtype=np.float32)
    tight = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return np.pad(tight, MARGIN_PX).astype(np.float32)


def render_glyph(font_path: Path, glyph: str) -> np.ndarray:
    """Ink (float32, 1 = ink) of one glyph (glyph name or ``U+XXXX``), rendered as the bank does."""
    face = open_face(font_path)
    return _render_index(face, _glyph_index(face, glyph))


def _font_glyphs(face: freetype.Face, spec: FontSpec) -> Iterator[tuple[str, int]]:
    if spec.codepoints:
        for code in spec.codepoints:
            if index := face.get_char_index(code):
                yield f"U+{code:04X}", int(index)
        return
    for index in range(face.num_glyphs):
        name = face.get_glyph_name(index).decode()
        if name not in _NOT_GLYPHS and spec.keep(name):
            yield name, index


def usable_glyphs(face: freetype.Face, spec: FontSpec) -> Iterator[tuple[str, np.ndarray]]:
    """Glyphs with enough ink to be a block, exact duplicates dropped."""
    seen: set[tuple[tuple[int, ...], bytes]] = set()
    for glyph, index in _font_glyphs(face, spec):
        ink = _render_index(face, index)
        if max(ink.shape, default=0) < MIN_SIDE_PX + 2 * MARGIN_PX:
            continue  # blank or a speck
        key = (ink.shape, ink.tobytes())
        if key not in seen:
            seen.add(key)
            yield glyph, ink
