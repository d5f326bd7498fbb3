"""Composite ornaments as printers set them: bands, head-pieces, rosettes, frames, corners,
tail-pieces, each a list of placed blocks of one to three designs at one scale.

Every builder takes the space it may fill and returns ``None`` when even its smallest form does
not fit, so the page can retry at a smaller scale. Spacing, counts, patterns and orientations are
all drawn, because the detector must learn blocks, not one house style; blocks touch (gap 0)
often, as they do in real forme work, but never overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from service.dihedral import IDENTITY, Orientation, compose
from training.synth.geometry import (
    FLIP,
    MIRROR,
    TURN,
    Block,
    Cell,
    Ornament,
    Placement,
    flip,
    mirror,
    overlapping,
    row,
    stack,
    symmetric_row,
    translate,
    turn,
)

Rng = np.random.Generator
KINDS = ("band", "headpiece", "rosette", "frame", "corner", "tailpiece")
HALF_TURN = compose(TURN, TURN)


def _gap(rng: Rng, blocks: Sequence[Block]) -> int:
    """Space between neighbouring blocks, relative to the blocks' size; a quarter touch."""
    if rng.random() < 0.25:
        return 0
    unit = max(min(b.width, b.height) for b in blocks)
    return int(round(unit * rng.uniform(0.02, 0.35)))


def _orientation(rng: Rng) -> Orientation:
    """How a pattern's first block is set: mostly upright, often turned or mirrored."""
    rotation = 0 if rng.random() < 0.55 else int(rng.choice([90, 180, 270]))
    return Orientation(rotation, bool(rng.random() < 0.25))


def _cycle(rng: Rng, blocks: Sequence[Block], base: Orientation) -> list[Cell]:
    """The repeating unit of a band or edge: one block, alternations, turned or mirrored pairs."""
    first, *others = blocks
    other = others[0] if others else first
    patterns: list[list[Cell]] = [
        [(first, base)],
        [(first, base), (other, base)],
        [(first, base), (first, compose(base, MIRROR))],
        [(first, base), (first, compose(base, HALF_TURN))],
        [(first, base), (other, compose(base, TURN))],
        [(first, base), (first, compose(base, FLIP))],
    ]
    if len(others) >= 2:
        patterns.append([(first, base), (others[0], base), (others[1], base), (others[0], base)])
    return patterns[int(rng.integers(len(patterns)))]


def _width(cells: Sequence[Cell], gap: int) -> int:
    return sum(b.size(o)[0] for b, o in cells) + gap * max(len(cells) - 1, 0)


def _fill(cycle: Sequence[Cell], gap: int, length: float, at_least: int = 1) -> list[Cell]:
    """As many cells of ``cycle`` (repeated) as fit in ``length``, but at least ``at_least``."""
    cells: list[Cell] = []
    while True:
        candidate = cells + [cycle[len(cells) % len(cycle)]]
        if len(cells) >= at_least and _width(candidate, gap) > length:
            return cells
        cells = candidate
        if len(cells) > 200:
            return cells


def _symmetric(
    cycle: Sequence[Cell], centre: Cell | None, gap: int, length: float
) -> list[Placement]:
    centre_width = centre[0].size(centre[1])[0] + gap if centre else gap
    outward = _fill(cycle, gap, (length - centre_width) / 2)
    return symmetric_row(outward, centre, gap)


def band(rng: Rng, blocks: Sequence[Block], max_w: int, max_h: int) -> Ornament:
    """One to three rows of repeated or alternating blocks, plain or symmetric about the centre."""
    gap, base = _gap(rng, blocks), _orientation(rng)
    cycle = _cycle(rng, blocks, base)
    length = max_w * rng.uniform(0.3, 1.0)
    if rng.random() < 0.4:
        centre = (blocks[-1], IDENTITY) if rng.random() < 0.6 else None
        first = _symmetric(cycle, centre, gap, length)
    else:
        first = row(_fill(cycle, gap, length, at_least=2), gap)
    rows, row_gap = [first], _gap(rng, blocks)
    for _ in range(int(rng.choice([0, 0, 0, 0, 1, 1, 2]))):
        rows.append(flip(first, 0) if rng.random() < 0.5 else first)
    return Ornament("band", tuple(stack(rows, row_gap)))


def headpiece(rng: Rng, blocks: Sequence[Block], max_w: int, max_h: int) -> Ornament:
    """Rows mirror-symmetric about a centre block: the left half is mirrored on the right."""
    gap, row_gap = _gap(rng, blocks), _gap(rng, blocks)
    centre_block, *rest = blocks
    fill_blocks = rest or [centre_block]
    length = max_w * rng.uniform(0.45, 1.0)
    n_rows = int(rng.choice([1, 1, 1, 2, 2, 3]))
    shrink = rng.choice([1.0, 0.75, 0.55])  # rectangle, or narrowing like a pyramid
    rows = []
    for i in range(n_rows):
        cycle = _cycle(rng, fill_blocks, _orientation(rng))
        centre = (centre_block, IDENTITY) if i == 0 or rng.random() < 0.5 else None
        rows.append(_symmetric(cycle, centre, gap, length * shrink**i))
    return Ornament("headpiece", tuple(stack(rows, row_gap)))


def _grow(make: Callable[[int], list[Placement]], start: int) -> list[Placement]:
    """The tightest radius at which a ring made by ``make(radius)`` has no overlapping blocks."""
    radius = start
    while overlapping(placements := make(radius)):
        radius += 1
    return placements


def rosette(rng: Rng, blocks: Sequence[Block], max_w: int, max_h: int) -> Ornament:
    """Repeats about a centre: four quarter turns, a mirrored quatrefoil, or a head-to-tail pair,
    with or without a centre block and an outer ring of a second design."""
    gap = _gap(rng, blocks)
    petal, o = blocks[0], _orientation(rng)
    w, h = petal.size(o)
    centre: list[Placement] = []
    if len(blocks) > 1 and rng.random() < 0.5:
        cw, ch = blocks[-1].size(IDENTITY)
        centre = [Placement(blocks[-1], IDENTITY, -(cw // 2), -(ch // 2))]
    variant = rng.choice(["quarters", "cross", "quatrefoil", "pair"])

    def ring(r: int) -> list[Placement]:
        if variant == "cross":
            arm = Placement(petal, o, -(w // 2), -(r + h))
            return centre + [p for k in range(4) for p in turn([arm], k)]
        corner = Placement(petal, o, -(r + w), -(r + h))
        if variant == "quarters":
            return centre + [p for k in range(4) for p in turn([corner], k)]
        if variant == "quatrefoil":
            top = [corner, *mirror([corner], 0)]
            return centre + top + flip(top, 0)
        return centre + [corner, *turn([corner], 2)]

    placements = _grow(ring, (gap + 1) // 2)
    if len(blocks) > 1 and rng.random() < 0.35:
        outer, oo = blocks[1], _orientation(rng)
        ow, oh = outer.size(oo)

        def star(r: int) -> list[Placement]:
            arm = Placement(outer, oo, -(ow // 2), -(r + oh))
            return placements + [p for k in range(4) for p in turn([arm], k)]

        placements = _grow(star, gap)
    return Ornament("rosette", tuple(placements))


def _edge(cells: Sequence[Cell], x0: int, thickness: int, gap: int) -> list[Placement]:
    """A row starting at ``x0``, centred across a band ``thickness`` high from y = 0."""
    return translate(row(cells, gap), x0, thickness // 2)


def _corner_cell(block: Block | None, o: Orientation, thickness: int) -> list[Placement]:
    if block is None:
        return []
    w, h = block.size(o)
    return [Placement(block, o, (thickness - w) // 2, (thickness - h) // 2)]


def _thickness(cycle: Sequence[Cell], corner: Block | None, o: Orientation) -> int:
    edge = max(b.size(c)[1] for b, c in cycle)
    return max(edge, max(corner.size(o)) if corner else 0)


def frame(rng: Rng, blocks: Sequence[Block], max_w: int, max_h: int) -> Ornament:
    """Four edges of the same run of blocks, each turned a quarter from the last, with corner
    pieces turned likewise, around an empty inside (for text or another ornament)."""
    gap = _gap(rng, blocks)
    edge_blocks = blocks[:-1] if len(blocks) > 1 else blocks
    corner = blocks[-1] if len(blocks) > 1 and rng.random() < 0.8 else None
    base = Orientation(int(rng.choice([0, 0, 180, 90])), bool(rng.random() < 0.2))
    cycle, oc = _cycle(rng, edge_blocks, base), _orientation(rng)
    t = _thickness(cycle, corner, oc)
    top = _fill(cycle, gap, max_w * rng.uniform(0.6, 1.0) - 2 * (t + gap), at_least=2)
    side = _fill(cycle, gap, max_h * rng.uniform(0.3, 1.0) - 2 * (t + gap), at_least=1)
    width = 2 * (t + gap) + _width(top, gap)
    height = 2 * (t + gap) + _width(side, gap)
    top_edge = _edge(top, t + gap, t, gap) + _corner_cell(corner, oc, t)
    side_edge = _edge(side, t + gap, t, gap)
    placements = (
        top_edge
        + translate(turn(side_edge + _corner_cell(corner, oc, t), 1), 0, height)
        + translate(turn(top_edge, 2), width, height)
        + translate(turn(side_edge + _corner_cell(corner, oc, t), 3), width, 0)
    )
    inside = (t + gap, t + gap, width - t - gap, height - t - gap)
    return Ornament("frame", tuple(placements), inside)


def corner(rng: Rng, blocks: Sequence[Block], max_w: int, max_h: int) -> Ornament:
    """An L: a corner piece with an arm of blocks along the top and one (turned) down the side,
    drawn as a top-left corner; the page turns it to the other corners. Its interior is the
    space inside the L."""
    gap = _gap(rng, blocks)
    arm_blocks = blocks[:-1] if len(blocks) > 1 else blocks
    piece = blocks[-1] if len(blocks) > 1 or rng.random() < 0.5 else None
    cycle, oc = _cycle(rng, arm_blocks, Orientation(0, bool(rng.random() < 0.3))), _orientation(rng)
    t = _thickness(cycle, piece, oc)
    across = _fill(cycle, gap, max_w * rng.uniform(0.15, 0.5) - t, at_least=1)
    down = _fill(cycle, gap, max_h * rng.uniform(0.1, 0.35) - t, at_least=1)
    width, height = t + gap + _width(across, gap), t + gap + _width(down, gap)
    placements = (
        _corner_cell(piece, oc, t)
        + _edge(across, t + gap, t, gap)
        + translate(turn(_edge(down, 0, t, gap), 1), 0, height)
    )
    return Ornament("corner", tuple(placements), (t + gap, t + gap, width, height))


def tailpiece(rng: Rng, blocks: Sequence[Block], max_w: int, max_h: int) -> Ornament:
    """A triangle pointing down (cul-de-lampe) or a lozenge, in rows symmetric about the axis."""
    gap, row_gap = _gap(rng, blocks), _gap(rng, blocks)
    step, triangle = int(rng.choice([1, 2])), rng.random() < 0.6
    base, mirrored = _orientation(rng), rng.random() < 0.6
    styles = [
        (
            blocks[i % len(blocks)] if rng.random() < 0.5 else blocks[0],
            compose(base, FLIP) if i % 2 and rng.random() < 0.3 else base,
            IDENTITY if rng.random() < 0.5 else None,
        )
        for i in range(16)
    ]
    for widest in range(int(rng.integers(3, 8)), 1, -1):
        if triangle:
            counts = list(range(widest, 0, -step))
        else:
            half = list(range(1 + (widest - 1) % step, widest, step))
            counts = half + [widest] + half[::-1]
        rows = []
        for count, (block, o, upright) in zip(counts, styles, strict=False):
            if mirrored:
                centre = (block, upright or o) if count % 2 else None
                rows.append(symmetric_row([(block, o)] * (count // 2), centre, gap))
            else:
                rows.append(row([(block, o)] * count, gap))
        placements = stack(rows, row_gap)
        if not _too_big(placements, max_w, max_h):
            break
    return Ornament("tailpiece", tuple(placements))


def _too_big(placements: Sequence[Placement], max_w: int, max_h: int) -> bool:
    ornament = Ornament("", tuple(placements))
    return ornament.width > max_w or ornament.height > max_h


BUILDERS = {
    "band": band,
    "headpiece": headpiece,
    "rosette": rosette,
    "frame": frame,
    "corner": corner,
    "tailpiece": tailpiece,
}


def build(kind: str, rng: Rng, blocks: Sequence[Block], max_w: int, max_h: int) -> Ornament | None:
    """An ornament of ``kind`` that fits in ``max_w`` x ``max_h``, else ``None``."""
    if max_w <= 0 or max_h <= 0:
        return None
    ornament = BUILDERS[kind](rng, blocks, max_w, max_h)
    if ornament is None or not ornament.placements or _too_big(ornament.placements, max_w, max_h):
        return None
    return ornament
