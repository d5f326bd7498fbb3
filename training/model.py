"""The learned instance descriptor: an ink crop in, a unit-length embedding out.

The embedding is deliberately orientation-sensitive: it says what a crop looks like as printed,
not what block it is. The service embeds all eight dihedral views of a crop and takes the best
match, exactly as it does with the classical templates, so the best view also gives the
instance's rotation and mirror. Spatial features are flattened rather than pooled for the same
reason: pooling would throw away where things are, and with it the orientation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

MODEL_NAME = "florilege-encoder"


class Encoder(nn.Module):
    """(B, 1, size, size) ink in [0, 1] → (B, embedding) L2-normalised embeddings."""

    def __init__(self, size: int = 64, channels: int = 16, depth: int = 4, embedding: int = 64):
        super().__init__()
        if size % 2**depth:
            raise ValueError(f"size {size} must be divisible by 2**depth = {2**depth}")
        self.kwargs: dict[str, Any] = {
            "size": size,
            "channels": channels,
            "depth": depth,
            "embedding": embedding,
        }
        stages, width_in = [], 1
        for stage in range(depth):
            width = channels * 2**stage
            stages.append(_stage(width_in, width))
            width_in = width
        self.features = nn.Sequential(*stages)
        side = size // 2**depth
        self.project = nn.Linear(width_in * side * side, embedding)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        features = self.features(crops).flatten(1)
        return functional.normalize(self.project(features), dim=1)


def _stage(width_in: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(width_in, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def build_model(name: str, kwargs: dict[str, Any]) -> Encoder:
    """Rebuild a model from the description a weights file or checkpoint carries."""
    if name != MODEL_NAME:
        raise ValueError(f"unknown model {name!r}; this code builds {MODEL_NAME!r}")
    return Encoder(**kwargs)
