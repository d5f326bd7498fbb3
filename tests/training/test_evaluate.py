"""The scorer: metric values checked by hand and on small hand-made ground truth."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from service.decomposition import Decomposition, Instance, Motif, Page
from service.dihedral import ALL_ORIENTATIONS, IDENTITY, Orientation, compose, inverse, orient
from training import metrics
from training.cli import main
from training.evaluate import evaluate, to_markdown

SCORES = ("precision", "recall", "f1", "ap50", "ari", "nmi", "purity", "orientation")
ASYMMETRIC = [{"rotation": 0, "mirror": False}]
HALF_TURN = [{"rotation": 0, "mirror": False}, {"rotation": 180, "mirror": False}]

# (image, [(bbox, category, rotation, mirror)]); category 2 is symmetric under a half turn.
PAGES = {
    "images/p0001.png": [
        ((10, 10, 40, 40), 1, 0, False),
        ((60, 10, 40, 40), 1, 90, True),
        ((110, 10, 40, 40), 2, 0, False),
        ((160, 10, 40, 40), 3, 270, False),
    ],
    "images/p0002.png": [
        ((10, 10, 40, 40), 1, 180, False),
        ((60, 10, 40, 40), 2, 0, False),
        ((110, 10, 40, 40), 2, 90, True),
        ((160, 10, 40, 40), 3, 0, True),
        ((210, 10, 40, 40), 3, 90, False),
    ],
}


def write_truth(folder: Path, split: str = "seen") -> Path:
    images, annotations = [], []
    for image_id, (name, instances) in enumerate(PAGES.items(), start=1):
        images.append({"id": image_id, "file_name": name, "width": 300, "height": 100})
        for bbox, category, rotation, mirror in instances:
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "bbox": list(bbox),
                "category_id": category, "ornament_id": image_id, "rotation": rotation,
                "mirror": mirror, "area": bbox[2] * bbox[3], "iscrowd": 0,
            })  # fmt: skip
    categories = [
        {"id": 1, "name": "a", "symmetries": ASYMMETRIC},
        {"id": 2, "name": "b", "symmetries": HALF_TURN},
        {"id": 3, "name": "c"},  # no field: identity only
    ]
    folder.mkdir(parents=True)
    doc = {"info": {"split": split}, "images": images, "annotations": annotations,
           "categories": categories}  # fmt: skip
    (folder / "annotations.json").write_text(json.dumps(doc))
    return folder


def perfect(folder: Path | str) -> Decomposition:
    """The ground truth written as a prediction, with motif ids unrelated to category ids."""
    pages = [
        Page(
            image=str(Path(folder) / name),
            width=300,
            height=100,
            instances=[Instance(bbox, f"m{10 - c}", 0.9, r, m) for bbox, c, r, m in instances],
        )  # fmt: skip
        for name, instances in PAGES.items()
    ]
    motifs = [Motif(f"m{10 - c}", 40, 40, 1) for c in (1, 2, 3)]
    return Decomposition(pages=pages, motifs=motifs)


def edit(prediction: Decomposition, page: int, index: int, **changes: object) -> Decomposition:
    """A copy of ``prediction`` with one instance changed, or removed when ``changes`` is empty."""
    pages = [replace(p, instances=list(p.instances)) for p in prediction.pages]
    if changes:
        pages[page].instances[index] = replace(pages[page].instances[index], **changes)
    else:
        del pages[page].instances[index]
    return Decomposition(pages=pages, motifs=prediction.motifs)


def relabel(prediction: Decomposition, mapping: dict[str, str]) -> Decomposition:
    pages = [
        replace(p, instances=[replace(i, motif=mapping.get(i.motif, i.motif)) for i in p.instances])
        for p in prediction.pages
    ]
    motifs = [Motif(m, 40, 40, 1) for m in sorted(set(mapping.values()))]
    return Decomposition(pages=pages, motifs=motifs)


@pytest.fixture
def truth(tmp_path: Path) -> Path:
    return write_truth(tmp_path / "seen")


def seen(prediction: Decomposition, truth: Path) -> dict:
    return evaluate(prediction, [truth])["splits"]["seen"]


# Pure metrics, against hand-computed values.


def test_ari_and_nmi_match_hand_computed_values() -> None:
    # Truth {0,0,1,1} vs predicted {0,0,1,2}: pairs together 1, truth 2, predicted 1 of 6;
    # ARI = (1 - 2/6) / (1.5 - 2/6) = 4/7. H(truth) = ln 2, H(pred) = 1.5 ln 2, MI = ln 2.
    table = metrics.contingency([0, 0, 1, 1], ["x", "x", "y", "z"])
    assert metrics.adjusted_rand_index(table) == pytest.approx(4 / 7)
    assert metrics.normalized_mutual_info(table) == pytest.approx(1 / 1.25)
    assert metrics.purity(table) == 1.0
    # Truth {0,0,0,1,1,1} vs {0,0,1,1,2,2}: index 2, truth 6, predicted 3 of 15 pairs.
    table = metrics.contingency([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    assert metrics.adjusted_rand_index(table) == pytest.approx((2 - 1.2) / (4.5 - 1.2))
    assert metrics.purity(table) == pytest.approx(5 / 6)


def test_average_precision_of_a_known_ranking() -> None:
    truth = [(0, 0, 10, 10), (20, 0, 10, 10), (40, 0, 10, 10)]
    predicted = [(0, 0, 10, 10), (0, 1, 10, 10), (20, 0, 10, 10), (80, 0, 10, 10)]
    # Ranked: hit, duplicate of the first (a false positive), hit, miss. Precision 1, 1/2, 2/3,
    # 1/2 at recall 1/3, 1/3, 2/3, 2/3: AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
    ap = metrics.average_precision([(predicted, [0.9, 0.8, 0.7, 0.6], truth)], iou_threshold=0.5)
    assert ap == pytest.approx(5 / 9)


def test_matching_maximises_total_iou() -> None:
    # Greedy on the first prediction would take truth 0 (IoU 0.82) and leave prediction 1 alone.
    truth = [(0, 0, 10, 10), (2, 0, 10, 10)]
    predicted = [(1, 0, 10, 10), (-1, 0, 10, 10)]
    assert sorted(metrics.match_boxes(predicted, truth, 0.5)) == [(0, 1), (1, 0)]


def _symmetries(design: np.ndarray) -> frozenset[Orientation]:
    return frozenset(o for o in ALL_ORIENTATIONS if np.array_equal(orient(design, o), design))


@pytest.mark.parametrize("kind", ["asymmetric", "half_turn", "mirror"])
def test_orientation_correct_agrees_with_pixels(kind: str) -> None:
    design = np.random.default_rng(0).random((6, 6))
    if kind == "half_turn":
        design = design + orient(design, Orientation(180, False))
    elif kind == "mirror":  # its group is not normal in D4, so the side of each product matters
        design = design + orient(design, Orientation(0, True))
    symmetries = _symmetries(design)
    assert len(symmetries) == (1 if kind == "asymmetric" else 2)
    for predicted in ALL_ORIENTATIONS:
        for truth in ALL_ORIENTATIONS:
            same = np.array_equal(orient(design, predicted), orient(design, truth))
            assert metrics.orientation_correct(predicted, truth, symmetries) == same


def test_prototype_offset_is_applied_first() -> None:
    design = np.arange(12.0).reshape(3, 4)
    offset = Orientation(90, False)  # the prototype is the design turned a quarter
    prototype = orient(design, offset)
    for truth in ALL_ORIENTATIONS:
        predicted = compose(inverse(offset), truth)
        assert np.array_equal(orient(prototype, predicted), orient(design, truth))
    matches = [
        ("m", compose(inverse(offset), t), t, frozenset({IDENTITY})) for t in ALL_ORIENTATIONS
    ]
    assert metrics.orientation_accuracy(matches) == 1.0


# The report on hand-made ground truth.


def test_perfect_prediction_scores_one(truth: Path) -> None:
    figures = seen(perfect(truth), truth)
    assert {key: figures[key] for key in SCORES} == {key: 1.0 for key in SCORES}
    assert figures["pages"] == figures["pages_predicted"] == 2
    assert figures["truth_instances"] == figures["predicted_instances"] == figures["matched"] == 9
    assert figures["truth_motifs"] == figures["predicted_motifs"] == 3


def test_relabelling_motifs_changes_no_grouping_score(truth: Path) -> None:
    merged = relabel(perfect(truth), {"m9": "a", "m8": "a", "m7": "b"})
    renamed = relabel(perfect(truth), {"m9": "z", "m8": "z", "m7": "y"})
    before, after = seen(merged, truth), seen(renamed, truth)
    assert before["ari"] < 1.0
    for key in ("ari", "nmi", "purity"):
        assert after[key] == before[key]


def test_shifted_box_lowers_detection_not_grouping(truth: Path) -> None:
    shifted = edit(perfect(truth), page=0, index=0, bbox=(35, 10, 40, 40))  # IoU 15/65
    figures = seen(shifted, truth)
    assert figures["precision"] == figures["recall"] == round(8 / 9, 4)
    assert figures["matched"] == 8
    assert figures["ari"] == figures["nmi"] == figures["orientation"] == 1.0


def test_missed_instance_lowers_recall_only(truth: Path) -> None:
    figures = seen(edit(perfect(truth), page=1, index=4), truth)
    assert figures["recall"] == round(8 / 9, 4)
    assert figures["precision"] == figures["ari"] == figures["orientation"] == 1.0
    assert figures["predicted_instances"] == 8


def test_wrong_orientation_lowers_orientation_only(truth: Path) -> None:
    figures = seen(edit(perfect(truth), page=1, index=0, rotation=90), truth)  # truth: 180
    assert figures["orientation"] == round(8 / 9, 4)
    assert all(figures[key] == 1.0 for key in SCORES if key != "orientation")


def test_globally_oriented_motif_keeps_full_orientation_score(truth: Path) -> None:
    offset = Orientation(90, True)
    prediction = perfect(truth)
    for page in prediction.pages:
        for k, instance in enumerate(page.instances):
            if instance.motif == "m9":  # category 1, mirrored and plain instances
                turned = compose(inverse(offset), Orientation(instance.rotation, instance.mirror))
                page.instances[k] = replace(instance, rotation=turned[0], mirror=turned[1])
    assert seen(prediction, truth)["orientation"] == 1.0


def test_half_turn_of_a_half_turn_symmetric_design_is_correct(truth: Path) -> None:
    # Category 2 (motif m8): truth (0, plain) here; the other two m8 instances pin the offset.
    figures = seen(edit(perfect(truth), page=1, index=1, rotation=180), truth)
    assert figures["orientation"] == 1.0
    # The same on asymmetric category 3 (truth 270 on page 1) is wrong.
    figures = seen(edit(perfect(truth), page=0, index=3, rotation=90), truth)
    assert figures["orientation"] < 1.0


def test_merging_two_motifs_lowers_ari_and_purity(truth: Path) -> None:
    figures = seen(relabel(perfect(truth), {"m9": "a", "m8": "a", "m7": "b"}), truth)
    assert figures["ari"] < 1.0 and figures["purity"] == round(6 / 9, 4)
    assert figures["nmi"] < 1.0
    assert figures["predicted_motifs"] == 2
    assert figures["precision"] == figures["orientation"] == 1.0


def test_missing_page_counts_as_missed(truth: Path) -> None:
    prediction = perfect(truth)
    prediction.pages.pop()
    figures = seen(prediction, truth)
    assert figures["pages_predicted"] == 1 and figures["recall"] == round(4 / 9, 4)
    assert figures["precision"] == 1.0


def test_page_matched_by_suffix(truth: Path, tmp_path: Path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    prediction = perfect(".")  # "images/p0001.png": relative to the dataset, not to the cwd
    prediction.pages.append(Page(image="images/p9999.png", width=300, height=100))
    report = evaluate(prediction, [truth])
    assert report["splits"]["seen"]["recall"] == 1.0
    assert len(report["warnings"]) == 1 and "p9999" in report["warnings"][0]


def test_two_splits_reported_and_shared_names_disambiguated(tmp_path: Path) -> None:
    seen_dir = write_truth(tmp_path / "data" / "seen", "seen")
    unseen_dir = write_truth(tmp_path / "data" / "unseen", "unseen")
    prediction = perfect("seen")
    prediction.pages += perfect(unseen_dir).pages[:1]  # absolute paths, second page missing
    prediction.pages.append(Page(image="images/p0002.png", width=300, height=100))  # ambiguous
    report = evaluate(prediction, [seen_dir, unseen_dir])
    assert set(report["splits"]) == {"seen", "unseen"}
    assert report["splits"]["seen"]["recall"] == 1.0
    assert report["splits"]["unseen"]["recall"] == round(4 / 9, 4)
    assert report["warnings"] == [
        "predicted page 'images/p0002.png' ignored: ambiguous path suffix"
    ]
    table = to_markdown(report)
    assert table.count("\n| seen |") == table.count("\n| unseen |") == 1


def test_cli_prints_table_and_writes_json(truth: Path, tmp_path: Path, capsys) -> None:
    pred = tmp_path / "pred.json"
    perfect(truth).write(pred)
    out = tmp_path / "report.json"
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| split |" in printed and "| seen |" in printed
    report = json.loads(out.read_text())
    assert report["iou_threshold"] == 0.5 and report["splits"]["seen"]["f1"] == 1.0
