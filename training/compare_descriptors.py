"""Does the learned embedding group instances into motifs better than the baseline templates?

Both are scored on the same instances: those the baseline decomposition finds. The learned side
keeps its boxes and ornaments and replaces each instance's motif, orientation and score by a
clustering of the instance's eight dihedral view embeddings, done the way the baseline clusters
its eight template views: a leader pass and a few rounds of aligned averaging, reassignment and
merging. A prototype is kept as all eight of its views, because an embedding, unlike a template,
cannot be turned after the fact. Detection figures are therefore equal by construction.

    python3 -m training.compare_descriptors --bundle BUNDLE --truth DIR [--truth DIR] \
        [--join 0.5 --join 0.7] [--merge 0.85]

Labels are read only by the scorer. This is an experiment for issue 4, not the service's path.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from service.bundle import Bundle, load_bundle
from service.decompose.describe import TEMPLATE_SIZE, dihedral_views, template
from service.decompose.pipeline import decompose_paths, expand_paths, read_page
from service.decompose.segment import ink_map
from service.decomposition import Decomposition, Motif
from service.dihedral import ALL_ORIENTATIONS, Orientation, compose, inverse
from training.evaluate import evaluate

#: PERMUTE[v, o]: the view of an instance that shows its prototype in orientation ``o``, when
#: its view ``v`` shows the prototype upright (orient(x, O_v) = P, so orient(P, O_o) is
#: orient(x, compose(O_v, O_o))).
PERMUTE = np.array(
    [[ALL_ORIENTATIONS.index(compose(v, o)) for o in ALL_ORIENTATIONS] for v in ALL_ORIENTATIONS]
)
ROUNDS = 4
FIGURES = ("ari", "nmi", "purity", "orientation", "predicted_motifs", "truth_motifs", "f1")


@dataclass(frozen=True)
class _Assignment:
    labels: np.ndarray
    views: np.ndarray  # index of the view that shows the prototype upright
    similarity: np.ndarray

    def orientation(self, i: int) -> Orientation:
        """Instance ``i`` = orient(its prototype, this orientation)."""
        return inverse(ALL_ORIENTATIONS[self.views[i]])


def cluster_views(views: np.ndarray, join: float, merge: float) -> _Assignment:
    """(N, 8, D) unit view embeddings → motif labels, orientations and similarities."""
    prototypes = _leader(views, np.zeros((0, *views.shape[1:]), np.float32), join)
    for _ in range(ROUNDS):
        found = _assign(views, prototypes)
        prototypes = _merge(_aligned_means(views, found, len(prototypes)), merge)
        orphans = _assign(views, prototypes).similarity < join
        prototypes = _leader(views[orphans], prototypes, join)
    found = _assign(views, prototypes)
    _, labels = np.unique(found.labels, return_inverse=True)
    return _Assignment(labels, found.views, found.similarity)


def _assign(views: np.ndarray, prototypes: np.ndarray) -> _Assignment:
    scores = np.einsum("nvd,kd->nkv", views, prototypes[:, 0])
    flat = scores.reshape(len(views), -1).argmax(axis=1)
    labels, view = np.divmod(flat, len(ALL_ORIENTATIONS))
    return _Assignment(labels, view, scores[np.arange(len(views)), labels, view])


def _leader(views: np.ndarray, prototypes: np.ndarray, join: float) -> np.ndarray:
    found = list(prototypes)
    for instance in views:
        if found and float((instance @ np.asarray(found)[:, 0].T).max()) >= join:
            continue
        found.append(instance)  # its own frame is the new prototype's upright
    return np.asarray(found, dtype=np.float32).reshape(-1, *views.shape[1:])


def _aligned_means(views: np.ndarray, found: _Assignment, k: int) -> np.ndarray:
    aligned = views[np.arange(len(views))[:, None], PERMUTE[found.views]]  # (N, 8, D)
    sums = np.zeros((k, *views.shape[1:]))
    np.add.at(sums, found.labels, aligned)
    sums = sums[np.bincount(found.labels, minlength=k) > 0]
    return (sums / np.linalg.norm(sums, axis=2, keepdims=True)).astype(np.float32)


def _merge(prototypes: np.ndarray, merge: float) -> np.ndarray:
    kept: list[np.ndarray] = []
    for proto in prototypes:
        if kept and float((np.asarray(kept) @ proto[0]).max()) >= merge:
            continue
        kept.append(proto)
    return np.asarray(kept, dtype=np.float32)


def instance_crops(baseline: Decomposition, size: int) -> np.ndarray:
    """(N, size, size) crops of every instance of ``baseline``, in page order."""
    crops: list[np.ndarray] = []
    for page in baseline.pages:
        ink = ink_map(read_page(Path(page.image)).pixels)
        crops.extend(template(ink, instance.bbox, size) for instance in page.instances)
    return np.asarray(crops, np.float32).reshape(-1, size, size)


def regroup(baseline: Decomposition, grouping: _Assignment) -> Decomposition:
    """``baseline`` with every instance's motif, orientation and score taken from ``grouping``."""
    pages, start = [], 0
    for page in baseline.pages:
        instances = []
        for offset, instance in enumerate(page.instances):
            i = start + offset
            orientation = grouping.orientation(i)
            score = round(float(np.clip(grouping.similarity[i], 0.0, 1.0)), 4)
            instances.append(
                replace(
                    instance,
                    motif=f"m{grouping.labels[i] + 1:04d}",
                    score=score,
                    rotation=orientation.rotation,
                    mirror=orientation.mirror,
                )
            )
        pages.append(replace(page, instances=instances))
        start += len(page.instances)
    counts = np.bincount(grouping.labels) if len(grouping.labels) else np.zeros(0, int)
    motifs = [Motif(f"m{k + 1:04d}", 0, 0, int(c)) for k, c in enumerate(counts) if c]
    return Decomposition(pages=pages, motifs=motifs)


def compare(
    truth_dirs: Sequence[Path], bundle: Bundle, joins: Sequence[float], merge: float
) -> list[dict[str, object]]:
    """Scores of the baseline, then of each descriptor under this module's clustering (which
    separates what the descriptor brings from what the clustering brings), for every join."""
    rows = []
    for truth in truth_dirs:
        baseline = decompose_paths(expand_paths([Path(truth) / "images"]))
        rows.append(_row(truth, "baseline pipeline", baseline))
        descriptors = {
            "templates": dihedral_views(instance_crops(baseline, TEMPLATE_SIZE)),
            "learned": bundle.embed_views(instance_crops(baseline, bundle.contract.size)),
        }
        for name, views in descriptors.items():
            for join in joins:
                grouped = regroup(baseline, cluster_views(views, join, merge))
                rows.append(_row(truth, f"{name} join={join}", grouped))
    return rows


def _row(truth: Path, descriptor: str, decomposition: Decomposition) -> dict[str, object]:
    splits = evaluate(decomposition, [truth])["splits"]
    return {"truth": str(truth), "descriptor": descriptor, **_pick(splits)}


def _pick(splits: dict[str, dict[str, object]]) -> dict[str, object]:
    ((name, figures),) = splits.items()
    return {"split": name, **{key: figures[key] for key in FIGURES}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--truth", type=Path, action="append", required=True)
    parser.add_argument("--join", type=float, action="append", help="default: 0.6")
    parser.add_argument("--merge", type=float, default=0.85)
    args = parser.parse_args(argv)
    rows = compare(args.truth, load_bundle(args.bundle), args.join or [0.6], args.merge)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
