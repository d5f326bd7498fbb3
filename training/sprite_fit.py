"""``florilege-train sprites``: fit the sprite model to a folder of unlabeled images, then
decompose those same images with it, as DTI-Sprites and SPACE are used on a collection.

Images are first brought to a common working scale, read from the ink alone: each is resized
so that its median ink component measures ``train.component_side`` pixels, since a sprite has
one size range and books are scanned at any resolution. Training reads random windows of the
working images; decoding reads whole images and maps boxes back to their own pixels.

A run folder holds ``config.yaml`` (what trained it), ``metrics.jsonl`` (losses every
``train.log_every`` steps), ``sprites.pt`` (weights and the model's keyword arguments),
``sprites.png`` (the learned sprites, to look at) and ``decomposition.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from service.decompose.pipeline import expand_paths, read_page
from service.decomposition import Decomposition, Instance, Motif, Page
from service.dihedral import ALL_ORIENTATIONS
from training.config import SpriteConfig, load_config, save_config, to_dict
from training.metrics import iou_matrix
from training.sprites import SpriteModel
from training.train import use_seed

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
WEIGHTS = "sprites.pt"
SPRITES_PNG = "sprites.png"
DECOMPOSITION = "decomposition.json"
MODEL_NAME = "florilege-sprites"
#: Ink components smaller than this (the image's own pixels) are specks, not printed strokes.
SPECK = 4
#: Reconstruction error on inked pixels weighs 1 + this times the ink.
MISSING_INK_WEIGHT = 4.0


class _Candidate(NamedTuple):
    score: float
    box: np.ndarray  # x, y, width, height in the image's own pixels
    view: int  # index into the model's sprite views


@dataclass(frozen=True)
class WorkingImage:
    """An image's ink (0 paper, 1 full ink) at the working scale, and the way back."""

    ink: np.ndarray
    factor: float  # working pixels per image pixel
    width: int  # the image's own size
    height: int


def working_image(path: Path, component_side: float) -> WorkingImage:
    grey = read_page(path).pixels.astype(np.float32) / 255
    paper = max(float(np.percentile(grey, 90)), 1e-3)
    ink = np.clip((paper - grey) / paper, 0, 1)
    labels, _ = ndimage.label(ink > 0.5)
    sides = [
        max(rows.stop - rows.start, cols.stop - cols.start)
        for rows, cols in ndimage.find_objects(labels)
    ]
    sides = [side for side in sides if side >= SPECK]
    factor = component_side / float(np.median(sides)) if sides else 1.0
    height, width = ink.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    working = np.asarray(Image.fromarray(ink).resize(size, Image.BILINEAR))
    return WorkingImage(working, factor, width, height)


def image_paths(folder: Path) -> list[Path]:
    paths = expand_paths([folder])
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    return paths


def fit_sprites(
    paths: Sequence[Path], out: Path, config: SpriteConfig, progress: bool = True
) -> SpriteModel:
    """Train a sprite model on random windows of the images at ``paths``; write weights and
    metrics in the new run folder ``out``."""
    if (out / CONFIG).exists():
        raise FileExistsError(f"{out} already holds a run: choose another --out")
    train = config.train
    if train.window % config.model.cell:
        raise ValueError(f"train.window {train.window} must be a multiple of model.cell")
    images = [
        working_image(path, train.component_side)
        for path in tqdm(paths, desc="read", leave=False, disable=not progress)
    ]
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / CONFIG)
    gen = np.random.default_rng(train.seed)
    with use_seed(train.seed):
        model = SpriteModel(**to_dict(config)["model"])
    _start_sprites_on_ink(model, images, gen)
    optimiser = torch.optim.Adam(
        [
            {"params": [model.sprite_logits], "lr": train.sprite_lr},
            {"params": [*model.encoder.parameters(), *model.heads.parameters()]},
        ],
        lr=train.lr,
    )
    (out / METRICS).write_text("")
    started = time.perf_counter()
    for step in tqdm(range(train.steps), desc="sprites", disable=not progress):
        batch = torch.from_numpy(_windows(images, train.batch_size, train.window, gen))
        loss, parts = sprite_loss(model, batch, config, ramp=min(1.0, 2 * step / train.steps))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % train.log_every == 0 or step == train.steps - 1:
            seconds = round(time.perf_counter() - started)
            with (out / METRICS).open("a") as log:
                log.write(json.dumps({"step": step + 1, **parts, "seconds": seconds}) + "\n")
    torch.save({"kwargs": model.kwargs, "state": model.state_dict()}, out / WEIGHTS)
    _sprite_sheet(model).save(out / SPRITES_PNG)
    return model


def sprite_loss(
    model: SpriteModel, ink: torch.Tensor, config: SpriteConfig, ramp: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction error (missing ink weighs more: ink is sparse, and blank paper must not
    be the easy answer) plus the priors of ``train``; ``ramp`` scales the choice entropy."""
    train = config.train
    cells = model(ink)
    error = ((model.render(cells) - ink) ** 2 * (1 + MISSING_INK_WEIGHT * ink)).mean()
    presence = cells.presence
    choice = torch.softmax(cells.choice, dim=-1)
    choice_entropy = _entropy(choice).mean()
    usage = (presence[..., None] * choice).sum(dim=(0, 1))
    usage_entropy = _entropy(usage / usage.sum().clamp(min=1e-8))
    loss = (
        error
        + train.presence_cost * presence.mean()
        + ramp * train.choice_entropy_cost * choice_entropy
        - train.usage_entropy_gain * usage_entropy
    )
    parts = {
        "loss": loss.item(),
        "reconstruction": error.item(),
        "presence": presence.mean().item(),
        "choice_entropy": choice_entropy.item(),
        "usage_entropy": usage_entropy.item(),
    }
    return loss, {key: round(value, 5) for key, value in parts.items()}


def _entropy(probabilities: torch.Tensor) -> torch.Tensor:
    return -(probabilities * torch.log(probabilities + 1e-8)).sum(dim=-1)


def _windows(
    images: Sequence[WorkingImage], count: int, side: int, gen: np.random.Generator
) -> np.ndarray:
    """(count, 1, side, side) random windows of random images, blank where an image ends."""
    out = np.zeros((count, 1, side, side), np.float32)
    for window in out:
        ink = images[gen.integers(len(images))].ink
        top = gen.integers(max(1, ink.shape[0] - side + 1))
        left = gen.integers(max(1, ink.shape[1] - side + 1))
        part = ink[top : top + side, left : left + side]
        window[0, : part.shape[0], : part.shape[1]] = part
    return out


def _start_sprites_on_ink(
    model: SpriteModel, images: Sequence[WorkingImage], gen: np.random.Generator
) -> None:
    """Start each sprite as a patch of real ink round a random inked pixel, as DTI-Sprites
    starts its prototypes from samples: random noise learns far slower."""
    size = model.sprite_logits.shape[-1]
    with torch.no_grad():
        for sprite in model.sprite_logits:
            ink = images[gen.integers(len(images))].ink
            rows, cols = np.nonzero(ink > 0.5)
            if not len(rows):
                continue
            pick = gen.integers(len(rows))
            padded = np.pad(ink, size // 2)
            patch = padded[rows[pick] : rows[pick] + size, cols[pick] : cols[pick] + size]
            sprite[0] = torch.logit(torch.from_numpy(patch.copy()).clamp(0.05, 0.95))


def decompose_with_sprites(
    model: SpriteModel,
    paths: Sequence[Path],
    root: Path,
    config: SpriteConfig,
    progress: bool = True,
) -> Decomposition:
    """Read each image's present cells as instances: box, sprite (motif) and orientation.

    A motif's width and height are its sprite's side in working pixels: each image has its
    own working scale, so no single size in image pixels fits every instance."""
    model.eval()
    extents = _ink_extents(model.alphas().detach().numpy())
    pages = [
        _decompose_page(model, path, root, extents, config)
        for path in tqdm(paths, desc="decompose", leave=False, disable=not progress)
    ]
    counts: dict[str, int] = {}
    for page in pages:
        for instance in page.instances:
            counts[instance.motif] = counts.get(instance.motif, 0) + 1
    size = model.kwargs["sprite_size"]
    motifs = [Motif(id=motif, width=size, height=size, instances=n) for motif, n in counts.items()]
    return Decomposition(pages=pages, motifs=sorted(motifs, key=lambda m: m.id), model=MODEL_NAME)


def _ink_extents(alphas: np.ndarray) -> np.ndarray:
    """(views, 4) box of each view's ink (alpha ≥ 0.5) as fractions of the sprite's side."""
    side = alphas.shape[-1]
    extents = np.tile([0.0, 0.0, 1.0, 1.0], (len(alphas), 1))
    for view, alpha in enumerate(alphas):
        rows, cols = np.nonzero(alpha >= 0.5)
        if len(rows):
            extents[view] = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            extents[view] /= side
    return extents


def _decompose_page(
    model: SpriteModel, path: Path, root: Path, extents: np.ndarray, config: SpriteConfig
) -> Page:
    image = working_image(path, config.train.component_side)
    cell = model.cell
    height, width = image.ink.shape
    padded = np.zeros((1, 1, -(-height // cell) * cell, -(-width // cell) * cell), np.float32)
    padded[0, 0, :height, :width] = image.ink
    with torch.no_grad():
        cells = model(torch.from_numpy(padded))
    presence = cells.presence[0].numpy()
    choice = torch.softmax(cells.choice[0], dim=-1).numpy()
    centre, side = cells.centre[0].numpy(), cells.side[0].numpy()
    candidates = []
    for index in np.nonzero(presence >= config.decode.presence)[0]:
        view = int(choice[index].argmax())
        left, top, right, bottom = extents[view] * side[index]
        corner = centre[index] - side[index] / 2
        box = np.array([corner[0] + left, corner[1] + top, right - left, bottom - top])
        score = float(presence[index] * choice[index, view])
        candidates.append(_Candidate(score, box / image.factor, view))
    instances = []
    for score, box, view in _strongest_first(candidates, config.decode.overlap):
        bbox = _clipped(box, image.width, image.height)
        if bbox is None:
            continue
        orientation = ALL_ORIENTATIONS[view % len(ALL_ORIENTATIONS)]
        motif = f"sprite-{view // len(ALL_ORIENTATIONS):03d}"
        instances.append(
            Instance(bbox, motif, round(score, 4), orientation.rotation, orientation.mirror)
        )
    name = path.relative_to(root).as_posix()
    return Page(image=name, width=image.width, height=image.height, instances=instances)


def _strongest_first(candidates: list[_Candidate], overlap: float) -> list[_Candidate]:
    """Non-maximum suppression: keep candidates by score, dropping any that overlaps a kept one
    by more than ``overlap`` (IoU)."""
    kept: list[_Candidate] = []
    for candidate in sorted(candidates, key=lambda c: -c.score):
        if not kept or iou_matrix([candidate.box], [k.box for k in kept]).max() <= overlap:
            kept.append(candidate)
    return kept


def _clipped(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    left, top = max(0, round(box[0])), max(0, round(box[1]))
    right, bottom = min(width, round(box[0] + box[2])), min(height, round(box[1] + box[3]))
    if right <= left or bottom <= top:
        return None
    return (left, top, right - left, bottom - top)


def _sprite_sheet(model: SpriteModel, columns: int = 10) -> Image.Image:
    """The sprites as printed (ink dark on white), in a grid with a one-pixel gutter."""
    alphas = torch.sigmoid(model.sprite_logits)[:, 0].detach().numpy()
    count, side = len(alphas), alphas.shape[-1]
    rows = -(-count // columns)
    sheet = np.ones((rows * (side + 1) + 1, columns * (side + 1) + 1), np.float32)
    for index, alpha in enumerate(alphas):
        row, column = divmod(index, columns)
        top, left = 1 + row * (side + 1), 1 + column * (side + 1)
        sheet[top : top + side, left : left + side] = 1 - alpha
    return Image.fromarray((sheet * 255).astype(np.uint8))


def main_sprites(args: argparse.Namespace) -> int:
    config = load_config(args.config, SpriteConfig) if args.config else SpriteConfig()
    paths = image_paths(args.data)
    model = fit_sprites(paths, args.out, config)
    decomposition = decompose_with_sprites(model, paths, args.data, config)
    decomposition.write(args.out / DECOMPOSITION)
    found = sum(len(page.instances) for page in decomposition.pages)
    print(f"{found} instances of {len(decomposition.motifs)} sprites in {args.out / DECOMPOSITION}")
    return 0
