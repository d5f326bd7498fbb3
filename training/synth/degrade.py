"""What printing, age and scanning do to a page: per-impression wear of each block, then ink
spread, skew, paper, show-through, blotches, blur, noise and JPEG over the whole page.

Wear is drawn per instance because no two impressions of a block are alike (the detector must
group them all the same); the page-level effects come after composition, in the order they
happen: the press spreads or starves the ink, the sheet ages, the scanner skews, blurs, adds
noise and compresses. Page-sized work goes through Pillow on uint8 where it can, for speed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from scipy import ndimage

Rng = np.random.Generator


def smooth_noise(rng: Rng, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Low-frequency noise in about [0, 1]: random values every ``cell`` pixels, interpolated."""
    height, width = shape
    coarse = rng.random((max(2, int(height / cell) + 2), max(2, int(width / cell) + 2)))
    image = Image.fromarray(coarse.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)


def wear(ink: np.ndarray, rng: Rng, pad: int = 2) -> np.ndarray:
    """One impression of a block: ``ink`` (float, 1 = ink) padded by ``pad`` on every side, with
    its strokes spread or thinned, its edges rough and broken where the block is worn, and its
    solids speckled where the ink did not take."""
    ink = np.pad(ink, pad)
    blurred = ndimage.gaussian_filter(ink, rng.uniform(0.3, 1.0))
    rough = ndimage.gaussian_filter(rng.random(ink.shape, dtype=np.float32) - 0.5, 0.7)
    level = float(np.clip(rng.normal(0.5, 0.1), 0.3, 0.7))  # below 0.5 spreads, above thins
    out = _ramp(blurred + rng.uniform(0.0, 1.0) * rough, level, 0.2)
    breaks = rng.uniform(0.0, 0.3)
    if breaks > 0.05:
        cell = max(2.0, min(ink.shape) / rng.uniform(6, 20))
        field = smooth_noise(rng, ink.shape, cell)
        edge = (blurred > 0.05) & (blurred < 0.9)
        out[edge & (field < breaks)] *= rng.uniform(0.0, 0.3)
    if rng.random() < 0.5:
        pores = smooth_noise(rng, ink.shape, rng.uniform(1.5, 4)) < rng.uniform(0.0, 0.15)
        out[pores] *= rng.uniform(0.2, 0.7)
    return out.astype(np.float32)


def _ramp(values: np.ndarray, level: float, width: float) -> np.ndarray:
    return np.clip((values - level) / width + 0.5, 0.0, 1.0)


def spread(ink: Image.Image, rng: Rng, dpi: float) -> Image.Image:
    """Ink spread (a low threshold) or thinning (a high one) over the whole page, 'L' image.

    A box blur is enough to move edges by a pixel or so, at a third of a Gaussian's cost."""
    radius = rng.uniform(0.4, 1.2) * dpi / 400
    level = float(np.clip(rng.normal(0.5, 0.08), 0.35, 0.65))
    lut = np.round(_ramp(np.arange(256) / 255.0, level, 0.35) * 255).astype(np.uint8)
    return ink.filter(ImageFilter.BoxBlur(radius)).point(lut.tolist())


def skew_angle(rng: Rng) -> float:
    """Degrees the sheet lies askew on the glass: a quarter of scans are straight."""
    return 0.0 if rng.random() < 0.25 else float(np.clip(rng.normal(0.0, 0.6), -1.5, 1.5))


def skew(ink: Image.Image, angle: float) -> Image.Image:
    """The page turned ``angle`` degrees counter-clockwise about its centre, as on the glass."""
    if angle == 0.0:
        return ink
    width, height = ink.size
    return ink.rotate(angle, resample=Image.Resampling.BILINEAR, center=(width / 2, height / 2))


def skew_points(
    xs: np.ndarray, ys: np.ndarray, angle: float, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Where continuous image coordinates go under :func:`skew` of an image of ``size``."""
    cx, cy = size[0] / 2, size[1] / 2
    cos, sin = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    return cx + (xs - cx) * cos + (ys - cy) * sin, cy - (xs - cx) * sin + (ys - cy) * cos


def specks(ink: Image.Image, rng: Rng) -> None:
    """Specks of stray ink and dirt, drawn into the ink layer ('L', 255 = ink)."""
    width, height = ink.size
    draw = ImageDraw.Draw(ink)
    for _ in range(int(rng.integers(0, 40))):
        x, y, r = rng.random() * width, rng.random() * height, rng.uniform(0.5, 4)
        box = (x - r, y - r, x + r, y + r * rng.uniform(0.5, 2))
        draw.ellipse(box, fill=int(rng.integers(80, 256)))


def _grey(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.round(values * 255), 0, 255).astype(np.uint8), mode="L")


def _smooth_grey(
    rng: Rng, size: tuple[int, int], cell: float, low: float, high: float
) -> Image.Image:
    """Low-frequency noise between ``low`` and ``high`` as an 'L' image of ``size``, cheaply."""
    width, height = size
    coarse = rng.uniform(low, high, (max(2, int(height / cell) + 2), max(2, int(width / cell) + 2)))
    return _grey(coarse).resize(size, Image.Resampling.BICUBIC)


def paper(rng: Rng, size: tuple[int, int], verso: np.ndarray | None) -> Image.Image:
    """The sheet's brightness ('L'): tone, cloudy formation, fibres, foxing, and the verso's ink
    showing through (``verso``: its ink at any lower resolution, as seen from the front).
    Computed at half resolution: nothing in it is sharp."""
    width, height = size
    half = (height // 2 + 1, width // 2 + 1)
    tone = rng.uniform(0.75, 0.97)
    cloud = smooth_noise(rng, half, rng.uniform(30, 200)) - 0.5
    fibres = rng.random(half, dtype=np.float32) - 0.5
    sheet = tone * (1 + rng.uniform(0.0, 0.08) * cloud + rng.uniform(0.0, 0.06) * fibres)
    if verso is not None:
        blurred = ndimage.gaussian_filter(verso[:, ::-1].astype(np.float32), rng.uniform(0.5, 1.5))
        through = Image.fromarray(blurred, mode="F").resize(half[::-1], Image.Resampling.BILINEAR)
        sheet *= 1 - rng.uniform(0.0, 0.15) * np.asarray(through)
    sheet *= 1 - _foxing(rng, half)
    return _grey(sheet).resize(size, Image.Resampling.BILINEAR)


def _foxing(rng: Rng, shape: tuple[int, int]) -> np.ndarray:
    """Soft pale-brown stains of aged paper, as a darkening in [0, 0.25]."""
    height, width = shape
    stains = Image.new("L", (width // 4 + 1, height // 4 + 1))
    draw = ImageDraw.Draw(stains)
    for _ in range(max(0, int(rng.integers(-4, 7)))):  # none on about half the pages
        x, y, r = rng.random() * width / 4, rng.random() * height / 4, rng.uniform(1, 15)
        box = (x - r, y - r * rng.uniform(0.5, 1.5), x + r, y + r)
        draw.ellipse(box, fill=int(rng.integers(10, 60)))
    blurred = stains.filter(ImageFilter.GaussianBlur(3))
    return np.asarray(blurred.resize((width, height), Image.Resampling.BILINEAR), np.float32) / 255


def print_on(sheet: Image.Image, ink: Image.Image, rng: Rng) -> Image.Image:
    """Ink on paper: dense but uneven (the press inked the forme unevenly), multiplied."""
    density = rng.uniform(0.75, 0.97)
    uneven = _smooth_grey(rng, ink.size, 150, density * (1 - rng.uniform(0.0, 0.25)), density)
    return ImageChops.multiply(sheet, ImageChops.invert(ImageChops.multiply(ink, uneven)))


def scan(
    page: Image.Image, rng: Rng, dpi: float, sheet: tuple[int, int, int, int] | None
) -> np.ndarray:
    """The scanner's view of the printed ``page`` ('L'): its dark bed outside the ``sheet`` box
    (when the scan shows the sheet's edge), blur, sensor noise, JPEG; uint8 pixels."""
    if sheet is not None:
        x0, y0, x1, y1 = sheet
        bed = Image.new("L", page.size, int(rng.integers(10, 90)))
        bed.paste(page.crop(sheet), (x0, y0))
        page = bed
    if rng.random() < 0.7:
        page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.0) * dpi / 400))
    amplitude = int(rng.integers(0, 13))
    noise = np.frombuffer(rng.bytes(page.size[0] * page.size[1]), dtype=np.uint8)
    noisy = (
        np.asarray(page, dtype=np.int16)
        + (noise % (2 * amplitude + 1)).reshape(page.size[1], page.size[0])
        - amplitude
    )
    pixels = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.8:
        return jpeg(pixels, int(rng.integers(35, 93)))
    return pixels


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    """Bake JPEG artefacts into ``pixels`` (encode, decode)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L"))
