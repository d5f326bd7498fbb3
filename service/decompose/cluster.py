"""Group instances into motifs, each with a prototype and per-instance orientation.

Each instance comes as its eight dihedral views (template pixels or learned embeddings, see
``describe``), and each motif's prototype is kept as eight views too, so that any descriptor
works: an embedding, unlike a template, cannot be turned after the fact. The number of motifs
is unknown, so clustering is threshold-based: a leader pass proposes motifs, then a few rounds
of aligned averaging and reassignment refine them (a dihedral k-means whose k follows the
data), and motifs that turn out alike are merged. Last, each motif may be split in two where
finer crops of its members, turned upright, fall into two clearly different shapes: two
flowers of six and eight petals look alike at the descriptor's scale, not at twice it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.cluster.hierarchy import fcluster, linkage

from service.decompose.describe import normalise
from service.dihedral import (
    ALL_ORIENTATIONS,
    Orientation,
    all_orientations,
    compose,
    inverse,
    orient,
)

#: PERMUTE[v, o]: the view of an instance that shows its prototype in orientation ``o`` when its
#: view ``v`` shows the prototype upright (orient(x, O_v) = P, so orient(P, O_o) is
#: orient(x, compose(O_v, O_o))).
PERMUTE = np.array(
    [[ALL_ORIENTATIONS.index(compose(v, o)) for o in ALL_ORIENTATIONS] for v in ALL_ORIENTATIONS]
)


#: Instances compared with the known prototypes in one matrix product by the leader pass.
LEADER_CHUNK = 256


@dataclass(frozen=True)
class ClusterParams:
    # Similarity with a prototype above which an instance belongs to that motif.
    join: float = 0.8
    # Prototypes this alike (under some orientation) are one motif.
    merge: float = 0.85
    # Prototypes whose similarity exceeds this share a parent group in the hierarchy.
    group: float = 0.45
    rounds: int = 4
    # A motif is split in two when the halves' fine prototypes (any orientation) are less
    # alike than ``split_below`` and than their members are to them, less ``split_margin``
    # (worn and fresh impressions of one block differ less than that), and each half holds
    # ``min_split`` members or more.
    split_below: float = 0.85
    split_margin: float = 0.15
    min_split: int = 3
    # Blur of the fine crops, in pixels.
    split_blur: float = 0.5


@dataclass
class Clustering:
    labels: np.ndarray  # (N,) motif index per instance
    orientations: list[Orientation]  # instance = orient(prototype, orientation)
    similarity: np.ndarray  # (N,) similarity with the prototype
    prototypes: np.ndarray  # (K, S, S) template images in the prototype frame
    parents: np.ndarray  # (K,) group index per motif
    views: np.ndarray  # (K, 8, D) each prototype's eight views
    known: np.ndarray  # (K,) index into the known prototypes given, or -1 for a new motif


@dataclass(frozen=True)
class _Assignment:
    labels: np.ndarray
    views: np.ndarray  # per instance, the view that shows its prototype upright
    similarity: np.ndarray


def cluster_views(
    templates: np.ndarray,
    views: np.ndarray,
    params: ClusterParams | None = None,
    known: np.ndarray | None = None,
    fine: np.ndarray | None = None,
) -> Clustering:
    """Cluster instances given their (N, S, S) ``templates`` and (N, 8, D) unit ``views``.

    ``known`` (K, 8, D) are the prototypes of an existing catalogue: they stay as they are,
    instances are assigned to them first, and only what fits none of them makes new motifs.
    ``fine`` (N, F, F) crops, larger than the templates, let new motifs be split in two.
    """
    params = params or ClusterParams()
    fixed = np.zeros((0, *views.shape[1:]), np.float32) if known is None else known
    if len(views) == 0:
        size = templates.shape[-1]
        empty = np.zeros((0, size, size), dtype=np.float32)
        none = np.zeros(0, int)
        return Clustering(none, [], np.zeros(0), empty, none, fixed[:0], none)
    prototypes = _leader_pass(views, fixed, params.join)
    for _ in range(params.rounds):
        found = _assign(views, prototypes)
        means = _aligned_means(views, found, len(prototypes), keep_first=len(fixed))
        prototypes = _merge_alike(
            np.concatenate([fixed, means[len(fixed) :]]), params.merge, keep_first=len(fixed)
        )
        orphans = _assign(views, prototypes).similarity < params.join
        prototypes = _leader_pass(views[orphans], prototypes, params.join)
    found = _assign(views, prototypes)
    if fine is not None:
        found, prototypes = _split_mixed(views, fine, found, prototypes, len(fixed), params)
    used, labels = np.unique(found.labels, return_inverse=True)
    return Clustering(
        labels=labels,
        orientations=[inverse(ALL_ORIENTATIONS[v]) for v in found.views],
        similarity=found.similarity,
        prototypes=_aligned_template_means(templates, labels, found.views, len(used)),
        parents=_hierarchy(prototypes[used], params.group),
        views=prototypes[used],
        known=np.where(used < len(fixed), used, -1),
    )


def instance_scores(clustering: Clustering) -> np.ndarray:
    """Confidence that each instance is an impression of a recurring block.

    Likeness to the prototype, discounted when the motif has little support: a shape that
    recurs nowhere in the collection is no evidence of a printing block.
    """
    support = np.bincount(clustering.labels)[clustering.labels]
    return np.clip(clustering.similarity, 0.0, 1.0) * support / (support + 1)


def _assign(views: np.ndarray, prototypes: np.ndarray) -> _Assignment:
    """Best prototype, the view showing it upright, and the similarity, for every instance."""
    # One matrix product (BLAS) rather than einsum: this is most of the clustering time.
    flat_views = views.reshape(-1, views.shape[-1])
    scores = (flat_views @ prototypes[:, 0].T).reshape(len(views), -1, len(prototypes))
    scores = scores.transpose(0, 2, 1)  # (N, K, 8)
    flat = scores.reshape(len(views), -1).argmax(axis=1)
    labels, view = np.divmod(flat, len(ALL_ORIENTATIONS))
    return _Assignment(labels, view, scores[np.arange(len(views)), labels, view])


def _split_mixed(
    views: np.ndarray,
    fine: np.ndarray,
    found: _Assignment,
    prototypes: np.ndarray,
    keep_first: int,
    params: ClusterParams,
) -> tuple[_Assignment, np.ndarray]:
    """Split each new motif whose members' fine crops fall into two different shapes; return
    the assignment and the prototypes after the splits (a split's second half is appended)."""
    labels, similarity = found.labels.copy(), found.similarity.copy()
    added = []
    for motif in range(keep_first, len(prototypes)):
        members = np.flatnonzero(found.labels == motif)
        if len(members) < 2 * params.min_split:
            continue
        upright = all_orientations(fine[members])[np.arange(len(members)), found.views[members]]
        half = _second_half(upright.astype(np.float32), params)
        if half is None:
            continue
        halves = _Assignment(half.astype(np.int64), found.views[members], similarity[members])
        means = _aligned_means(views[members], halves, 2)
        prototypes[motif] = means[0]
        added.append(means[1])
        labels[members[half]] = len(prototypes) + len(added) - 1
        shown = views[members, found.views[members]]
        similarity[members] = np.einsum("nd,nd->n", shown, means[half.astype(np.int64), 0])
    if not added:
        return found, prototypes
    return _Assignment(labels, found.views, similarity), np.concatenate([prototypes, added])


def _second_half(upright: np.ndarray, params: ClusterParams) -> np.ndarray | None:
    """Mask of the members forming the second of two clearly different shapes, or None.

    Two-means on the blurred, normalised crops, seeded with the two least alike members."""
    blurred = ndimage.gaussian_filter(upright, (0, params.split_blur, params.split_blur))
    crops = normalise(blurred.reshape(len(upright), -1))
    likeness = crops @ crops.T
    first, second = np.unravel_index(np.argmin(likeness), likeness.shape)
    centres = crops[[first, second]]
    for _ in range(10):
        half = np.argmax(crops @ centres.T, axis=1)
        if half.min() == half.max():
            return None
        centres = normalise(np.stack([crops[half == j].mean(axis=0) for j in (0, 1)]))
    if np.bincount(half, minlength=2).min() < params.min_split:
        return None
    within = float((crops @ centres.T)[np.arange(len(crops)), half].mean())
    side = upright.shape[-1]
    turned = normalise(all_orientations(centres[:1].reshape(1, side, side)).reshape(8, -1))
    between = float((turned @ centres[1]).max())
    if between >= min(params.split_below, within - params.split_margin):
        return None
    return half == 1


def _leader_pass(views: np.ndarray, prototypes: np.ndarray, join: float) -> np.ndarray:
    """Add a prototype for every instance that no existing prototype explains.

    Instances are taken in order, as a plain loop would, but compared a chunk at a time with
    the prototypes known when the chunk starts (one matrix product), so that only those
    prototypes added within the chunk are compared one instance at a time.
    """
    found = np.zeros((len(prototypes) + len(views), *views.shape[1:]), dtype=np.float32)
    found[: len(prototypes)] = prototypes
    count = len(prototypes)
    for start in range(0, len(views), LEADER_CHUNK):
        chunk = views[start : start + LEADER_CHUNK]
        known = count
        best = np.full(len(chunk), -np.inf, dtype=np.float32)
        if known:
            flat = chunk.reshape(-1, chunk.shape[-1]) @ found[:known, 0].T
            best = flat.reshape(len(chunk), -1).max(axis=1)
        for index, instance in enumerate(chunk):
            if best[index] >= join:
                continue
            if count > known and float((instance @ found[known:count, 0].T).max()) >= join:
                continue
            found[count] = instance  # the instance's own frame is the new prototype's upright
            count += 1
    return found[:count]


def _aligned_means(
    views: np.ndarray, found: _Assignment, k: int, keep_first: int = 0
) -> np.ndarray:
    """Each prototype's eight views: the mean of its members' views, turned into its frame.

    Prototypes without members are dropped, except the first ``keep_first`` (known ones).
    """
    # Members grouped by prototype (a stable sort keeps their order), then summed a group at
    # a time: far faster than an unbuffered np.add.at, and the same sums.
    order = np.argsort(found.labels, kind="stable")
    aligned = views[order[:, None], PERMUTE[found.views[order]]]  # (N, 8, D)
    counts = np.bincount(found.labels, minlength=k)
    sums = np.zeros((k, *views.shape[1:]))
    if len(order):
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts > 0]
        sums[counts > 0] = np.add.reduceat(aligned, starts, axis=0, dtype=np.float64)
    keep = counts > 0
    keep[:keep_first] = True
    norms = np.maximum(np.linalg.norm(sums[keep], axis=2, keepdims=True), 1e-12)
    return (sums[keep] / norms).astype(np.float32)


def _merge_alike(prototypes: np.ndarray, merge: float, keep_first: int = 0) -> np.ndarray:
    """Keep the first of every set of prototypes that match under some orientation.

    The first ``keep_first`` (a known catalogue's) are always kept.
    """
    kept = np.zeros_like(prototypes)
    count = 0
    for index, proto in enumerate(prototypes):
        alike = count and float((kept[:count] @ proto[0]).max()) >= merge
        if alike and index >= keep_first:
            continue
        kept[count] = proto
        count += 1
    return kept[:count]


def _aligned_template_means(
    templates: np.ndarray, labels: np.ndarray, views: np.ndarray, k: int
) -> np.ndarray:
    """Prototype images: every member turned into the prototype frame, then averaged."""
    size = templates.shape[-1]
    sums = np.zeros((k, size, size), dtype=np.float64)
    for template, label, view in zip(templates, labels, views, strict=True):
        sums[label] += orient(template, ALL_ORIENTATIONS[view])
    counts = np.maximum(np.bincount(labels, minlength=k), 1)
    return (sums / counts[:, None, None]).astype(np.float32)


def _hierarchy(prototypes: np.ndarray, group: float) -> np.ndarray:
    """Parent group per motif: average-linkage clusters of dihedral prototype distances."""
    k = len(prototypes)
    if k < 2:
        return np.zeros(k, dtype=int)
    similarity = np.einsum("avd,bd->abv", prototypes, prototypes[:, 0]).max(axis=2)
    similarity = np.maximum(similarity, similarity.T)
    distance = 1.0 - similarity[np.triu_indices(k, 1)]
    tree = linkage(np.clip(distance, 0, None), method="average")
    return fcluster(tree, t=1.0 - group, criterion="distance") - 1
