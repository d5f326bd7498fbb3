"""The label-free objective: two impressions of the same crop in the same orientation attract;
everything else, the same crop in another orientation included, repels.

Each crop of a batch is shown in two distinct orientations, each orientation as two augmented
impressions. Same crop and same orientation: a positive pair. Same crop, other orientation: a
negative, which is what makes the embedding tell orientations apart, unless the crop looks the
same in both (a symmetric block), which is measured on its pixels and then counts as positive.
No identity or orientation label is read anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional

from service.dihedral import ALL_ORIENTATIONS
from training.augment import augment, orient_each
from training.config import AugmentConfig

#: Two orientations of a crop whose blurred pixels correlate this well are the same image.
SAME_IMAGE = 0.9


@dataclass(frozen=True)
class Views:
    crops: torch.Tensor  # (4B, 1, S, S) augmented impressions
    groups: torch.Tensor  # (4B,) equal values: same crop and same-looking orientation


def make_views(crops: torch.Tensor, params: AugmentConfig, gen: torch.Generator) -> Views:
    """Four impressions of each of the B ``crops``: 2 orientations x 2 augmentations."""
    n, count = len(crops), len(ALL_ORIENTATIONS)
    first = torch.randint(0, count, (n,), generator=gen)
    second = (first + torch.randint(1, count, (n,), generator=gen)) % count
    one, other = orient_each(crops, first), orient_each(crops, second)
    group_one = 2 * torch.arange(n, device=crops.device)
    group_other = torch.where(same_image(one, other), group_one, group_one + 1)
    oriented = torch.cat([one, other])
    groups = torch.cat([group_one, group_other])
    impressions = torch.cat([augment(oriented, params, gen), augment(oriented, params, gen)])
    return Views(impressions, torch.cat([groups, groups]))


def same_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) whether crops ``a[i]`` and ``b[i]`` show the same picture, up to a pixel of blur."""

    def flat(x: torch.Tensor) -> torch.Tensor:
        blurred = functional.avg_pool2d(x, 3, stride=1, padding=1).flatten(1)
        centred = blurred - blurred.mean(1, keepdim=True)
        return functional.normalize(centred, dim=1)

    return (flat(a) * flat(b)).sum(1) >= SAME_IMAGE


def contrastive_loss(
    embeddings: torch.Tensor, groups: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Supervised-contrastive form of InfoNCE, with "supervision" being the view groups."""
    n = len(embeddings)
    itself = torch.eye(n, dtype=torch.bool, device=embeddings.device)
    logits = (embeddings @ embeddings.T / temperature).masked_fill(itself, float("-inf"))
    positive = (groups[:, None] == groups[None, :]) & ~itself
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    per_anchor = -log_prob.masked_fill(~positive, 0.0).sum(1) / positive.sum(1)
    return per_anchor.mean()


def similarity_stats(embeddings: torch.Tensor, groups: torch.Tensor) -> dict[str, float]:
    """Mean cosine similarity of positive pairs and of negative pairs (a label-free check)."""
    n = len(embeddings)
    itself = torch.eye(n, dtype=torch.bool, device=embeddings.device)
    similarity = embeddings @ embeddings.T
    positive = (groups[:, None] == groups[None, :]) & ~itself
    negative = groups[:, None] != groups[None, :]
    return {
        "positive": float(similarity[positive].mean()),
        "negative": float(similarity[negative].mean()),
    }
