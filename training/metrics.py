"""Pure metric functions of the scorer: box overlap, detection, grouping and orientation.

Kept free of file formats so each one can be checked against hand-computed values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from service.dihedral import ALL_ORIENTATIONS, Orientation, compose, inverse

BoxLike = Sequence[float]
# (predicted motif, predicted orientation, truth orientation, truth design's symmetries)
OrientedMatch = tuple[Hashable, Orientation, Orientation, frozenset[Orientation]]


def iou_matrix(boxes_a: Sequence[BoxLike], boxes_b: Sequence[BoxLike]) -> np.ndarray:
    """IoU of each ``[x, y, w, h]`` box of ``boxes_a`` with each box of ``boxes_b``."""
    if not boxes_a or not boxes_b:
        return np.zeros((len(boxes_a), len(boxes_b)))
    a = np.asarray(boxes_a, dtype=float)[:, None, :]
    b = np.asarray(boxes_b, dtype=float)[None, :, :]
    low = np.maximum(a[..., :2], b[..., :2])
    high = np.minimum(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    union = np.prod(a[..., 2:], axis=-1) + np.prod(b[..., 2:], axis=-1) - inter
    return inter / union


def match_boxes(
    predicted: Sequence[BoxLike], truth: Sequence[BoxLike], iou_threshold: float
) -> list[tuple[int, int]]:
    """One-to-one ``(predicted, truth)`` index pairs with IoU >= threshold, maximising total IoU.

    Pairs below the threshold weigh zero in the assignment, so the optimum over the allowed pairs
    is found, and are then dropped.
    """
    iou = iou_matrix(predicted, truth)
    if iou.size == 0:
        return []
    weight = np.where(iou >= iou_threshold, iou, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= iou_threshold]


def average_precision(
    pages: Sequence[tuple[Sequence[BoxLike], Sequence[float], Sequence[BoxLike]]],
    iou_threshold: float = 0.5,
) -> float | None:
    """Class-agnostic average precision over ``(predicted boxes, scores, truth boxes)`` pages.

    Definition: predictions of all pages are ranked by decreasing score (ties keep input order);
    each, in turn, takes the still-unmatched truth box of its page with the highest IoU if that
    IoU >= threshold (COCO-style greedy matching), else it is a false positive. AP is the area
    under the precision-recall curve with all-point interpolation (PASCAL VOC 2010+): precision
    at each recall is the best precision at that recall or beyond, summed over recall steps.
    Returns None when there is no truth box.
    """
    n_truth = sum(len(truth) for _, _, truth in pages)
    if n_truth == 0:
        return None
    ranked = [
        (score, page_index, box_index)
        for page_index, (_, scores, _) in enumerate(pages)
        for box_index, score in enumerate(scores)
    ]
    ranked.sort(key=lambda item: -item[0])  # stable: ties keep input order
    ious = [iou_matrix(predicted, truth) for predicted, _, truth in pages]
    taken = [np.zeros(len(truth), dtype=bool) for _, _, truth in pages]
    hits = np.zeros(len(ranked), dtype=bool)
    for rank, (_, page_index, box_index) in enumerate(ranked):
        row = np.where(taken[page_index], -1.0, ious[page_index][box_index])
        if row.size and row.max() >= iou_threshold:
            taken[page_index][int(row.argmax())] = True
            hits[rank] = True
    return _area_under_pr(hits, n_truth)


def _area_under_pr(hits: np.ndarray, n_truth: int) -> float:
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1)
    recall = true_positives / n_truth
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * envelope))


def contingency(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> np.ndarray:
    """Counts of items per (truth label, predicted label); label values are arbitrary."""
    truth_ids = {label: i for i, label in enumerate(dict.fromkeys(truth))}
    pred_ids = {label: i for i, label in enumerate(dict.fromkeys(predicted))}
    table = np.zeros((len(truth_ids), len(pred_ids)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        table[truth_ids[t], pred_ids[p]] += 1
    return table


def _pairs(counts: np.ndarray) -> float:
    return float(np.sum(counts * (counts - 1)) / 2)


def adjusted_rand_index(table: np.ndarray) -> float | None:
    """Hubert-Arabie adjusted Rand index of a contingency table (as scikit-learn computes it)."""
    n = int(table.sum())
    if n == 0:
        return None
    index = _pairs(table)
    rows, cols = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    expected = rows * cols / _pairs(np.array(n)) if n > 1 else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:  # only when both partitions are identical and trivial
        return 1.0
    return (index - expected) / (maximum - expected)


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def normalized_mutual_info(table: np.ndarray) -> float | None:
    """Mutual information over the arithmetic mean of both entropies (scikit-learn's default)."""
    n = table.sum()
    if n == 0:
        return None
    if table.shape[0] == table.shape[1] == 1:
        return 1.0  # one group on both sides: identical partitions
    joint = table / n
    outer = np.outer(table.sum(axis=1), table.sum(axis=0)) / n**2
    nonzero = joint > 0
    mutual = float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))
    mean_entropy = (_entropy(table.sum(axis=1)) + _entropy(table.sum(axis=0))) / 2
    return mutual / mean_entropy if mean_entropy > 0 else 0.0


def purity(table: np.ndarray) -> float | None:
    """Share of items whose predicted group's majority truth label is their own."""
    n = table.sum()
    return float(table.max(axis=0).sum() / n) if n else None


def orientation_correct(
    predicted: Orientation, truth: Orientation, symmetries: frozenset[Orientation]
) -> bool:
    """Whether ``predicted`` draws the same pixels as ``truth`` for a design with ``symmetries``.

    Both orientations draw the design D as ``orient(D, .)``; the drawings agree iff undoing
    ``truth`` after applying ``predicted`` leaves D unchanged, i.e. lands in its symmetries.
    """
    return compose(predicted, inverse(truth)) in symmetries


def orientation_accuracy(
    matches: Sequence[OrientedMatch],
) -> float | None:
    """Share of matched instances oriented right, allowing one offset per predicted motif.

    A predicted orientation is relative to its motif's prototype, which is the design drawn in
    some unknown orientation O; the instance is then the design drawn in ``compose(O, predicted)``
    (O applied first). For each motif the O that makes the most of its instances right is used.
    """
    if not matches:
        return None
    by_motif: dict[Hashable, list[OrientedMatch]] = defaultdict(list)
    for match in matches:
        by_motif[match[0]].append(match)
    correct = sum(_best_offset_count(group) for group in by_motif.values())
    return correct / len(matches)


def _best_offset_count(matches: Sequence[OrientedMatch]) -> int:
    return max(
        sum(orientation_correct(compose(offset, p), t, s) for _, p, t, s in matches)
        for offset in ALL_ORIENTATIONS
    )


def grouping_scores(
    truth: Sequence[Hashable], predicted: Sequence[Hashable]
) -> dict[str, float | None]:
    """ARI, NMI and purity of the predicted grouping of the same items against the truth one."""
    table = contingency(truth, predicted)
    return {
        "ari": adjusted_rand_index(table),
        "nmi": normalized_mutual_info(table),
        "purity": purity(table),
    }
