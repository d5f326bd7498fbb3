"""The eight orientations of a printing block (the dihedral group D4).

Convention (DESIGN.md): an instance's pixels equal its motif prototype after mirroring
left-right first (if ``mirror``), then rotating counter-clockwise by ``rotation`` degrees.
Every module that rotates or mirrors a vignette goes through here, so the convention lives
in one place.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Orientation(NamedTuple):
    rotation: int = 0
    mirror: bool = False


IDENTITY = Orientation(0, False)
ALL_ORIENTATIONS: tuple[Orientation, ...] = tuple(
    Orientation(rotation, mirror) for mirror in (False, True) for rotation in (0, 90, 180, 270)
)


def orient(image: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Return ``image`` (H, W[, C]) as it looks printed in ``orientation``."""
    rotation, mirror = orientation
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
    out = image[:, ::-1] if mirror else image
    # np.rot90 turns from the first towards the second axis: counter-clockwise on screen.
    return np.ascontiguousarray(np.rot90(out, k=(rotation // 90) % 4))


def all_orientations(images: np.ndarray) -> np.ndarray:
    """(N, S, S) square images → (N, 8, S, S): each in every one of ``ALL_ORIENTATIONS``."""
    return np.stack([np.stack([orient(image, o) for o in ALL_ORIENTATIONS]) for image in images])


def compose(first: Orientation, then: Orientation) -> Orientation:
    """The single orientation equal to applying ``first`` and then ``then``."""
    # A mirror reverses the sense of a rotation applied before it: M R(a) = R(-a) M.
    rotation = then.rotation + (-first.rotation if then.mirror else first.rotation)
    return Orientation(rotation % 360, first.mirror != then.mirror)


def inverse(orientation: Orientation) -> Orientation:
    """The orientation that undoes ``orientation``."""
    if orientation.mirror:
        return orientation  # every reflection is its own inverse
    return Orientation((-orientation.rotation) % 360, False)


def relative(source: Orientation, target: Orientation) -> Orientation:
    """The orientation that takes something in ``source`` to ``target``."""
    return compose(inverse(source), target)
