"""Synthetic composite-ornament pages: the benchmark and training data (DESIGN.md).

Printers' ornaments are composed from vignettes of the bank as printers composed them, set among
lines of IM Fell text on a small page, printed, aged and scanned, and annotated in COCO.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training.bank import SPLITS, VignetteBank, load_bank
from training.synth.coco import Annotations, Made
from training.synth.page import make_page
from training.synth.render import BlockInk, crop_ornament
from training.synth.text import Typesetter

LAYOUTS = ("page", "ornament")

__all__ = ["LAYOUTS", "generate", "page_rng"]


def page_rng(seed: int, split: str, layout: str, index: int) -> np.random.Generator:
    """Page ``index``'s own random stream: pages are independent of each other and of how many
    are generated (or by which worker)."""
    key = [seed, SPLITS.index(split), LAYOUTS.index(layout), index]
    return np.random.default_rng(np.random.SeedSequence(key))


@dataclass(frozen=True)
class _Job:
    """What every page of a run shares; picklable, for worker processes."""

    out_dir: Path
    split: str
    seed: int
    layout: str
    bank: VignetteBank
    typesetter: Typesetter
    degraded: bool
    page_scale: float

    def __call__(self, index: int) -> Made:
        """Make and save image ``index``; returns what its annotations need."""
        rng = page_rng(self.seed, self.split, self.layout, index)
        scanned, dpi = make_page(
            rng,
            self.bank.split(self.split),
            BlockInk(self.bank),
            self.typesetter,
            degraded=self.degraded,
            page_scale=self.page_scale,
        )
        if self.layout == "ornament":
            scanned, _ = crop_ornament(scanned, rng)
        name = f"images/p{index + 1:04d}.png"
        Image.fromarray(scanned.pixels, mode="L").save(self.out_dir / name, compress_level=1)
        height, width = scanned.pixels.shape
        return Made(name, width, height, dpi, scanned.instances, scanned.ornaments)


def generate(
    out_dir: Path,
    *,
    pages: int,
    split: str,
    seed: int,
    layout: str = "page",
    bank: VignetteBank | None = None,
    fonts_dir: Path | None = None,
    degraded: bool = True,
    page_scale: float = 1.0,
    workers: int = 1,
) -> Path:
    """Write ``pages`` images of ``split`` designs and their annotations into ``out_dir``;
    returns the path of ``annotations.json``.

    ``layout`` "page" writes full pages, "ornament" one ornament per image cropped with a margin.
    ``degraded=False`` prints black on white without wear, skew or scanning (to check ground
    truth); ``page_scale`` < 1 shrinks pages (quick tests). ``workers`` > 1 makes pages in that
    many processes. Same arguments (whatever ``workers``), same bytes.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if pages < 1:
        raise ValueError(f"pages must be at least 1, got {pages}")
    out_dir = Path(out_dir)
    target = out_dir / "annotations.json"
    if target.exists():
        raise FileExistsError(f"{target} exists: write a new dataset into an empty folder")
    bank = bank if bank is not None else load_bank()
    designs = bank.split(split)
    if not designs:
        raise ValueError(f"the bank at {bank.folder} has no {split} designs")
    job = _Job(out_dir, split, seed, layout, bank, Typesetter(fonts_dir), degraded, page_scale)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    info = {"split": split, "seed": seed, "pages": pages, "layout": layout}
    info["description"] = (
        f"Synthetic composite printers' ornaments ({layout}s), {split} vignettes of the bank"
    )
    annotations = Annotations(designs, info)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            made = list(pool.map(job, range(pages), chunksize=4))
    else:
        made = [job(index) for index in range(pages)]
    for image in made:
        annotations.add(image)
    annotations.write(target)
    return target
