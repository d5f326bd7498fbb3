"""Group instances into motifs, each with a prototype and per-instance orientation.

Each instance comes as its eight dihedral views (template pixels or learned embeddings, see
``describe``), and each motif's prototype is kept as eight views too, so that any descriptor
works: an embedding, unlike a template, cannot be turned after the fact. The number of motifs
is unknown, so clustering is threshold-based: a leader pass proposes motifs, then a few rounds
of aligned averaging and reassignment refine them (a dihedral k-means whose k follows the
data), and motifs that turn out alike are merged. Last, each motif may be split where finer
crops of its members, turned upright, fall into clearly different shapes: two flowers of six
and eight petals look alike at the descriptor's scale, not at twice it. Then two new motifs
alike at the descriptor's scale are joined again where their finer crops, taken together, are
one shape (the small impressions of a block, say, that had made a motif of their own).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.cluster.hierarchy import fcluster, linkage

from service.decompose.describe import dihedral_similarity, normalise
from service.dihedral import (
    ALL_ORIENTATIONS,
    Orientation,
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
#: Fine crops shifted at a time when a motif's members are registered before a split.
SPLIT_CHUNK = 256


@dataclass(frozen=True)
class ClusterParams:
    # Similarity with a prototype above which an instance belongs to that motif.
    join: float = 0.8
    # Prototypes this alike (under some orientation) are one motif.
    merge: float = 0.85
    # Prototypes whose similarity exceeds this share a parent group in the hierarchy.
    group: float = 0.45
    rounds: int = 4
    # A motif is split in two (and each half again, ``split_depth`` times at most) when the
    # Ward halves of its members' fine crops are two populations, not one shape worn or inked
    # unevenly: each half's members at least ``split_gap`` more alike among themselves than
    # with the other half, and the halves ``split_separation`` apart (Ashman's D of members
    # projected, each held out, on the line between the halves' means; cutting one Gaussian
    # at its mean gives 2.7), with ``min_split`` members or more in each half. Four rounds,
    # as one coarse motif can hold more alike designs than the eight parts three would give.
    split_gap: float = 0.035
    split_separation: float = 6.0
    split_depth: int = 4
    min_split: int = 3
    # Only members printed at least this large (long side, page pixels) decide a split: a
    # crop scaled up from fewer pixels is blurred, and blur alone would part it from the rest.
    split_min_side: int = 48
    # Blur of the fine crops, and the shift (pixels) each may move to meet its motif's mean:
    # a box's rounding moves thin shapes by a pixel, which should not count as a difference.
    split_blur: float = 1.0
    split_shift: int = 1
    # At most this many decisive members judge a split (Ward linkage and the likeness matrix
    # grow with the square of their number; a common block has thousands of impressions).
    split_judges: int = 256
    # After the splits, two new motifs whose prototypes are this alike are one again when
    # their members' fine crops, taken together, are one shape by the split's own test: the
    # small impressions of a block can make a motif of their own, then found apart by no test.
    rejoin: float = 0.75


@dataclass(frozen=True)
class FineCrops:
    """Crops larger than the templates, which tell apart motifs alike at the template's size."""

    crops: np.ndarray  # (N, F, F) ink crops, long side F
    sides: np.ndarray  # (N,) long side of each instance as printed, in page pixels


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
    fine: FineCrops | None = None,
) -> Clustering:
    """Cluster instances given their (N, S, S) ``templates`` and (N, 8, D) unit ``views``.

    ``known`` (K, 8, D) are the prototypes of an existing catalogue: they stay as they are,
    instances are assigned to them first, and only what fits none of them makes new motifs.
    ``fine`` crops, larger than the templates, let new motifs be split.
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
        found = _rejoined(views, fine, found, prototypes, len(fixed), params)
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
    fine: FineCrops,
    found: _Assignment,
    prototypes: np.ndarray,
    keep_first: int,
    params: ClusterParams,
) -> tuple[_Assignment, np.ndarray]:
    """Split each new motif whose members' fine crops fall into different shapes; return the
    assignment and the prototypes after the splits (the parts after the first are appended)."""
    labels, similarity = found.labels.copy(), found.similarity.copy()
    added: list[np.ndarray] = []
    for members in grouped(np.arange(len(found.labels)), found.labels):
        motif = int(found.labels[members[0]])
        if motif < keep_first or len(members) < 2 * params.min_split:
            continue
        crops, decisive, keys = _judged_crops(fine, members, found.views[members], params)
        parts = _shapes(crops, decisive, keys, params, params.split_depth)
        count = int(parts.max()) + 1
        if count == 1:
            continue
        split = _Assignment(parts, found.views[members], similarity[members])
        means = _aligned_means(views[members], split, count)
        prototypes[motif] = means[0]
        first_new = len(prototypes) + len(added)
        added.extend(means[1:])
        labels[members] = np.array([motif, *range(first_new, first_new + count - 1)])[parts]
        shown = views[members, found.views[members]]
        similarity[members] = np.einsum("nd,nd->n", shown, means[parts, 0])
    if not added:
        return found, prototypes
    return _Assignment(labels, found.views, similarity), np.concatenate([prototypes, added])


def _rejoined(
    views: np.ndarray,
    fine: FineCrops,
    found: _Assignment,
    prototypes: np.ndarray,
    keep_first: int,
    params: ClusterParams,
) -> _Assignment:
    """``found`` with each pair of new motifs joined whose prototypes are alike
    (``params.rejoin``) and whose members' fine crops, taken together, are one shape."""
    labels, member_views = found.labels.copy(), found.views.copy()
    similarity = found.similarity.copy()
    new = np.unique(labels[labels >= keep_first])
    members = {int(motif): np.flatnonzero(labels == motif) for motif in new}
    alike = np.triu(dihedral_similarity(prototypes[new]) >= params.rejoin, 1)
    for first, second in new[np.argwhere(alike)]:
        kept, moved = members[first], members[second]
        if not len(kept) or not len(moved):
            continue
        joined = _assign(views[moved], prototypes[[first]])
        both = np.concatenate([kept, moved])
        crops, decisive, keys = _judged_crops(
            fine, both, np.concatenate([member_views[kept], joined.views]), params
        )
        if not _one_shape(crops[judging(decisive, keys, params.split_judges)], params):
            continue
        labels[moved] = first
        member_views[moved], similarity[moved] = joined.views, joined.similarity
        members[first], members[second] = both, moved[:0]
    return _Assignment(labels, member_views, similarity)


def _one_shape(judges: np.ndarray, params: ClusterParams) -> bool:
    """Whether the ``judges`` (upright fine crops) are one shape: enough of them to tell,
    and no two populations among them. Too few, the motifs stay apart, as nothing joined them."""
    return len(judges) >= 2 * params.min_split and _two_shapes(judges, params, deeper=True) is None


def _judged_crops(
    fine: FineCrops, members: np.ndarray, member_views: np.ndarray, params: ClusterParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``members``' upright fine crops, which of them are decisive (printed large enough
    to judge a split) and a hash of each member's crop (which chooses the judges)."""
    crops = _upright_crops(fine.crops[members], member_views, params)
    decisive = fine.sides[members] >= params.split_min_side
    keys = np.array([zlib.crc32(crop.tobytes()) for crop in fine.crops[members]])
    return crops, decisive, keys


def grouped(indices: np.ndarray, keys: np.ndarray) -> list[np.ndarray]:
    """``indices`` in groups of equal ``keys[index]``, by increasing key, each in its original
    order; in one sort, as a collection holds millions of instances."""
    ordered = indices[np.argsort(keys[indices], kind="stable")]
    cuts = np.flatnonzero(np.diff(keys[ordered])) + 1
    return [group for group in np.split(ordered, cuts) if len(group)]


def _upright_crops(crops: np.ndarray, views: np.ndarray, params: ClusterParams) -> np.ndarray:
    """(N, F*F) blurred, normalised crops turned upright, each shifted to meet their mean."""
    upright = np.stack(
        [orient(crop, ALL_ORIENTATIONS[view]) for crop, view in zip(crops, views, strict=True)]
    ).astype(np.float32)
    blurred = ndimage.gaussian_filter(upright, (0, params.split_blur, params.split_blur))
    flat = normalise(blurred.reshape(len(crops), -1)).reshape(blurred.shape)
    for _ in range(2):
        mean = flat.mean(axis=0)
        for start in range(0, len(flat), SPLIT_CHUNK):
            flat[start : start + SPLIT_CHUNK] = _shifted_to(
                mean, flat[start : start + SPLIT_CHUNK], params.split_shift
            )
    return normalise(flat.reshape(len(crops), -1))


def _shifted_to(mean: np.ndarray, crops: np.ndarray, reach: int) -> np.ndarray:
    """Each of ``crops`` moved by up to ``reach`` pixels either way to best match ``mean``.

    Rolling wraps the crop's blank margin round, which leaves the ink as it is."""
    steps = range(-reach, reach + 1)
    moved = np.stack([np.roll(crops, (dy, dx), axis=(1, 2)) for dy in steps for dx in steps])
    best = np.einsum("snij,ij->sn", moved, mean).argmax(axis=0)
    return moved[best, np.arange(len(crops))]


def _shapes(
    crops: np.ndarray, decisive: np.ndarray, keys: np.ndarray, params: ClusterParams, depth: int
) -> np.ndarray:
    """Which shape each of the (N, D) ``crops`` shows, 0 to K - 1: split in two while the
    ``decisive`` crops (the sharp ones) hold two shapes, ``depth`` times at most. ``keys``
    (a hash of each member's own crop) choose the judges of a large motif."""
    parts = np.zeros(len(crops), dtype=np.int64)
    second = _second_shape(crops, decisive, keys, params) if depth else None
    if second is None:
        return parts
    first = ~second
    first_parts = _shapes(crops[first], decisive[first], keys[first], params, depth - 1)
    second_parts = _shapes(crops[second], decisive[second], keys[second], params, depth - 1)
    parts[first] = first_parts
    parts[second] = second_parts + first_parts.max() + 1
    return parts


def _second_shape(
    crops: np.ndarray, decisive: np.ndarray, keys: np.ndarray, params: ClusterParams
) -> np.ndarray | None:
    """Mask of the crops showing the second of two clearly different shapes, or None.

    The decisive crops are cut in two (``_two_shapes``); then every crop, decisive or not,
    goes with the half whose mean it is more alike.
    """
    judges = crops[judging(decisive, keys, params.split_judges)]
    half = _two_shapes(judges, params, deeper=True)
    if half is None:
        return None
    centres = normalise(np.stack([judges[~half].mean(axis=0), judges[half].mean(axis=0)]))
    second = np.argmax(crops @ centres.T, axis=1) == 1
    return second if 0 < second.sum() < len(crops) else None


def _two_shapes(judges: np.ndarray, params: ClusterParams, deeper: bool) -> np.ndarray | None:
    """The ``judges`` cut in two by Ward linkage (mask of the second half) where the halves
    are two populations (see ``ClusterParams``), or None.

    Halves that each hold several shapes (four alike stars, two and two) spread wide along
    the line between them, and so seem less apart than they are: ``deeper``, such halves are
    also taken where one of them is itself cut cleanly in two.
    """
    if len(judges) < 2 * params.min_split:
        return None
    half = fcluster(linkage(judges, method="ward"), 2, criterion="maxclust") == 2
    if min(half.sum(), (~half).sum()) < params.min_split:
        return None
    if _likeness_gap(judges, half) < params.split_gap:
        return None
    if _separation(judges, half) >= params.split_separation:
        return half
    if deeper and any(
        _two_shapes(judges[side], params, False) is not None for side in (~half, half)
    ):
        return half
    return None


def judging(decisive: np.ndarray, keys: np.ndarray, most: int) -> np.ndarray:
    """Indices of the members that judge a split: the ``decisive`` ones, or of these the
    ``most`` whose ``keys`` (hashes of their own crops) are lowest. So the same collection
    always gets the same judges, and one impression more or fewer changes one judge at most
    (taken evenly spaced, they would all shift)."""
    chosen = np.flatnonzero(decisive)
    if len(chosen) <= most:
        return chosen
    return np.sort(chosen[np.argsort(keys[chosen], kind="stable")[:most]])


def _likeness_gap(crops: np.ndarray, half: np.ndarray) -> float:
    """How much more alike each half's members are among themselves (the lesser of the two
    halves, each member's likeness to itself included) than with the other half."""
    likeness = crops @ crops.T
    within = min(likeness[np.ix_(side, side)].mean() for side in (~half, half))
    return float(within - likeness[np.ix_(~half, half)].mean())


def _separation(crops: np.ndarray, half: np.ndarray) -> float:
    """Ashman's D of the two halves along the line between their means, each member projected
    on the line drawn without it (with it, any cut of many dimensions looks well apart)."""
    side = half.astype(np.int64)
    counts = np.bincount(side, minlength=2)
    sums = np.stack([crops[~half].sum(axis=0), crops[half].sum(axis=0)])
    # Per member, the means of both halves, its own half's drawn without it.
    means = np.repeat((sums / counts[:, None])[None], len(crops), axis=0)
    means[np.arange(len(crops)), side] = (sums[side] - crops) / (counts[side] - 1)[:, None]
    line = means[:, 1] - means[:, 0]
    line /= np.maximum(np.linalg.norm(line, axis=1, keepdims=True), 1e-12)
    position = np.einsum("nd,nd->n", crops - means.mean(axis=1), line)
    gap = abs(position[half].mean() - position[~half].mean())
    spread = np.sqrt(max(position[~half].var() + position[half].var(), 1e-12))
    return float(np.sqrt(2) * gap / spread)


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
    similarity = dihedral_similarity(prototypes)
    similarity = np.maximum(similarity, similarity.T)
    distance = 1.0 - similarity[np.triu_indices(k, 1)]
    tree = linkage(np.clip(distance, 0, None), method="average")
    return fcluster(tree, t=1.0 - group, criterion="distance") - 1
