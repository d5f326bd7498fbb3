"""Which glyphs are one block design: rotations and mirrors, and a design's own symmetries."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from service.dihedral import ALL_ORIENTATIONS, IDENTITY, Orientation, orient

#: Two inks show the same block design when, in the best orientation and both scaled to a
#: longest side of ``COMPARE_SIDE`` px, their IoU is at least ``MIN_IOU`` and the part of their
#: difference thicker than 2 px (what survives an opening with a 3x3 square) covers less than
#: ``1 - VARIANT_AGREEMENT`` of their union. The opening discards what rasterisation, wear and
#: hairlines change; it keeps a different petal or leaf. Scaling first makes "2 px" the same
#: fraction of a small flower and of a large frame piece. Measured on these fonts
#: (docs/vignette-bank.md): same designs >= 0.99, different designs <= 0.95.
COMPARE_SIDE = 128
MIN_IOU = 0.6
VARIANT_AGREEMENT = 0.98
#: A design is symmetric under an orientation when it maps onto itself this well (stricter).
SYMMETRY_AGREEMENT = 0.99
_OPENING = np.ones((3, 3), dtype=bool)


def _close(a: int, b: int) -> bool:
    return abs(a - b) <= max(2, 0.1 * max(a, b))


def _binarise_like(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both inks resized to ``b``'s aspect with a longest side of ``COMPARE_SIDE``, binarised."""
    scale = COMPARE_SIDE / max(b.shape)
    size = (round(b.shape[1] * scale), round(b.shape[0] * scale))

    def binarise(ink: np.ndarray) -> np.ndarray:
        resized = Image.fromarray(ink, mode="F").resize(size, Image.Resampling.BILINEAR)
        return np.asarray(resized) > 0.5

    return binarise(a), binarise(b)


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(IoU, structural agreement) of the inks ``a`` and ``b``; zeros when their sizes are too
    different to be the same block."""
    if not (_close(a.shape[0], b.shape[0]) and _close(a.shape[1], b.shape[1])):
        return 0.0, 0.0
    ink_a, ink_b = _binarise_like(a, b)
    union = np.logical_or(ink_a, ink_b).sum()
    if not union:
        return 0.0, 0.0
    iou = np.logical_and(ink_a, ink_b).sum() / union
    thick = ndimage.binary_opening(ink_a ^ ink_b, structure=_OPENING).sum()
    return float(iou), float(1.0 - thick / union)


def _same(scores: tuple[float, float], threshold: float) -> bool:
    return scores[0] >= MIN_IOU and scores[1] >= threshold


def best_orientation(canonical: np.ndarray, other: np.ndarray) -> tuple[Orientation, float, float]:
    """The orientation ``o`` for which ``orient(canonical, o)`` looks most like ``other``, with
    its (IoU, structural agreement)."""
    scored = [(agreement(orient(canonical, o), other), o) for o in ALL_ORIENTATIONS]
    (iou, structure), found = max(scored, key=lambda pair: pair[0])  # first (identity) on ties
    return found, iou, structure


def symmetries(ink: np.ndarray) -> tuple[Orientation, ...]:
    found = [
        o
        for o in ALL_ORIENTATIONS
        if o == IDENTITY or _same(agreement(orient(ink, o), ink), SYMMETRY_AGREEMENT)
    ]
    return tuple(found)


@dataclass
class DesignClass:
    glyph: str
    ink: np.ndarray
    variants: list[tuple[str, Orientation]] = field(default_factory=list)


def group_variants(glyphs: list[tuple[str, np.ndarray]]) -> list[DesignClass]:
    """Greedy, in font order: a glyph joins the first earlier design it matches, else starts one.

    Matching against the canonical only (never against another variant) keeps every recorded
    orientation relative to the canonical and stops chains of near matches from merging designs.
    """
    classes: list[DesignClass] = []
    for glyph, ink in glyphs:
        for cls in classes:
            orientation, iou, structure = best_orientation(cls.ink, ink)
            if _same((iou, structure), VARIANT_AGREEMENT):
                cls.variants.append((glyph, orientation))
                break
        else:
            classes.append(DesignClass(glyph, ink))
    return classes
