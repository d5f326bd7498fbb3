"""The sprite model: the comparison family of issue 4, in the spirit of DTI-Sprites and SPACE.

An image is explained as paper with ink, the ink being learned *sprites* (one alpha map per
block design) placed by a grid of cells. Each cell of a convolutional encoder says whether a
sprite is centred near it (presence), which sprite in which of the eight dihedral views
(choice), and where exactly and how large (offset, scale). The sprites and the encoder are
trained together, by reconstruction alone: no label is read. A trained model decomposes an
image by reading the cells whose presence is high; a cell's sprite is its motif.

Rendering is differentiable so that the choice, the placement and the sprites all learn from
the same reconstruction error: each cell's expected sprite (its views weighted by the choice)
is resampled into a window of a few cells round it, and windows are composited into the
image by multiplying the paper each one leaves uncovered, summed in log space by ``fold``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

VIEWS = 8
#: A cell's sprite may be centred up to this many cells from the cell's centre.
MAX_OFFSET = 1.0
#: sigmoid(-2) = 0.12.
INITIAL_PRESENCE_LOGIT = -2.0


@dataclass
class Cells:
    """What the encoder says of each of the N = rows * cols cells of a batch of B images."""

    presence: torch.Tensor  # (B, N) in [0, 1]
    choice: torch.Tensor  # (B, N, sprites * 8) logits over the sprites' views
    centre: torch.Tensor  # (B, N, 2) the placed sprite's centre, pixels (x, y)
    side: torch.Tensor  # (B, N) the placed sprite's side, pixels
    rows: int
    cols: int


class SpriteModel(nn.Module):
    """(B, 1, H, W) ink in [0, 1], H and W multiples of ``cell`` → cell outputs and renders."""

    def __init__(
        self,
        sprites: int = 40,
        sprite_size: int = 32,
        cell: int = 16,
        channels: int = 32,
        min_scale: float = 0.5,
        max_scale: float = 1.5,
    ):
        super().__init__()
        if cell & (cell - 1):
            raise ValueError(f"cell {cell} must be a power of two")
        self.kwargs: dict[str, Any] = {
            "sprites": sprites,
            "sprite_size": sprite_size,
            "cell": cell,
            "channels": channels,
            "min_scale": min_scale,
            "max_scale": max_scale,
        }
        # Each cell renders into a square of ``window`` cells round it, which must hold its
        # largest sprite at its largest offset: the smallest odd side reaching that far.
        reach = max_scale * sprite_size / 2 / cell + MAX_OFFSET
        self.window = 2 * math.ceil(reach - 0.5) + 1
        self.sprite_logits = nn.Parameter(torch.zeros(sprites, 1, sprite_size, sprite_size))
        self.encoder = _encoder(channels, cell)
        self.heads = nn.Conv2d(channels * 2, 1 + sprites * VIEWS + 3, 1)
        with torch.no_grad():
            # Few sprites present at first: half-present sprites in every cell paint the image
            # black, and the quickest way out of that is to switch every sprite off for good.
            self.heads.bias[0] = INITIAL_PRESENCE_LOGIT

    @property
    def cell(self) -> int:
        return int(self.kwargs["cell"])

    def alphas(self) -> torch.Tensor:
        """(sprites * 8, S, S) alpha maps: each sprite in every one of ``ALL_ORIENTATIONS``, in
        that order (mirrored left-right first, then turned counter-clockwise)."""
        alpha = torch.sigmoid(self.sprite_logits)[:, 0]
        views = [
            torch.rot90(torch.flip(alpha, dims=(2,)) if mirror else alpha, turns, dims=(1, 2))
            for mirror in (False, True)
            for turns in range(4)
        ]
        return torch.stack(views, dim=1).flatten(0, 1)

    def forward(self, ink: torch.Tensor) -> Cells:
        out = self.heads(self.encoder(ink))
        rows, cols = out.shape[-2:]
        out = out.flatten(2).transpose(1, 2)
        low, high = self.kwargs["min_scale"], self.kwargs["max_scale"]
        offset = torch.tanh(out[..., -3:-1]) * MAX_OFFSET * self.cell
        return Cells(
            presence=torch.sigmoid(out[..., 0]),
            choice=out[..., 1:-3],
            centre=_cell_middles(rows, cols, self.cell, ink.device) + offset,
            side=self.kwargs["sprite_size"] * (low + (high - low) * torch.sigmoid(out[..., -1])),
            rows=rows,
            cols=cols,
        )

    def render(self, cells: Cells) -> torch.Tensor:
        """(B, 1, H, W) ink of the image the cells describe, differentiable in everything."""
        batch, count, _ = cells.choice.shape
        alphas = self.alphas()
        expected = functional.softmax(cells.choice, dim=-1) @ alphas.flatten(1)
        expected = expected.view(batch * count, 1, *alphas.shape[1:])
        window = self.window * self.cell
        local = _placement_grid(cells, self.cell, window).view(batch * count, window, window, 2)
        placed = functional.grid_sample(expected, local, align_corners=False, padding_mode="zeros")
        covered = placed.view(batch, count, window * window) * cells.presence[..., None]
        uncovered = torch.log1p(-covered.clamp(max=1 - 1e-4)).transpose(1, 2)
        pad = (window - self.cell) // 2
        paper = functional.fold(
            uncovered,
            output_size=(cells.rows * self.cell + 2 * pad, cells.cols * self.cell + 2 * pad),
            kernel_size=window,
            stride=self.cell,
        )
        return 1 - torch.exp(paper[..., pad:-pad, pad:-pad])


def _encoder(channels: int, cell: int) -> nn.Sequential:
    """Convolutions down to one feature vector per cell, then wider context at that stride,
    so that each cell sees a whole block and its neighbours."""
    layers: list[nn.Module] = []
    width_in, width = 1, channels // 2
    for _ in range(cell.bit_length() - 1):
        layers += [nn.Conv2d(width_in, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        width_in, width = width, min(width * 2, channels * 2)
    for dilation in (1, 2, 1):
        layers += [nn.Conv2d(width_in, channels * 2, 3, padding=dilation, dilation=dilation)]
        layers += [nn.ReLU()]
        width_in = channels * 2
    return nn.Sequential(*layers)


def _cell_middles(rows: int, cols: int, cell: int, device: torch.device) -> torch.Tensor:
    """(rows * cols, 2) pixel (x, y) of each cell's middle, row by row."""
    ys, xs = torch.meshgrid(
        torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij"
    )
    return (torch.stack([xs, ys], dim=-1).flatten(0, 1).float() + 0.5) * cell


def _placement_grid(cells: Cells, cell: int, window: int) -> torch.Tensor:
    """(B, N, window, window, 2): where each pixel of a cell's window falls in its sprite's
    normalised coordinates ([-1, 1] inside the sprite), for ``grid_sample``."""
    device = cells.centre.device
    steps = torch.arange(window, device=device, dtype=torch.float32) + 0.5 - window / 2
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    middles = _cell_middles(cells.rows, cells.cols, cell, device)
    pixels = middles[:, None, None, :] + torch.stack([dx, dy], dim=-1)[None]
    relative = pixels[None] - cells.centre[:, :, None, None, :]
    return relative / (cells.side[:, :, None, None, None] / 2)
