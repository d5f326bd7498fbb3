"""From placed blocks and set text to a scanned page, keeping the exact ground truth.

The ground-truth box of an instance is the tight box of its block's ink after scaling and
orientation, before any wear or degradation, carried through the page skew point by point (a
skewed box's corners would overstate it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from service.dihedral import Orientation, orient
from training.bank import VignetteBank
from training.synth import degrade
from training.synth.geometry import Block, Box, Ornament, paste

INK_LEVEL = 0.3  # coverage above which a pixel counts as the block's ink (for ground truth)
WEAR_PAD = 3  # pixels of room around a block for its ink to spread


@dataclass(frozen=True)
class Instance:
    design: str
    orientation: Orientation
    ornament: int  # index of its ornament on the page
    box: Box  # x0, y0, x1, y1


@dataclass(frozen=True)
class Scanned:
    pixels: np.ndarray  # uint8 grey
    instances: tuple[Instance, ...]
    ornaments: tuple[tuple[str, Box], ...]  # kind, box (union of its instances)


class BlockInk:
    """Designs resized to the sizes a page asks for, each once."""

    def __init__(self, bank: VignetteBank) -> None:
        self.bank = bank
        self._cache: dict[Block, np.ndarray] = {}

    def __call__(self, block: Block) -> np.ndarray:
        if block not in self._cache:
            source = self.bank.ink(block.design)
            shrinking = block.width * block.height < source.shape[0] * source.shape[1]
            method = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
            image = Image.fromarray(source, mode="F").resize((block.width, block.height), method)
            self._cache[block] = np.clip(np.asarray(image), 0.0, 1.0)
        return self._cache[block]


def _bytes(ink: np.ndarray) -> np.ndarray:
    return np.round(ink * 255).astype(np.uint8)


def draw_ornaments(
    ornaments: Sequence[Ornament],
    canvas: np.ndarray,
    block_ink: BlockInk,
    rng: np.random.Generator | None,
) -> list[tuple[Instance, np.ndarray, np.ndarray]]:
    """Print every block into ``canvas`` (uint8, 255 = ink), worn if ``rng`` is given; returns each
    instance with the coordinates of its unworn ink pixels."""
    out = []
    for index, ornament in enumerate(ornaments):
        for p in ornament.placements:
            ink = orient(block_ink(p.block), p.orientation)
            ys, xs = np.nonzero(ink > INK_LEVEL)
            if not xs.size:
                continue
            xs, ys = xs + p.x, ys + p.y
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            out.append((Instance(p.block.design, p.orientation, index, box), xs, ys))
            if rng is None:
                paste(canvas, _bytes(ink), p.x, p.y)
            else:
                worn = _bytes(degrade.wear(ink, rng, WEAR_PAD))
                paste(canvas, worn, p.x - WEAR_PAD, p.y - WEAR_PAD)
    return out


def skewed_box(xs: np.ndarray, ys: np.ndarray, angle: float, size: tuple[int, int]) -> Box:
    """Tight box of the ink pixels (unit squares centred at x + 0.5, y + 0.5) after the skew."""
    sx, sy = degrade.skew_points(xs + 0.5, ys + 0.5, angle, size)
    half = 0.5 * (abs(np.cos(np.radians(angle))) + abs(np.sin(np.radians(angle))))
    box = (sx.min() - half, sy.min() - half, sx.max() + half, sy.max() + half)
    return int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))


def _clip(box: Box, size: tuple[int, int]) -> Box:
    width, height = size
    x0, y0, x1, y1 = box
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def with_ornaments(
    instances: Sequence[Instance], kinds: Sequence[str]
) -> tuple[tuple[Instance, ...], tuple[tuple[str, Box], ...]]:
    """Each ornament's box (the union of its instances), ornaments left without instances
    dropped and the others renumbered in order."""
    ornaments: list[tuple[str, Box]] = []
    renumbered: list[Instance] = []
    for index, kind in enumerate(kinds):
        members = [i for i in instances if i.ornament == index]
        if not members:
            continue
        x0s, y0s, x1s, y1s = zip(*(i.box for i in members), strict=True)
        renumbered += [replace(i, ornament=len(ornaments)) for i in members]
        ornaments.append((kind, (min(x0s), min(y0s), max(x1s), max(y1s))))
    return tuple(renumbered), tuple(ornaments)


def scan_page(
    text: np.ndarray,
    ornaments: Sequence[Ornament],
    block_ink: BlockInk,
    rng: np.random.Generator,
    *,
    dpi: float,
    degraded: bool,
    verso: np.ndarray | None = None,
    sheet: Box | None = None,
) -> Scanned:
    """Print ``ornaments`` over the set ``text`` (uint8, 255 = ink) and scan the page.

    Undegraded, the page is black ink on white with no wear and no skew: the path on which
    ground truth can be checked pixel for pixel.
    """
    height, width = text.shape
    ink = text.copy()
    printed = draw_ornaments(ornaments, ink, block_ink, rng if degraded else None)
    if not degraded:
        pixels = 255 - ink
        instances = [instance for instance, _, _ in printed]
    else:
        layer = Image.fromarray(ink, mode="L")
        degrade.specks(layer, rng)
        layer = degrade.spread(layer, rng, dpi)
        angle = degrade.skew_angle(rng)
        layer = degrade.skew(layer, angle)
        printed_page = degrade.print_on(degrade.paper(rng, layer.size, verso), layer, rng)
        pixels = degrade.scan(printed_page, rng, dpi, sheet)
        instances = [
            Instance(
                i.design, i.orientation, i.ornament, skewed_box(xs, ys, angle, (width, height))
            )
            for i, xs, ys in printed
        ]
    instances = [
        Instance(i.design, i.orientation, i.ornament, _clip(i.box, (width, height)))
        for i in instances
    ]
    return Scanned(pixels, *with_ornaments(instances, [o.kind for o in ornaments]))


def _contains(outer: Box, inner: Box) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def _cut(crop: Box, instances: Sequence[Instance]) -> list[Box]:
    """Boxes of the instances that ``crop`` would cut through."""
    return [
        i.box
        for i in instances
        if crop[0] < i.box[2]
        and i.box[0] < crop[2]
        and crop[1] < i.box[3]
        and i.box[1] < crop[3]
        and not _contains(crop, i.box)
    ]


def crop_ornament(scanned: Scanned, rng: np.random.Generator) -> tuple[Scanned, Box]:
    """One ornament of the page with a margin of paper (and whatever text or edge is there),
    and the crop's box in the page.

    The margin shrinks until no block is cut by the crop, and where blocks of another ornament
    reach into this one's box the crop takes them in whole: every block in the crop is entire
    and annotated.
    """
    _, (x0, y0, x1, y1) = scanned.ornaments[int(rng.integers(len(scanned.ornaments)))]
    height, width = scanned.pixels.shape
    margins = rng.uniform(0.02, 0.3, size=4) * max(x1 - x0, y1 - y0) + rng.uniform(4, 40, size=4)
    for shrink in (1.0, 0.5, 0.25, 0.0):
        left, top, right, bottom = (int(m * shrink) for m in margins)
        crop = (
            max(x0 - left, 0),
            max(y0 - top, 0),
            min(x1 + right, width),
            min(y1 + bottom, height),
        )
        if not _cut(crop, scanned.instances):
            break
    while cut := _cut(crop, scanned.instances):
        x0s, y0s, x1s, y1s = zip(crop, *cut, strict=True)
        crop = (min(x0s), min(y0s), max(x1s), max(y1s))
    cx, cy = crop[0], crop[1]
    moved = [
        replace(i, box=(i.box[0] - cx, i.box[1] - cy, i.box[2] - cx, i.box[3] - cy))
        for i in scanned.instances
        if _contains(crop, i.box)
    ]
    pixels = np.ascontiguousarray(scanned.pixels[crop[1] : crop[3], crop[0] : crop[2]])
    kinds = [kind for kind, _ in scanned.ornaments]
    return Scanned(pixels, *with_ornaments(moved, kinds)), crop
