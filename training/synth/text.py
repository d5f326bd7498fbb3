"""Lines of IM Fell text (the Fell types, cut c. 1670) set among the ornaments.

Glyphs are rendered once per face and size and pasted, because FreeType renders these CFF
outlines slowly and a page sets a few thousand letters; hand-set type had no kerning anyway.
The words are pseudo-Latin and English of the period, with long s, so that text looks like text
to a detector (stroke widths, x-height, word spaces) without meaning anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

from training.synth.geometry import paste

FONTS_DIR = Path(__file__).resolve().parents[3] / "shared" / "fonts"
ROMAN, ITALIC = "IMFeENrm28P.otf", "IMFeENit28P.otf"

WORDS = (
    "et in ad de cum non per quod sed ut est qui quae quam sunt hoc enim nec vel atque autem "
    "tamen etiam ergo igitur inter post ante sine super contra propter apud omnia regis populi "
    "historia liber capitulum anno domini gratia fide verbum tempore ecclesiae principis urbis "
    "magna rerum gestarum memoria virtute honore consilio senatus imperium bellum pacem terra "
    "mari caelum natura animus corpus vita mors lex iure ratio opera libri doctrina scientia "
    "the of and to in that is was for with his which as by be it not this are from or have had "
    "upon their they shall all been so him were more when there being such great unto into "
    "hath doth thereof whereof our king lord church people city history book chapter year "
    "grace faith word time prince council war peace land sea heaven nature soul body life death "
    "law reason works learning said also very most some other first made many good same "
    "several author reader treatise discourse observations account publick kingdom majesty "
    "le la les des du et en un une qui que dans pour par sur avec est sont roi histoire livre"
).split()
CAPITAL_WORDS = ("THE", "OF", "AND", "HISTORY", "LIBER", "CAP", "BOOK", "CHAP", "A", "TREATISE")


@dataclass(frozen=True)
class Glyph:
    ink: np.ndarray  # uint8 coverage, 255 = ink
    dx: int  # offset of the bitmap from the pen position on the baseline
    dy: int
    advance: float


class Face:
    """One font at one pixel size, with its glyphs rendered once."""

    def __init__(self, path: Path, size: int) -> None:
        self.font = ImageFont.truetype(str(path), size)
        self.size = size
        self.ascent, self.descent = self.font.getmetrics()
        self._glyphs: dict[str, Glyph] = {}
        self._widths: dict[str, float] = {}

    def glyph(self, char: str) -> Glyph:
        if char not in self._glyphs:
            mask, (dx, dy) = self.font.getmask2(char, anchor="ls")
            width, height = mask.size
            ink = np.asarray(mask, dtype=np.uint8).reshape(height, width)
            self._glyphs[char] = Glyph(ink, dx, dy, self.font.getlength(char))
        return self._glyphs[char]

    def width(self, text: str) -> float:
        if text not in self._widths:
            self._widths[text] = sum(self.glyph(c).advance for c in text)
        return self._widths[text]

    def draw(self, canvas: np.ndarray, text: str, x: float, baseline: int) -> None:
        """Paste ``text`` onto ``canvas`` (uint8, 255 = ink), clipped to the canvas."""
        for char in text:
            glyph = self.glyph(char)
            paste(canvas, glyph.ink, int(round(x)) + glyph.dx, baseline + glyph.dy)
            x += glyph.advance


class Typesetter:
    """The case of type for a run: faces by style and size, from ``fonts_dir``."""

    def __init__(self, fonts_dir: Path | None = None) -> None:
        self.fonts_dir = Path(fonts_dir) if fonts_dir is not None else FONTS_DIR
        for name in (ROMAN, ITALIC):
            if not (self.fonts_dir / name).is_file():
                raise FileNotFoundError(f"IM Fell font {name} not found in {self.fonts_dir}")

    def face(self, size: int, italic: bool = False) -> Face:
        return _face(self.fonts_dir / (ITALIC if italic else ROMAN), int(size))


@lru_cache(maxsize=16)
def _face(path: Path, size: int) -> Face:
    return Face(path, size)


def words(rng: np.random.Generator, count: int, long_s: bool = True) -> list[str]:
    """Pseudo-text: period words, some capitalised or punctuated, with long s where printers
    used it (never at the end of a word)."""
    out = []
    for index in rng.integers(len(WORDS), size=count):
        word = WORDS[index]
        if rng.random() < 0.08:
            word = word.capitalize()
        if long_s and len(word) > 1:
            word = word[:-1].replace("s", "\u017f") + word[-1]
        if rng.random() < 0.1:
            word += str(rng.choice([",", ",", ";", ":", "."]))
        out.append(word)
    return out


def title(rng: np.random.Generator, count: int) -> str:
    """A line of capitals, as in chapter titles and title pages."""
    pool = CAPITAL_WORDS + tuple(w.upper() for w in words(rng, 8, long_s=False))
    return " ".join(pool[i] for i in rng.integers(len(pool), size=count))


def set_paragraph(
    canvas: np.ndarray,
    rng: np.random.Generator,
    face: Face,
    x0: int,
    x1: int,
    baseline: int,
    lines: int,
    leading: int,
    indent: int = 0,
) -> int:
    """Set ``lines`` justified lines (the last one ragged) from ``baseline``; returns the
    baseline of the next line."""
    space = face.width(" ")
    pending: list[str] = []
    for line in range(lines):
        start = x0 + (indent if line == 0 else 0)
        if len(pending) < 40:
            pending = words(rng, 80) + pending
        chosen = [pending.pop()]
        width = face.width(chosen[0])
        while width + space + face.width(pending[-1]) <= x1 - start:
            chosen.append(pending.pop())
            width += space + face.width(chosen[-1])
            if not pending:
                pending = words(rng, 80)
        last = line == lines - 1
        gap = (
            space if last or len(chosen) == 1 else (x1 - start - width) / (len(chosen) - 1) + space
        )
        x = float(start)
        for word in chosen:
            face.draw(canvas, word, x, baseline)
            x += face.width(word) + gap
        baseline += leading
    return baseline


def set_centred(canvas: np.ndarray, face: Face, text: str, x0: int, x1: int, baseline: int) -> bool:
    """One line centred between ``x0`` and ``x1``, dropping words from the end until it fits;
    ``False`` (and nothing set) when not even one word fits."""
    while face.width(text) > x1 - x0:
        if " " not in text:
            return False
        text = text.rsplit(" ", 1)[0]
    face.draw(canvas, text, (x0 + x1 - face.width(text)) / 2, baseline)
    return True
