"""Group instance templates into motifs, each with a prototype and per-instance orientation.

The number of motifs is unknown, so clustering is threshold-based: a leader pass proposes
motifs, then a few rounds of aligned averaging and reassignment refine them (a dihedral
k-means whose k follows the data), and motifs that turn out alike are merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from service.decompose.describe import normalise
from service.dihedral import ALL_ORIENTATIONS, Orientation, inverse, orient


@dataclass(frozen=True)
class ClusterParams:
    # Correlation with a prototype above which an instance belongs to that motif.
    join: float = 0.8
    # Prototypes this alike (under some orientation) are one motif.
    merge: float = 0.85
    # Prototypes whose correlation exceeds this share a parent group in the hierarchy.
    group: float = 0.45
    rounds: int = 4


@dataclass
class Clustering:
    labels: np.ndarray  # (N,) motif index per instance
    orientations: list[Orientation]  # instance = orient(prototype, orientation)
    similarity: np.ndarray  # (N,) correlation with the prototype
    prototypes: np.ndarray  # (K, S, S) templates in the prototype frame
    parents: np.ndarray  # (K,) group index per motif


def cluster_templates(
    templates: np.ndarray, views: np.ndarray, params: ClusterParams | None = None
) -> Clustering:
    """Cluster (N, S, S) ``templates`` whose (N, 8, D) normalised ``views`` are given."""
    params = params or ClusterParams()
    n, size = len(templates), templates.shape[-1]
    if n == 0:
        empty = np.zeros((0, size, size), dtype=np.float32)
        return Clustering(np.zeros(0, int), [], np.zeros(0), empty, np.zeros(0, int))
    prototypes = _leader_pass(views, np.zeros((0, views.shape[2]), np.float32), params.join)
    for _ in range(params.rounds):
        labels, view_index, similarity = _assign(views, prototypes)
        prototypes = _aligned_means(views, labels, view_index, len(prototypes))
        prototypes = _merge_alike(prototypes, params.merge)
        orphans = _assign(views, prototypes)[2] < params.join
        prototypes = _leader_pass(views[orphans], prototypes, params.join)
    labels, view_index, similarity = _assign(views, prototypes)
    labels, prototypes = _drop_empty(labels, prototypes)
    images = _aligned_template_means(templates, labels, view_index, len(prototypes))
    return Clustering(
        labels=labels,
        orientations=[inverse(ALL_ORIENTATIONS[v]) for v in view_index],
        similarity=similarity,
        prototypes=images,
        parents=_hierarchy(prototypes, params.group),
    )


def _assign(views: np.ndarray, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best prototype, best view (orientation index) and correlation for every instance."""
    scores = np.einsum("nvd,kd->nkv", views, prototypes)  # (N, K, 8)
    flat = scores.reshape(len(views), -1).argmax(axis=1)
    labels, view_index = np.divmod(flat, len(ALL_ORIENTATIONS))
    return labels, view_index, scores[np.arange(len(views)), labels, view_index]


def _leader_pass(views: np.ndarray, prototypes: np.ndarray, join: float) -> np.ndarray:
    """Add a prototype for every instance that no existing prototype explains."""
    found = list(prototypes)
    for instance in views:
        if found and float((instance @ np.asarray(found).T).max()) >= join:
            continue
        found.append(instance[0])
    return np.asarray(found, dtype=np.float32).reshape(-1, views.shape[2])


def _aligned_means(
    views: np.ndarray, labels: np.ndarray, view_index: np.ndarray, k: int
) -> np.ndarray:
    aligned = views[np.arange(len(views)), view_index]
    sums = np.zeros((k, views.shape[2]), dtype=np.float64)
    np.add.at(sums, labels, aligned)
    keep = np.bincount(labels, minlength=k) > 0
    return normalise(sums[keep]).astype(np.float32)


def _merge_alike(prototypes: np.ndarray, merge: float) -> np.ndarray:
    """Keep the first of every set of prototypes that match under some orientation."""
    size = int(round(np.sqrt(prototypes.shape[1])))
    kept: list[np.ndarray] = []
    for proto in prototypes:
        image = proto.reshape(size, size)
        views = np.stack([orient(image, o).ravel() for o in ALL_ORIENTATIONS])
        if kept and float((views @ np.asarray(kept).T).max()) >= merge:
            continue
        kept.append(proto)
    return np.asarray(kept, dtype=np.float32)


def _drop_empty(labels: np.ndarray, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used = np.unique(labels)
    remap = np.full(len(prototypes), -1)
    remap[used] = np.arange(len(used))
    return remap[labels], prototypes[used]


def _aligned_template_means(
    templates: np.ndarray, labels: np.ndarray, view_index: np.ndarray, k: int
) -> np.ndarray:
    """Prototype images: every member turned into the prototype frame, then averaged."""
    size = templates.shape[-1]
    sums = np.zeros((k, size, size), dtype=np.float64)
    for template, label, view in zip(templates, labels, view_index, strict=True):
        sums[label] += orient(template, ALL_ORIENTATIONS[view])
    counts = np.maximum(np.bincount(labels, minlength=k), 1)
    return (sums / counts[:, None, None]).astype(np.float32)


def _hierarchy(prototypes: np.ndarray, group: float) -> np.ndarray:
    """Parent group per motif: average-linkage clusters of dihedral prototype distances."""
    k = len(prototypes)
    if k < 2:
        return np.zeros(k, dtype=int)
    size = int(round(np.sqrt(prototypes.shape[1])))
    views = np.stack(
        [
            np.stack([orient(p.reshape(size, size), o).ravel() for o in ALL_ORIENTATIONS])
            for p in prototypes
        ]
    )
    similarity = np.einsum("avd,bd->abv", views, prototypes).max(axis=2)
    similarity = np.maximum(similarity, similarity.T)
    distance = 1.0 - similarity[np.triu_indices(k, 1)]
    tree = linkage(np.clip(distance, 0, None), method="average")
    return fcluster(tree, t=1.0 - group, criterion="distance") - 1


def instance_scores(clustering: Clustering) -> np.ndarray:
    """Confidence that each instance is an impression of a recurring block.

    Likeness to the prototype, discounted when the motif has little support: a shape that
    recurs nowhere in the collection is no evidence of a printing block.
    """
    support = np.bincount(clustering.labels)[clustering.labels]
    return np.clip(clustering.similarity, 0.0, 1.0) * support / (support + 1)
