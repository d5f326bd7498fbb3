"""Training crops without labels: the instances the baseline decomposition finds on unlabeled
pages, and optionally the bank's vignettes of the ``seen`` split as plain images.

Instances come through the baseline's public entry point (``decompose_images``, one page at a
time) rather than its internals, which are still changing. Crops are made by
``service.decompose.describe.template``, the function the service uses, so the model trains on
exactly what it will be given. Annotation files beside the pages are never read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from service.decompose.describe import template
from service.decompose.pipeline import decompose_images, expand_paths, read_page
from service.decompose.segment import ink_map
from training.bank import load_bank
from training.config import DataConfig

#: Boxes smaller than this (longest side, pixels) are specks, not blocks worth learning.
MIN_SIDE = 8


def page_crops(
    folder: Path, size: int, max_pages: int | None = None, progress: bool = False
) -> np.ndarray:
    """(N, size, size) crops of every instance the baseline segmentation finds under ``folder``."""
    paths = expand_paths([Path(folder)])[:max_pages]
    crops: list[np.ndarray] = []
    for path in tqdm(paths, desc="segmenting pages", unit="page", disable=not progress):
        page = read_page(path)
        ink = ink_map(page.pixels)
        for found in decompose_images([page]).pages:
            for instance in found.instances:
                if max(instance.bbox[2:]) >= MIN_SIDE:
                    crops.append(template(ink, instance.bbox, size))
    return _stack(crops, size)


def bank_crops(split: str, size: int) -> np.ndarray:
    """(N, size, size) crops of the bank's designs of ``split``; their ids are not returned."""
    if split != "seen":
        raise ValueError(f"only the 'seen' bank split may be trained on, not {split!r}")
    bank = load_bank()
    crops = []
    for design in bank.split(split):
        ink = bank.ink(design.id)
        crops.append(template(ink, (0, 0, ink.shape[1], ink.shape[0]), size))
    return _stack(crops, size)


def training_crops(data: Path, params: DataConfig, size: int, progress: bool = False) -> np.ndarray:
    """The crop pool a run trains on: page crops, then bank crops when configured."""
    pools = [page_crops(data, size, params.max_pages, progress)]
    if params.bank_split is not None:
        pools.append(bank_crops(params.bank_split, size))
    crops = np.concatenate(pools)
    if len(crops) < 2:
        raise ValueError(f"found {len(crops)} crops under {data}: too few to train on")
    return crops


def split_crops(crops: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) by a seeded shuffle; validation keeps at least one crop."""
    order = np.random.default_rng(seed).permutation(len(crops))
    count = min(max(1, round(fraction * len(crops))), len(crops) - 1)
    return crops[order[count:]], crops[order[:count]]


def _stack(crops: list[np.ndarray], size: int) -> np.ndarray:
    if not crops:
        return np.zeros((0, size, size), dtype=np.float32)
    return np.stack(crops).astype(np.float32)
