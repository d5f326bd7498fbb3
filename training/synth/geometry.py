"""Placed blocks in integer page geometry, and the symmetries printers composed them with.

A composition is a list of :class:`Placement` (a block, its orientation, its top-left corner).
Rotating or mirroring a group of placements moves their boxes *and* composes their orientations
through :mod:`service.dihedral`, so a rotated repeat or a mirrored half is recorded with exactly
the orientation its pixels will have. Everything stays in integers: boxes never overlap by
rounding, and ground truth is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from service.dihedral import Orientation, compose

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

TURN = Orientation(90, False)  # a quarter turn counter-clockwise
MIRROR = Orientation(0, True)  # left-right
FLIP = Orientation(180, True)  # top-bottom: a mirror followed by a half turn


@dataclass(frozen=True)
class Block:
    """One design at the scale of one ornament, in its canonical orientation (pixels)."""

    design: str
    width: int
    height: int

    def size(self, orientation: Orientation) -> tuple[int, int]:
        """(width, height) once printed in ``orientation``."""
        if orientation.rotation % 180:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class Placement:
    block: Block
    orientation: Orientation
    x: int
    y: int

    @property
    def box(self) -> Box:
        width, height = self.block.size(self.orientation)
        return self.x, self.y, self.x + width, self.y + height


Cell = tuple[Block, Orientation]


def bounds(boxes: Iterable[Box]) -> Box:
    x0s, y0s, x1s, y1s = zip(*boxes, strict=True)
    return min(x0s), min(y0s), max(x1s), max(y1s)


def extent(placements: Sequence[Placement]) -> Box:
    return bounds(p.box for p in placements)


def translate(placements: Iterable[Placement], dx: int, dy: int) -> list[Placement]:
    return [replace(p, x=p.x + dx, y=p.y + dy) for p in placements]


def turn_box(box: Box) -> Box:
    """``box`` turned a quarter counter-clockwise (on screen) about the origin."""
    x0, y0, x1, y1 = box
    return y0, -x1, y1, -x0


def turn(placements: Iterable[Placement], quarters: int = 1) -> list[Placement]:
    """Rotate a group about the origin by ``quarters`` quarter turns counter-clockwise."""
    out = list(placements)
    for _ in range(quarters % 4):
        turned = []
        for p in out:
            x0, y0, _, _ = turn_box(p.box)
            turned.append(Placement(p.block, compose(p.orientation, TURN), x0, y0))
        out = turned
    return out


def mirror(placements: Iterable[Placement], axis2: int) -> list[Placement]:
    """Mirror a group left-right about the vertical line ``x = axis2 / 2``."""
    out = []
    for p in placements:
        _, _, x1, _ = p.box
        out.append(Placement(p.block, compose(p.orientation, MIRROR), axis2 - x1, p.y))
    return out


def flip(placements: Iterable[Placement], axis2: int) -> list[Placement]:
    """Mirror a group top-bottom about the horizontal line ``y = axis2 / 2``."""
    out = []
    for p in placements:
        _, _, _, y1 = p.box
        out.append(Placement(p.block, compose(p.orientation, FLIP), p.x, axis2 - y1))
    return out


def row(cells: Sequence[Cell], gap: int) -> list[Placement]:
    """Blocks left to right from x = 0, ``gap`` apart, their centres on the line y = 0."""
    out, x = [], 0
    for block, orientation in cells:
        width, height = block.size(orientation)
        out.append(Placement(block, orientation, x, -(height // 2)))
        x += width + gap
    return out


def symmetric_row(outward: Sequence[Cell], centre: Cell | None, gap: int) -> list[Placement]:
    """A row mirror-symmetric about its centre: ``outward`` is the left half read from the centre
    outwards, repeated mirrored on the right, as in a head-piece."""
    placements: list[Placement] = []
    if centre is not None:
        block, orientation = centre
        width, height = block.size(orientation)
        placements.append(Placement(block, orientation, 0, -(height // 2)))
        axis2, right_edge = width, -gap
    else:
        axis2, right_edge = 0, -((gap + 1) // 2)
    left = []
    for block, orientation in outward:
        width, height = block.size(orientation)
        left.append(Placement(block, orientation, right_edge - width, -(height // 2)))
        right_edge -= width + gap
    return placements + left + mirror(left, axis2)


def stack(rows: Sequence[Sequence[Placement]], gap: int) -> list[Placement]:
    """Rows one under the other, ``gap`` apart, centred on the line x = 0."""
    out: list[Placement] = []
    y = 0
    for placements in rows:
        if not placements:
            continue
        x0, y0, x1, y1 = extent(placements)
        out += translate(placements, -x0 - (x1 - x0) // 2, y - y0)
        y += y1 - y0 + gap
    return out


def overlapping(placements: Sequence[Placement]) -> bool:
    """Whether any two blocks overlap (a composition must never do this)."""
    boxes = sorted(p.box for p in placements)
    for i, (_, y0, x1, y1) in enumerate(boxes):
        for a0, b0, _, b1 in boxes[i + 1 :]:
            if a0 >= x1:
                break
            if b0 < y1 and y0 < b1:
                return True
    return False


@dataclass(frozen=True)
class Ornament:
    """A composite: its kind, its placed blocks, and the room it leaves for the page to fill:
    for a frame the empty inside it encloses, for a corner piece the space inside its L."""

    kind: str
    placements: tuple[Placement, ...]
    interior: Box | None = None

    @property
    def box(self) -> Box:
        return extent(self.placements)

    @property
    def width(self) -> int:
        x0, _, x1, _ = self.box
        return x1 - x0

    @property
    def height(self) -> int:
        _, y0, _, y1 = self.box
        return y1 - y0

    def moved_to(self, x: int, y: int) -> Ornament:
        """The same ornament with its box's top-left corner at (x, y)."""
        x0, y0, _, _ = self.box
        dx, dy = x - x0, y - y0
        interior = self.interior
        if interior is not None:
            interior = (interior[0] + dx, interior[1] + dy, interior[2] + dx, interior[3] + dy)
        return Ornament(self.kind, tuple(translate(self.placements, dx, dy)), interior)

    def turned(self, quarters: int) -> Ornament:
        interior = self.interior
        for _ in range(quarters % 4 if interior is not None else 0):
            interior = turn_box(interior)
        return Ornament(self.kind, tuple(turn(self.placements, quarters)), interior)


def paste(canvas: np.ndarray, ink: np.ndarray, x: int, y: int) -> None:
    """Print ``ink`` onto ``canvas`` with its top-left corner at (x, y): where both have ink the
    darker wins, and whatever falls outside the canvas is lost."""
    height, width = ink.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + width, canvas.shape[1]), min(y + height, canvas.shape[0])
    if x1 > x0 and y1 > y0:
        target = canvas[y0:y1, x0:x1]
        np.maximum(target, ink[y0 - y : y1 - y, x0 - x : x1 - x], out=target)
