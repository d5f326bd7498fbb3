"""Print-like changes to batches of ink crops, and the dihedral transforms, in torch.

Why these changes: two impressions of one block differ by how much ink it took (spread,
thinning, fading), by wear and paper (lost patches, noise), by the scan (blur, a slight tilt) and
by how tightly the segmentation boxed it (scale, shift). An embedding that ignores them and
nothing else tells blocks apart without ever being told which block is which.
All randomness comes from the CPU ``torch.Generator`` passed in, so a resumed run repeats
exactly; the draws are then moved to the crops' device, so the image work runs on the GPU.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from service.dihedral import ALL_ORIENTATIONS, Orientation
from training.config import AugmentConfig


def orient_batch(crops: torch.Tensor, orientation: Orientation) -> torch.Tensor:
    """``service.dihedral.orient`` on the last two axes of a batch (the same convention)."""
    rotation, mirror = orientation
    out = crops.flip(-1) if mirror else crops
    return torch.rot90(out, k=(rotation // 90) % 4, dims=(-2, -1))


def orient_each(crops: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Crop ``i`` turned by ``ALL_ORIENTATIONS[indices[i]]`` (square crops only)."""
    every = torch.stack([orient_batch(crops, o) for o in ALL_ORIENTATIONS])  # (8, B, ...)
    return every[indices.to(crops.device), torch.arange(len(crops), device=crops.device)]


def augment(crops: torch.Tensor, params: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, 1, S, S) ink in [0, 1] → the same crops as another impression might look."""
    out = _spread(crops, params.spread, gen)
    out = _wear(out, params.wear, gen)
    out = out * (1.0 - params.fade * _rand(gen, (len(out), 1, 1, 1), out))
    out = _jitter(out, params, gen)
    out = _blur(out, params.blur, gen)
    sigma = params.noise * _rand(gen, (len(out), 1, 1, 1), out)
    out = out + sigma * torch.randn(out.shape, generator=gen).to(out.device)
    return out.clamp(0.0, 1.0)


def _rand(gen: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Uniform draws from ``gen`` (always on the CPU), placed on ``like``'s device."""
    return torch.rand(shape, generator=gen).to(device=like.device, dtype=like.dtype)


def _spread(crops: torch.Tensor, probability: float, gen: torch.Generator) -> torch.Tensor:
    """Ink spread (grey dilation) or thinning (grey erosion), partly blended in."""
    n = len(crops)
    dilated = functional.max_pool2d(crops, 3, stride=1, padding=1)
    eroded = -functional.max_pool2d(-crops, 3, stride=1, padding=1)
    choice = _rand(gen, (n, 1, 1, 1), crops)
    target = torch.where(choice < probability / 2, dilated, crops)
    target = torch.where((choice >= probability / 2) & (choice < probability), eroded, target)
    amount = _rand(gen, (n, 1, 1, 1), crops)
    return crops + amount * (target - crops)


def _wear(crops: torch.Tensor, most: float, gen: torch.Generator) -> torch.Tensor:
    """Lose ink where a smooth random field falls below a per-crop level (broken strokes)."""
    n, _, height, width = crops.shape
    coarse = _rand(gen, (n, 1, 6, 6), crops)
    field = functional.interpolate(
        coarse, size=(height, width), mode="bilinear", align_corners=False
    )
    level = most * _rand(gen, (n, 1, 1, 1), crops)
    return crops * (field >= level).to(crops.dtype)


def _jitter(crops: torch.Tensor, params: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Small scale, shift and tilt: how tightly and how straight the crop was taken."""
    n = len(crops)
    scale = 1.0 + params.scale * (2 * _rand(gen, (n,), crops) - 1)
    angle = math.radians(params.tilt) * (2 * _rand(gen, (n,), crops) - 1)
    shift = 2 * params.shift * (2 * _rand(gen, (n, 2), crops) - 1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = functional.affine_grid(theta, list(crops.shape), align_corners=False)
    return functional.grid_sample(crops, grid, mode="bilinear", align_corners=False)


def _blur(crops: torch.Tensor, most: float, gen: torch.Generator) -> torch.Tensor:
    """A Gaussian blur whose sigma is drawn per crop (one grouped convolution)."""
    n, _, height, width = crops.shape
    radius = max(1, math.ceil(2 * most))
    sigma = (most * _rand(gen, (n,), crops)).clamp(min=1e-3)
    offsets = torch.arange(-radius, radius + 1, dtype=crops.dtype, device=crops.device)
    kernel_1d = torch.exp(-(offsets[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    kernel_1d = kernel_1d / kernel_1d.sum(1, keepdim=True)
    kernels = (kernel_1d[:, :, None] * kernel_1d[:, None, :])[:, None]
    flat = crops.reshape(1, n, height, width)
    blurred = functional.conv2d(flat, kernels, padding=radius, groups=n)
    return blurred.reshape(n, 1, height, width)
