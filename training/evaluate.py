"""Score a decomposition against synthetic ground truth (``florilege-train evaluate``).

The truth is one COCO-style dataset folder per split (DESIGN.md); the prediction is the
decomposition JSON that ``florilege decompose`` wrote for the same images. Predicted pages are
tied to truth images by path, predicted instances to truth instances by box overlap, and the
grouping and orientation are then scored on the matched instances only, since motif ids and
prototype orientations are arbitrary in an unsupervised decomposition.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.decomposition import Decomposition, Instance
from service.dihedral import IDENTITY, Orientation
from training import metrics

AP_IOU = 0.5
DIGITS = 4


@dataclass(frozen=True)
class TruthInstance:
    bbox: tuple[float, float, float, float]
    category: int
    orientation: Orientation
    symmetries: frozenset[Orientation]  # of the category's design, identity included


@dataclass(frozen=True)
class TruthPage:
    path: Path  # resolved truth_dir / file_name
    split: str
    instances: tuple[TruthInstance, ...]


def load_truth(truth_dirs: Sequence[Path]) -> list[TruthPage]:
    """Read every dataset folder; splits are named by ``info.split`` (else the folder name).

    Folders of the same split are pooled, so their category ids must mean the same designs.
    """
    pages: list[TruthPage] = []
    for folder in truth_dirs:
        root = Path(folder).resolve()
        doc = json.loads((root / "annotations.json").read_text())
        split = str(doc.get("info", {}).get("split") or root.name)
        symmetries = {int(c["id"]): _symmetries(c) for c in doc.get("categories", [])}
        by_image: dict[int, list[TruthInstance]] = defaultdict(list)
        for ann in doc.get("annotations", []):
            orientation = Orientation(int(ann.get("rotation", 0)) % 360, bool(ann.get("mirror")))
            x, y, w, h = (float(v) for v in ann["bbox"])
            category = int(ann["category_id"])
            group = symmetries.get(category, frozenset({IDENTITY}))
            instance = TruthInstance((x, y, w, h), category, orientation, group)
            by_image[ann["image_id"]].append(instance)
        for image in doc.get("images", []):
            path = root / image["file_name"]
            pages.append(TruthPage(path, split, tuple(by_image.get(image["id"], []))))
    return pages


def _symmetries(category: dict[str, Any]) -> frozenset[Orientation]:
    listed = category.get("symmetries") or []
    group = {Orientation(int(s.get("rotation", 0)) % 360, bool(s.get("mirror"))) for s in listed}
    return frozenset(group | {IDENTITY})


def match_pages(
    prediction: Decomposition, truth_pages: Sequence[TruthPage], cwd: Path | None = None
) -> tuple[dict[Path, list[Instance]], list[str]]:
    """Predicted instances per truth page path, and a warning per predicted page left out.

    A predicted image path matches when it resolves (from ``cwd``) to the truth file; else when
    it is a suffix of exactly one truth path (e.g. ``seen/images/p0001.png``).
    """
    base = Path(cwd or Path.cwd())
    by_path = {page.path: page for page in truth_pages}
    matched: dict[Path, list[Instance]] = {}
    warnings: list[str] = []
    for page in prediction.pages:
        target, problem = _find_truth(page.image, base, by_path)
        if target is not None and target in matched:
            target, problem = None, "matches a truth image already predicted"
        if target is None:
            warnings.append(f"predicted page {page.image!r} ignored: {problem}")
            continue
        matched[target] = list(page.instances)
    return matched, warnings


def _find_truth(image: str, base: Path, by_path: dict[Path, TruthPage]) -> tuple[Path | None, str]:
    resolved = (base / image).resolve()
    if resolved in by_path:
        return resolved, ""
    parts = Path(image).parts
    candidates = [
        p for p in by_path if len(p.parts) >= len(parts) and p.parts[-len(parts) :] == parts
    ]
    if len(candidates) == 1:
        return candidates[0], ""
    return None, "ambiguous path suffix" if candidates else "no truth image at that path"


def score_split(
    pages: Sequence[tuple[TruthPage, Sequence[Instance] | None]],
    iou_threshold: float = 0.5,
) -> dict[str, Any]:
    """Every figure of one split; a page predicted as None counts as fully missed."""
    predictions = [(truth, list(predicted or [])) for truth, predicted in pages]
    matches = [
        (guess, real)
        for truth, predicted in predictions
        for guess, real in _matched_instances(truth, predicted, iou_threshold)
    ]
    truth_count = sum(len(truth.instances) for truth, _ in pages)
    predicted_count = sum(len(predicted) for _, predicted in predictions)
    ap_pages = [
        (
            [i.bbox for i in predicted],
            [i.score for i in predicted],
            [t.bbox for t in truth.instances],
        )
        for truth, predicted in predictions
    ]
    orientations = [
        (
            guess.motif,
            Orientation(guess.rotation, guess.mirror),
            real.orientation,
            real.symmetries,
        )
        for guess, real in matches
    ]
    report = {
        "pages": len(pages),
        "pages_predicted": sum(predicted is not None for _, predicted in pages),
        "truth_instances": truth_count,
        "predicted_instances": predicted_count,
        "matched": len(matches),
        "truth_motifs": len({t.category for truth, _ in pages for t in truth.instances}),
        "predicted_motifs": len({i.motif for _, predicted in predictions for i in predicted}),
        **_detection(len(matches), predicted_count, truth_count),
        "ap50": metrics.average_precision(ap_pages, AP_IOU),
        **metrics.grouping_scores([r.category for _, r in matches], [g.motif for g, _ in matches]),
        "orientation": metrics.orientation_accuracy(orientations),
    }
    return {key: _rounded(value) for key, value in report.items()}


def _matched_instances(
    truth: TruthPage, predicted: Sequence[Instance], iou_threshold: float
) -> list[tuple[Instance, TruthInstance]]:
    pairs = metrics.match_boxes(
        [i.bbox for i in predicted], [t.bbox for t in truth.instances], iou_threshold
    )
    return [(predicted[p], truth.instances[t]) for p, t in pairs]


def _detection(matched: int, predicted: int, truth: int) -> dict[str, float | None]:
    precision = matched / predicted if predicted else None
    recall = matched / truth if truth else None
    f1 = 2 * matched / (predicted + truth) if predicted + truth else None
    return {"precision": precision, "recall": recall, "f1": f1}


def _rounded(value: Any) -> Any:
    return round(value, DIGITS) if isinstance(value, float) else value


def evaluate(
    prediction: Decomposition, truth_dirs: Sequence[Path], iou_threshold: float = 0.5
) -> dict[str, Any]:
    """JSON-serialisable report: figures per split, plus warnings about predicted pages left out.

    Undefined figures (a precision without predictions, a grouping without matches) are None.
    """
    truth = load_truth(truth_dirs)
    predicted, warnings = match_pages(prediction, truth)
    by_split: dict[str, list[tuple[TruthPage, Sequence[Instance] | None]]] = defaultdict(list)
    for page in truth:
        by_split[page.split].append((page, predicted.get(page.path)))
    splits = {name: score_split(pages, iou_threshold) for name, pages in by_split.items()}
    return {"iou_threshold": iou_threshold, "splits": splits, "warnings": warnings}


COLUMNS = (
    ("pages", "pages"),
    ("truth", "truth_instances"),
    ("pred", "predicted_instances"),
    ("matched", "matched"),
    ("P", "precision"),
    ("R", "recall"),
    ("F1", "f1"),
    ("AP50", "ap50"),
    ("ARI", "ari"),
    ("NMI", "nmi"),
    ("purity", "purity"),
    ("orient.", "orientation"),
    ("motifs T/P", None),
)


def to_markdown(report: dict[str, Any]) -> str:
    """One table row per split; warnings, if any, are counted under the table."""
    header = ["split"] + [title for title, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, figures in report["splits"].items():
        cells = [name] + [_cell(figures, key) for _, key in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"IoU threshold {report['iou_threshold']}.")
    if report["warnings"]:
        lines.append(f"{len(report['warnings'])} predicted page(s) ignored (see the JSON report).")
    return "\n".join(lines)


def _cell(figures: dict[str, Any], key: str | None) -> str:
    if key is None:
        return f"{figures['truth_motifs']}/{figures['predicted_motifs']}"
    value = figures[key]
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
