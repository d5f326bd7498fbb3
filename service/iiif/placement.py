"""Put instances found in analysed pixels back on their canvas and in their source image.

Three frames meet here: the analysed raster (what the decomposition saw, usually reduced), the
full image (the frame of Image API regions) and the canvas (the frame of annotations, often of
another size, and the image may cover only part of it). Boxes are widened to whole pixels so
that a written box always contains the instance, then clipped to stay inside the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.decomposition import Instance
from service.iiif.manifest import CanvasRef, ImageRef, ImageService

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Placement:
    """One instance on one canvas: what annotations and motif manifests are written from."""

    canvas_key: str
    motif: str
    box: Box  # canvas coordinates
    region: Box  # full-image pixels, for Image API region requests
    image_url: str
    service: ImageService | None
    score: float
    rotation: int
    mirror: bool
    ornament: str | None = None


def integer_box(x: float, y: float, w: float, h: float, width: int, height: int) -> Box:
    """The smallest whole-pixel box containing (x, y, w, h), clipped to width x height."""
    x0 = min(max(0, math.floor(x + 1e-6)), width - 1)
    y0 = min(max(0, math.floor(y + 1e-6)), height - 1)
    x1 = max(min(width, math.ceil(x + w - 1e-6)), x0 + 1)
    y1 = max(min(height, math.ceil(y + h - 1e-6)), y0 + 1)
    return (x0, y0, x1 - x0, y1 - y0)


def place(
    instance: Instance,
    canvas: CanvasRef,
    image: ImageRef,
    raster_size: tuple[int, int],
    full_size: tuple[int, int],
) -> Placement:
    """Map ``instance`` (in a raster of ``raster_size``) onto ``canvas`` and its full image."""
    raster_w, raster_h = raster_size
    x, y, w, h = instance.bbox
    tx, ty, tw, th = image.target
    sx, sy = tw / raster_w, th / raster_h
    box = integer_box(tx + x * sx, ty + y * sy, w * sx, h * sy, canvas.width, canvas.height)
    fx, fy = full_size[0] / raster_w, full_size[1] / raster_h
    region = integer_box(x * fx, y * fy, w * fx, h * fy, full_size[0], full_size[1])
    return Placement(
        canvas_key=canvas.key,
        motif=instance.motif,
        box=box,
        region=region,
        image_url=image.url,
        service=image.service,
        score=float(instance.score),
        rotation=int(instance.rotation),
        mirror=bool(instance.mirror),
        ornament=instance.ornament,
    )
