"""Fetch a page image at the size the analysis needs, and never more.

Size negotiation follows the Image API: read ``info.json``; where the server can scale to any
width (level 1+, or ``sizeByW``) ask for ``w,`` within ``maxWidth``/``maxHeight``/``maxArea``;
otherwise (level 0) pick the smallest listed ``sizes`` entry that is wide enough, else the
full (``max``) image. Whatever arrives is decoded with a pixel budget and reduced on decode.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from service.iiif.fetch import (
    Fetcher,
    FetchError,
    TooLarge,
    UpstreamHTTPError,
    UpstreamNotFound,
    UpstreamTimeout,
)
from service.iiif.manifest import ImageRef, ImageService

# A rendering narrower than this no longer shows small vignettes well: stop falling back.
MIN_FALLBACK_WIDTH = 600

LEVEL1_FEATURES = {"sizeByW", "sizeByWh", "regionByPx"}


class ImageTooLarge(FetchError):
    code, status = "image_too_large", 413


class NotAnImage(FetchError):
    code, status = "not_an_image", 502


@dataclass(frozen=True)
class ImageInfo:
    id: str
    version: int
    width: int
    height: int
    scalable: bool  # can serve any ``w,`` size (level 1 and above, or sizeByW)
    sizes: tuple[tuple[int, int], ...]
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None

    def max_size(self) -> tuple[int, int]:
        """The largest size the server will return for the full region."""
        scale = 1.0
        if self.max_width:
            scale = min(scale, self.max_width / self.width)
        if self.max_height:
            scale = min(scale, self.max_height / self.height)
        if self.max_area:
            scale = min(scale, math.sqrt(self.max_area / (self.width * self.height)))
        return max(1, math.floor(self.width * scale)), max(1, math.floor(self.height * scale))


@dataclass(frozen=True)
class PageRaster:
    """Grayscale pixels plus what is needed to map them back to the canvas and the image."""

    pixels: np.ndarray  # uint8, H x W
    full_width: int  # the image resource's own size (the frame of Image API regions)
    full_height: int


def parse_info(doc: Any, service: ImageService) -> ImageInfo:
    if not isinstance(doc, dict):
        raise NotAnImage(f"{service.id}/info.json is not a JSON object", service.id)
    try:
        width, height = int(doc["width"]), int(doc["height"])
    except (KeyError, TypeError, ValueError) as err:
        raise NotAnImage(f"{service.id}/info.json has no width/height", service.id) from err
    profile = doc.get("profile")
    profiles = profile if isinstance(profile, list) else [profile]
    names = [p for p in profiles if isinstance(p, str)]
    features = set(doc.get("extraFeatures") or [])
    for extra in profiles:
        if isinstance(extra, dict):
            features |= set(extra.get("supports") or [])
    level0 = any(n.removesuffix(".json").endswith("level0") for n in names)
    scalable = bool(features & LEVEL1_FEATURES) or (bool(names) and not level0)
    sizes = tuple(
        (int(s["width"]), int(s["height"])) for s in doc.get("sizes") or [] if isinstance(s, dict)
    )
    limits = [doc.get(k) for k in ("maxWidth", "maxHeight", "maxArea")]
    for extra in profiles:  # Image API 2 puts the limits in the profile object
        if isinstance(extra, dict):
            keys = ("maxWidth", "maxHeight", "maxArea")
            limits = [a or extra.get(k) for a, k in zip(limits, keys, strict=True)]
    max_width, max_height, max_area = (int(v) if v else None for v in limits)
    if max_width and not max_height:
        max_height = max_width  # Image API: maxHeight defaults to maxWidth
    return ImageInfo(
        service.id, service.version, width, height, scalable, sizes, max_width, max_height, max_area
    )


def choose_size(info: ImageInfo, target_width: int) -> str:
    """The Image API size parameter to request for an image ``target_width`` pixels wide."""
    full_keyword = "max" if info.version == 3 else "full"
    max_w, max_h = info.max_size()
    if info.scalable:
        width = min(target_width, max_w)
        if width < max_w:
            return f"{width},"
        if info.version == 2 and max_w < info.width:
            # Image API 2.0 has no "max", and "full" would ask for more than the server's limit.
            return f"{max_w},"
        return full_keyword
    # Listed sizes smaller than the maximum, smallest first; the maximum itself is "max"/"full".
    listed = sorted((w, h) for w, h in info.sizes if w < max_w and h <= max_h)
    wide_enough = [size for size in listed if size[0] >= target_width]
    if not wide_enough:
        return full_keyword
    width, height = wide_enough[0]
    return f"{width},{height}" if info.version == 3 else f"{width},"


def image_request(info: ImageInfo, region: str, size: str) -> str:
    return f"{info.id}/{region}/{size}/0/default.jpg"


def region_url(service: ImageService, box: tuple[int, int, int, int]) -> str:
    """An Image API request for ``box`` (full-image pixels) at full resolution."""
    x, y, w, h = box
    size = "max" if service.version == 3 else "full"
    return f"{service.id}/{x},{y},{w},{h}/{size}/0/default.jpg"


def load_page(fetcher: Fetcher, image: ImageRef, target_width: int, max_pixels: int) -> PageRaster:
    """Fetch and decode ``image`` at most ``target_width`` wide (grayscale)."""
    if image.service is not None:
        info = parse_info(fetcher.get_json(f"{image.service.id}/info.json"), image.service)
        return _load_from_service(fetcher, info, target_width, max_pixels)
    pixels, (width, height) = decode(
        fetcher.get(image.url).content, target_width, max_pixels, image.url
    )
    return PageRaster(pixels, image.width or width, image.height or height)


def _load_from_service(
    fetcher: Fetcher, info: ImageInfo, target_width: int, max_pixels: int
) -> PageRaster:
    """Ask for the size the model needs; when the server fails on it (an error other than
    404, a timeout, too many bytes or pixels), ask again at half the width, down to
    ``MIN_FALLBACK_WIDTH``: busy servers often render a smaller image where a large one fails,
    and a smaller page still shows its ornaments."""
    width = target_width
    while True:
        url = image_request(info, "full", choose_size(info, width))
        try:
            pixels, _ = decode(fetcher.get(url).content, target_width, max_pixels, url)
            return PageRaster(pixels, info.width, info.height)
        except UpstreamNotFound:
            raise
        except (UpstreamHTTPError, UpstreamTimeout, TooLarge, ImageTooLarge):
            smaller = width // 2
            if smaller < MIN_FALLBACK_WIDTH or choose_size(info, smaller) == choose_size(
                info, width
            ):
                raise
            width = smaller


def decode(
    data: bytes, target_width: int, max_pixels: int, url: str = ""
) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode to grayscale no wider than ``target_width``; return pixels and the encoded size.

    The pixel budget is checked on the header, before any pixel is decoded.
    """
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLarge(f"{url}: {err}", url) from err
    except (OSError, ValueError) as err:
        raise NotAnImage(f"{url} is not an image Pillow can read: {err}", url) from err
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{url} is {width}x{height} pixels, more than the {max_pixels} allowed", url
        )
    if width > target_width:
        image.draft("L", (target_width, max(1, height * target_width // width)))
    try:
        gray = image.convert("L")
    except (OSError, ValueError) as err:
        raise NotAnImage(f"{url} could not be decoded: {err}", url) from err
    if gray.width > target_width:
        new_height = max(1, round(gray.height * target_width / gray.width))
        gray = gray.resize((target_width, new_height), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.uint8), (width, height)
