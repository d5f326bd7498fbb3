"""Instance crops → fixed-size templates and their eight dihedral views.

Why templates rather than learned features: the baseline must work on designs it has never
seen, with no training; a small blurred template compared under all eight orientations is
invariant to scale, rotation and mirror and tolerant of wear and inking.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.sparse.csgraph import connected_components

from service.dihedral import ALL_ORIENTATIONS, all_orientations

if TYPE_CHECKING:
    from service.bundle import Bundle

TEMPLATE_SIZE = 32


def template(
    ink: np.ndarray, box: tuple[int, int, int, int], size: int = TEMPLATE_SIZE
) -> np.ndarray:
    """The ink inside ``box``, scaled so its long side is ``size`` and centred on a square."""
    x, y, w, h = box
    crop = ink[y : y + h, x : x + w].astype(np.float32)
    scale = size / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(
        Image.fromarray(crop, mode="F").resize((new_w, new_h), Image.Resampling.BOX)
    )
    square = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    square[top : top + new_h, left : left + new_w] = resized
    return square


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm rows, so a dot product is a correlation coefficient."""
    centred = vectors - vectors.mean(axis=-1, keepdims=True)
    return centred / np.maximum(np.linalg.norm(centred, axis=-1, keepdims=True), 1e-6)


def dihedral_views(templates: np.ndarray, blur: float = 1.0) -> np.ndarray:
    """(N, S, S) templates → (N, 8, S*S) normalised views, one per ``ALL_ORIENTATIONS`` entry.

    The blur makes the comparison tolerant of one-pixel misalignments and ink spread.
    """
    if len(templates) == 0:
        return np.zeros((0, len(ALL_ORIENTATIONS), templates.shape[-1] ** 2), np.float32)
    blurred = _blurred(templates, blur)
    return normalise(all_orientations(blurred).reshape(len(templates), len(ALL_ORIENTATIONS), -1))


def upright_views(templates: np.ndarray, blur: float = 1.0) -> np.ndarray:
    """(N, S, S) templates → (N, S*S): the first of ``dihedral_views``, the crop as printed,
    for comparing many shapes with prototypes that have all eight views."""
    return normalise(_blurred(templates, blur).reshape(len(templates), -1))


def _blurred(templates: np.ndarray, blur: float) -> np.ndarray:
    return ndimage.gaussian_filter(templates, sigma=(0, blur, blur)) if blur else templates


def dihedral_similarity(views: np.ndarray) -> np.ndarray:
    """(K, K) likeness of the shapes of (K, 8, D) ``views``: entry a, b is the best match
    of any view of a with b as printed."""
    # One (K, K) product per view, kept as a running maximum: a (K, K, 8) array at once
    # would take eight times the memory for a collection's thousands of motifs.
    printed = views[:, 0].T
    similarity = views[:, 0] @ printed
    for view in range(1, views.shape[1]):
        np.maximum(similarity, views[:, view] @ printed, out=similarity)
    return similarity


def alike_groups(views: np.ndarray, likeness: float) -> tuple[int, np.ndarray]:
    """How many different shapes (N, 8, D) ``views`` hold, and which one each is: shapes at
    least ``likeness`` alike in some orientation are one, and so is what they chain."""
    similarity = dihedral_similarity(views)
    alike = np.maximum(similarity, similarity.T) >= likeness
    count, labels = connected_components(alike, directed=False)
    return int(count), labels


class Describer(Protocol):
    """Turns (N, size, size) instance crops into (N, 8, D) unit views, one per orientation,
    or into their first view alone, (N, D), eight times cheaper."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    def views(self, crops: np.ndarray) -> np.ndarray: ...

    def upright(self, crops: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class TemplateDescriber:
    """The training-free descriptor: blurred, normalised template pixels, twice over.

    The first half compares shapes as printed (aspect kept); the second compares each ink
    stretched to a square, which tells apart thin swashes and rules that, aspect kept, are a
    few rows of pixels and all look alike.
    """

    name: str = "templates-2"
    size: int = 2 * TEMPLATE_SIZE

    def views(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(ALL_ORIENTATIONS), 2 * TEMPLATE_SIZE**2), np.float32)
        return _both_halves(crops, dihedral_views)

    def upright(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, 2 * TEMPLATE_SIZE**2), np.float32)
        return _both_halves(crops, upright_views)


def _both_halves(crops: np.ndarray, view: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``view`` of the crops as printed and of their ink stretched, joined along the last
    axis and scaled so that the whole stays of unit length."""
    shapes = view(np.stack([_downsampled(c) for c in crops]))
    stretched = view(np.stack([_stretched(c) for c in crops]))
    return np.concatenate([shapes, stretched], axis=-1) / np.sqrt(2.0)


def _downsampled(crop: np.ndarray) -> np.ndarray:
    image = Image.fromarray(crop.astype(np.float32), mode="F")
    return np.asarray(image.resize((TEMPLATE_SIZE, TEMPLATE_SIZE), Image.Resampling.BOX))


def _stretched(crop: np.ndarray) -> np.ndarray:
    """The crop's ink (the square's padding cut off) resized to fill a template."""
    rows, cols = np.nonzero(crop > 0.05)
    if len(rows) == 0:
        return np.zeros((TEMPLATE_SIZE, TEMPLATE_SIZE), np.float32)
    ink = crop[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    image = Image.fromarray(ink, mode="F")
    return np.asarray(image.resize((TEMPLATE_SIZE, TEMPLATE_SIZE), Image.Resampling.BILINEAR))


@dataclass(frozen=True)
class BundleDescriber:
    """A learned embedding from an ONNX model bundle (``service.bundle``)."""

    bundle: Bundle

    @property
    def name(self) -> str:
        return self.bundle.digest

    @property
    def size(self) -> int:
        return self.bundle.contract.size

    def views(self, crops: np.ndarray) -> np.ndarray:
        return self.bundle.embed_views(crops)

    def upright(self, crops: np.ndarray) -> np.ndarray:
        return self.bundle.embed(crops)


def describer_for(bundle: str | None, providers: Sequence[str]) -> Describer:
    """The descriptor a configuration asks for: templates, or the bundle in folder ``bundle``.

    Bundles are loaded once per process and on first use, so each gunicorn worker opens its
    own onnxruntime session after the fork.
    """
    if not bundle:
        return TemplateDescriber()
    return _load_bundle_describer(str(bundle), tuple(providers))


@functools.lru_cache(maxsize=4)
def _load_bundle_describer(folder: str, providers: tuple[str, ...]) -> BundleDescriber:
    from service.bundle import load_bundle

    return BundleDescriber(load_bundle(Path(folder), providers=list(providers)))
