"""One synthetic page: a small octavo or duodecimo leaf, set as a printer would set it.

A page is a vertical flow through the text block: running head, ornaments, titles and
paragraphs, in the patterns of real books (a chapter opening under a head-piece, a chapter end
on a tail-piece, a title page in a frame, text between corner pieces, a leaf of ornaments between
short lines). Anything that no longer fits is left out, as a compositor would.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.bank import Design
from training.synth import layout, text
from training.synth.geometry import Block, Box, Ornament
from training.synth.render import BlockInk, Scanned, scan_page

MAX_SIDE = 3000  # pixels on the long side of a page
MAX_ORNAMENTS = 4
BLOCK_PX = (32, 300)  # smallest and largest long side of a block on the page
BLOCK_MM = (3.0, 20.0)  # physical height of a block


@dataclass(frozen=True)
class Sheet:
    width: int
    height: int
    dpi: float
    block: Box  # the text block


def _sheet(rng: np.random.Generator, page_scale: float) -> Sheet:
    dpi = rng.uniform(300, 600)
    # A duodecimo to a small octavo; the finest scans come from the smallest books, so that no
    # page is more than MAX_SIDE pixels high.
    height_mm = rng.uniform(110, min(200, MAX_SIDE * 25.4 / dpi))
    width_mm = height_mm / rng.uniform(1.45, 1.7)
    dpi *= page_scale
    width, height = round(width_mm / 25.4 * dpi), round(height_mm / 25.4 * dpi)
    inner, outer = rng.uniform(0.09, 0.16, size=2) * width
    left, right = (inner, outer) if rng.random() < 0.5 else (outer, inner)
    top, bottom = rng.uniform(0.07, 0.11) * height, rng.uniform(0.09, 0.15) * height
    block = (round(left), round(top), round(width - right), round(height - bottom))
    return Sheet(width, height, dpi, block)


def _blocks(
    rng: np.random.Generator, designs: Sequence[Design], dpi: float, page_scale: float
) -> list[Block]:
    """The chosen designs at one scale (one ornament is cut to one body size)."""
    target = np.exp(rng.uniform(*np.log(BLOCK_MM))) / 25.4 * dpi
    scale = target / float(np.median([d.height for d in designs]))
    low, high = (px * page_scale for px in BLOCK_PX)
    sides = [max(d.width, d.height) for d in designs]
    scale = min(max(scale, low / min(sides)), high / max(sides))  # the largest bound wins
    return [
        Block(d.id, max(3, round(d.width * scale)), max(3, round(d.height * scale)))
        for d in designs
    ]


class Flow:
    """The compositor's stick moving down a column; ornaments and text share one page."""

    def __init__(
        self,
        rng: np.random.Generator,
        sheet: Sheet,
        designs: Sequence[Design],
        typesetter: text.Typesetter,
        page_scale: float,
    ) -> None:
        self.rng, self.sheet, self.designs, self.page_scale = rng, sheet, designs, page_scale
        self.typesetter = typesetter
        size = round(rng.uniform(9, 14) / 72 * sheet.dpi)  # body type of 9 to 14 points
        self.roman, self.italic = typesetter.face(size), typesetter.face(size, italic=True)
        self.leading = int(self.roman.size * rng.uniform(1.05, 1.3))
        self.canvas = np.zeros((sheet.height, sheet.width), dtype=np.uint8)
        self.ornaments: list[Ornament] = []
        self.x0, self.y, self.x1, self.bottom = sheet.block

    def inside(self, box: Box) -> Flow:
        """A flow in ``box`` (inside a frame), sharing this page's canvas and ornaments."""
        inner = copy.copy(self)  # shallow: the canvas and the ornament list stay shared
        margin = self.leading // 2
        inner.x0, inner.y = box[0] + margin, box[1] + margin
        inner.x1, inner.bottom = box[2] - margin, box[3] - margin
        return inner

    def space(self, lines: float) -> None:
        self.y += int(lines * self.leading)

    def make(self, kind: str, max_w: int, max_h: int) -> Ornament | None:
        """An ornament of ``kind`` from 1-3 designs of the split, shrunk until it fits."""
        if len(self.ornaments) >= MAX_ORNAMENTS or max_w < 8 or max_h < 8:
            return None
        count = min(int(self.rng.choice([1, 1, 2, 2, 3])), len(self.designs))
        chosen = [self.designs[i] for i in self.rng.choice(len(self.designs), count, replace=False)]
        blocks = _blocks(self.rng, chosen, self.sheet.dpi, self.page_scale)
        smallest = 0.75 * BLOCK_PX[0] * self.page_scale
        while True:
            ornament = layout.build(kind, self.rng, blocks, max_w, max_h)
            if ornament is not None:
                return ornament
            blocks = [Block(b.design, b.width * 3 // 4, b.height * 3 // 4) for b in blocks]
            if min(max(b.width, b.height) for b in blocks) < smallest:
                return None

    def ornament(self, kind: str, width: float = 1.0) -> Ornament | None:
        """Set an ornament centred in the column, at most ``width`` of it wide."""
        column = self.x1 - self.x0
        ornament = self.make(kind, int(column * width), self.bottom - self.y)
        if ornament is None:
            return None
        x = self.x0 + (column - ornament.width) // 2
        ornament = ornament.moved_to(x, self.y)
        self.ornaments.append(ornament)
        self.y += ornament.height
        self.space(self.rng.uniform(0.4, 1.5))
        return ornament

    def lines_left(self) -> int:
        return max(0, (self.bottom - self.y) // self.leading)

    def paragraph(self, lines: int | None = None, italic: bool = False) -> None:
        lines = self.lines_left() if lines is None else min(lines, self.lines_left())
        if lines <= 0:
            return
        face = self.italic if italic else self.roman
        indent = int(self.roman.size * self.rng.uniform(0.5, 2.0))
        baseline = self.y + face.ascent
        args = (self.x0, self.x1, baseline, lines, self.leading, indent)
        after = text.set_paragraph(self.canvas, self.rng, face, *args)
        self.y = max(after - face.ascent, after - self.leading + face.descent)

    def title(self, lines: int, scale: float = 1.2, italic: bool = False) -> None:
        for _ in range(lines):
            size = max(4, int(self.roman.size * scale))
            face = self.typesetter.face(size, italic)
            if self.y + face.ascent + face.descent > self.bottom:
                return
            line = text.title(self.rng, int(self.rng.integers(1, 5)))
            if not text.set_centred(
                self.canvas, face, line, self.x0, self.x1, self.y + face.ascent
            ):
                return
            self.y += int((face.ascent + face.descent) * self.rng.uniform(1.05, 1.3))
            scale = max(0.8, scale * self.rng.uniform(0.6, 1.0))

    def running_head(self) -> None:
        """Page number and a short italic head above the text, sometimes under a rule."""
        baseline = self.y + self.roman.ascent
        number = str(int(self.rng.integers(1, 400)))
        at_left = self.rng.random() < 0.5
        x = self.x0 if at_left else self.x1 - self.roman.width(number)
        self.roman.draw(self.canvas, number, x, baseline)
        head = " ".join(text.words(self.rng, int(self.rng.integers(1, 4)))).capitalize()
        clear = int(self.roman.width(number) + self.roman.size)  # keep off the page number
        text.set_centred(self.canvas, self.italic, head, self.x0 + clear, self.x1 - clear, baseline)
        self.y = baseline + self.roman.descent
        if self.rng.random() < 0.4:
            self.space(0.3)
            rule = max(1, int(self.sheet.dpi / 300))
            self.canvas[self.y : self.y + rule, self.x0 : self.x1] = 255
            self.y += rule
        self.space(self.rng.uniform(0.5, 1.2))

    def catchword(self) -> None:
        """The first word of the next page, alone at the foot of the column on the right."""
        word = text.words(self.rng, 1)[0]
        baseline = self.bottom + self.roman.ascent + self.leading // 3
        if baseline + self.roman.descent < self.sheet.height:
            self.roman.draw(self.canvas, word, self.x1 - self.roman.width(word), baseline)


# --- page patterns ----------------------------------------------------------------------------


def _chapter_opening(flow: Flow) -> None:
    rng = flow.rng
    flow.ornament(str(rng.choice(["headpiece", "headpiece", "band", "rosette"])))
    flow.title(int(rng.integers(1, 3)))
    flow.paragraph(int(rng.integers(3, 14)))
    if rng.random() < 0.4:
        flow.space(0.5)
        flow.ornament("band", rng.uniform(0.3, 1.0))
        flow.title(1, scale=1.0)
    if rng.random() < 0.5:
        flow.paragraph(int(rng.integers(2, 10)))
        flow.space(0.5)
        flow.ornament("tailpiece", rng.uniform(0.3, 0.8))
    flow.paragraph()


def _chapter_end(flow: Flow) -> None:
    rng = flow.rng
    flow.paragraph(int(rng.integers(2, 18)))
    flow.space(rng.uniform(0.3, 1.5))
    flow.ornament(
        str(rng.choice(["tailpiece", "tailpiece", "rosette", "band"])), rng.uniform(0.3, 0.9)
    )
    if rng.random() < 0.6:
        flow.space(rng.uniform(0.5, 2.0))
        flow.ornament(str(rng.choice(["headpiece", "band"])))
        flow.title(int(rng.integers(1, 3)))
        flow.paragraph()


def _title_page(flow: Flow) -> None:
    """A title page, its text often inside a frame (passe-partout), with a fleuron or two."""
    rng = flow.rng
    inner = flow
    if rng.random() < 0.7:
        frame = flow.ornament("frame", rng.uniform(0.7, 1.0))
        if frame is not None and frame.interior is not None:
            inner = flow.inside(frame.interior)
    inner.space(rng.uniform(0.2, 1.0))
    inner.title(int(rng.integers(1, 4)), scale=rng.uniform(1.3, 2.2))
    inner.paragraph(int(rng.integers(0, 4)), italic=True)
    inner.space(rng.uniform(0.2, 1.0))
    inner.ornament(
        str(rng.choice(["rosette", "tailpiece", "band", "headpiece"])), rng.uniform(0.2, 0.7)
    )
    inner.title(int(rng.integers(1, 3)), scale=rng.uniform(0.9, 1.3))
    if rng.random() < 0.5:
        inner.ornament("band", rng.uniform(0.4, 1.0))
    inner.title(int(rng.integers(1, 3)), scale=1.0)


def _between_corners(flow: Flow) -> None:
    """Text set between corner pieces, each the same L turned a quarter from the last."""
    rng = flow.rng
    width, height = flow.x1 - flow.x0, flow.bottom - flow.y
    piece = flow.make("corner", width // 2, height // 2)
    if piece is None:
        _chapter_opening(flow)
        return
    x0, y0, x1, y1 = flow.x0, flow.y, flow.x1, flow.bottom
    corners = [(0, x0, y0, 0, 0), (1, x0, y1, 0, 1), (2, x1, y1, 1, 1), (3, x1, y0, 1, 0)]
    if rng.random() < 0.3:
        corners = [corners[0], corners[2]]
    for quarters, x, y, right, below in corners:
        turned = piece.turned(quarters)
        flow.ornaments.append(turned.moved_to(x - right * turned.width, y - below * turned.height))
    inset = piece.interior[0] - piece.box[0] if piece.interior else 0
    inner = flow.inside((x0 + inset, y0 + inset, x1 - inset, y1 - inset))
    if rng.random() < 0.4:
        inner.ornament(str(rng.choice(["band", "headpiece"])))
    inner.title(int(rng.integers(0, 2)))
    inner.paragraph()


def _framed_text(flow: Flow) -> None:
    rng = flow.rng
    frame = flow.ornament("frame")
    if frame is None or frame.interior is None:
        flow.paragraph()
        return
    inner = flow.inside(frame.interior)
    inner.paragraph(int(rng.integers(2, 12)))
    if rng.random() < 0.5:
        inner.ornament("tailpiece", rng.uniform(0.3, 0.8))
    flow.paragraph()


def _ornament_leaf(flow: Flow) -> None:
    """Several ornaments one under the other between short passages (a specimen, an errata or
    an advertisement leaf): dense ornament, little text."""
    rng = flow.rng
    kinds = ["band", "headpiece", "rosette", "tailpiece", "band", "frame"]  # frames stay empty
    for _ in range(MAX_ORNAMENTS):
        flow.ornament(str(rng.choice(kinds)), rng.uniform(0.3, 1.0))
        if rng.random() < 0.6:
            flow.paragraph(int(rng.integers(1, 4)), italic=rng.random() < 0.3)
        flow.space(rng.uniform(0.2, 1.0))


PATTERNS = (
    (_chapter_opening, 0.3),
    (_chapter_end, 0.2),
    (_title_page, 0.15),
    (_between_corners, 0.1),
    (_framed_text, 0.1),
    (_ornament_leaf, 0.15),
)


def _verso(rng: np.random.Generator, sheet: Sheet, typesetter: text.Typesetter) -> np.ndarray:
    """The other side's text at a quarter of the resolution: it only shows through, blurred."""
    verso = np.zeros((sheet.height // 4 + 1, sheet.width // 4 + 1), dtype=np.uint8)
    face = typesetter.face(max(4, round(rng.uniform(9, 14) / 72 * sheet.dpi / 4)))
    x0, y0, x1, y1 = (v // 4 for v in sheet.block)
    lines = max(0, (y1 - y0) // face.size)
    text.set_paragraph(verso, rng, face, x0, x1, y0 + face.ascent, lines, face.size, face.size)
    return verso.astype(np.float32) / 255.0


def _scan_edge(rng: np.random.Generator, sheet: Sheet) -> Box | None:
    """Sometimes the scan shows the scanner bed beyond one or two edges of the sheet."""
    if rng.random() > 0.3:
        return None
    bands = rng.uniform(0.005, 0.04, size=4) * (rng.random(4) < 0.4)
    x0, y0, x1, y1 = sheet.block
    left, top = min(bands[0] * sheet.width, x0 / 2), min(bands[1] * sheet.height, y0 / 2)
    right = min(bands[2] * sheet.width, (sheet.width - x1) / 2)
    bottom = min(bands[3] * sheet.height, (sheet.height - y1) / 2)
    return round(left), round(top), round(sheet.width - right), round(sheet.height - bottom)


def make_page(
    rng: np.random.Generator,
    designs: Sequence[Design],
    block_ink: BlockInk,
    typesetter: text.Typesetter,
    *,
    degraded: bool = True,
    page_scale: float = 1.0,
) -> tuple[Scanned, float]:
    """One scanned page and its dpi. ``page_scale`` < 1 shrinks the whole page (tests)."""
    for _ in range(20):  # a page with no room for any ornament is set again
        sheet = _sheet(rng, page_scale)
        flow = Flow(rng, sheet, designs, typesetter, page_scale)
        if rng.random() < 0.6:
            flow.running_head()
        patterns, weights = zip(*PATTERNS, strict=True)
        patterns[int(rng.choice(len(patterns), p=np.array(weights) / sum(weights)))](flow)
        if flow.ornaments:
            break
    if rng.random() < 0.3:
        flow.catchword()
    verso = _verso(rng, sheet, typesetter) if degraded and rng.random() < 0.7 else None
    edge = _scan_edge(rng, sheet) if degraded else None
    scanned = scan_page(
        flow.canvas,
        flow.ornaments,
        block_ink,
        rng,
        dpi=sheet.dpi,
        degraded=degraded,
        verso=verso,
        sheet=edge,
    )
    return scanned, sheet.dpi
