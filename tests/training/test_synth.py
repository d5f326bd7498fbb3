"""The synthetic page generator: geometry, layouts, ground truth, files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.dihedral import ALL_ORIENTATIONS, Orientation, orient
from training.bank import VignetteBank, load_bank
from training.synth import generate, page_rng
from training.synth.degrade import skew
from training.synth.geometry import Block, Placement, flip, mirror, overlapping, paste, turn
from training.synth.layout import KINDS, build
from training.synth.page import make_page
from training.synth.render import BlockInk, crop_ornament, skewed_box
from training.synth.text import Typesetter

SMALL = 0.3  # page scale for quick tests: pages of a few hundred pixels, same code path
ROTATIONS = {0, 90, 180, 270}


@pytest.fixture(scope="module")
def bank() -> VignetteBank:
    return load_bank()


def _draw(placements: list[Placement], inks: dict[str, np.ndarray]) -> np.ndarray:
    """Render placements with real orientations, cropped to their extent."""
    x0 = min(p.box[0] for p in placements)
    y0 = min(p.box[1] for p in placements)
    x1 = max(p.box[2] for p in placements)
    y1 = max(p.box[3] for p in placements)
    canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    for p in placements:
        paste(canvas, orient(inks[p.block.design], p.orientation), p.x - x0, p.y - y0)
    return canvas


def test_group_transforms_move_pixels_like_the_whole_picture() -> None:
    """Turning, mirroring or flipping a group must equal doing it to the rendered picture: the
    boxes move and the orientations compose consistently with service.dihedral."""
    rng = np.random.default_rng(0)
    inks = {
        f"d{i}": rng.random((int(rng.integers(3, 9)), int(rng.integers(3, 9)))) for i in range(3)
    }
    inks = {k: v.astype(np.float32) for k, v in inks.items()}
    blocks = [Block(k, v.shape[1], v.shape[0]) for k, v in inks.items()]
    placements = [
        Placement(
            blocks[i % 3], ALL_ORIENTATIONS[int(rng.integers(8))], 12 * i, int(rng.integers(-5, 5))
        )
        for i in range(5)
    ]
    picture = _draw(placements, inks)
    assert np.array_equal(_draw(turn(placements, 1), inks), np.rot90(picture))
    assert np.array_equal(_draw(turn(placements, 3), inks), np.rot90(picture, -1))
    assert np.array_equal(_draw(mirror(placements, 7), inks), picture[:, ::-1])
    assert np.array_equal(_draw(flip(placements, -3), inks), picture[::-1])


@pytest.mark.parametrize("kind", KINDS)
def test_layouts_fit_and_never_overlap(kind: str) -> None:
    rng = np.random.default_rng(KINDS.index(kind))
    built = 0
    for _ in range(150):
        blocks = [
            Block(f"d{i}", int(rng.integers(10, 120)), int(rng.integers(10, 120)))
            for i in range(int(rng.integers(1, 4)))
        ]
        ornament = build(kind, rng, blocks, 900, 1200)
        if ornament is None:
            continue
        built += 1
        assert ornament.kind == kind
        assert ornament.width <= 900 and ornament.height <= 1200
        assert not overlapping(ornament.placements)
        assert {p.block.design for p in ornament.placements} <= {b.design for b in blocks}
    assert built >= 140


@pytest.mark.parametrize("seed", range(6))
def test_headpiece_right_half_is_the_left_half_mirrored(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ornament = build("headpiece", rng, [Block("a", 40, 30), Block("b", 25, 36)], 800, 400)
    assert ornament is not None
    x0, _, x1, _ = ornament.box
    for p in ornament.placements:
        mx0, mx1 = x0 + x1 - p.box[2], x0 + x1 - p.box[0]
        if abs(mx0 - p.box[0]) <= 1:
            continue  # a centre block, on the axis
        twins = [
            q
            for q in ornament.placements
            if q.block == p.block and abs(q.box[0] - mx0) <= 1 and q.box[1] == p.box[1]
        ]
        assert len(twins) == 1 and abs(twins[0].box[2] - mx1) <= 1
        pixels = np.arange(12.0).reshape(3, 4)
        twin = orient(pixels, twins[0].orientation)
        assert np.array_equal(twin, orient(pixels, p.orientation)[:, ::-1])


@pytest.mark.parametrize("angle", [-1.4, -0.3, 0.8])
def testskewed_boxes_follow_the_ink(angle: float) -> None:
    """A box carried through the page skew is the tight box of the skewed ink (within the
    pixel that interpolation blurs)."""
    page = np.zeros((300, 400), dtype=np.uint8)
    page[40:90, 250:380] = 255
    page[200:280, 20:60] = 255
    for y0, y1, x0, x1 in [(40, 90, 250, 380), (200, 280, 20, 60)]:
        ys, xs = np.mgrid[y0:y1, x0:x1]
        box = skewed_box(xs.ravel(), ys.ravel(), angle, (400, 300))
        skewed = np.asarray(skew(Image.fromarray(page), angle))
        region = np.zeros_like(page)
        region[max(box[1] - 3, 0) : box[3] + 3, max(box[0] - 3, 0) : box[2] + 3] = 1
        rows, cols = np.nonzero((skewed > 0) & (region > 0))
        tight = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        assert np.abs(np.subtract(tight, box)).max() <= 1


def _dataset(root: Path, bank: VignetteBank, **kwargs: object) -> dict:
    options = {"pages": 3, "split": "seen", "seed": 5, "bank": bank, "page_scale": SMALL}
    options.update(kwargs)
    path = generate(root, **options)  # type: ignore[arg-type]
    return json.loads(path.read_text())


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_arguments_same_bytes_other_seed_other_pages(
    tmp_path: Path, bank: VignetteBank
) -> None:
    _dataset(tmp_path / "a", bank)
    _dataset(tmp_path / "b", bank)
    _dataset(tmp_path / "c", bank, seed=6)
    first = _files(tmp_path / "a")
    assert len(first) == 4
    assert first == _files(tmp_path / "b")
    other = _files(tmp_path / "c")
    assert all(first[name] != other[name] for name in first if name.startswith("images/"))


def test_workers_make_the_same_bytes(tmp_path: Path, bank: VignetteBank) -> None:
    _dataset(tmp_path / "serial", bank, pages=2)
    _dataset(tmp_path / "parallel", bank, pages=2, workers=2)
    assert _files(tmp_path / "serial") == _files(tmp_path / "parallel")


def test_pages_do_not_depend_on_how_many_are_made(tmp_path: Path, bank: VignetteBank) -> None:
    _dataset(tmp_path / "one", bank, pages=1)
    _dataset(tmp_path / "three", bank, pages=3)
    name = "images/p0001.png"
    assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "three" / name).read_bytes()


@pytest.mark.parametrize("split", ["seen", "unseen"])
def test_annotations_are_valid_coco(tmp_path: Path, bank: VignetteBank, split: str) -> None:
    doc = _dataset(tmp_path, bank, pages=4, split=split)
    assert doc["info"]["split"] == split and doc["info"]["generator"] == "florilege-synth 1"
    designs = {d.id: d for d in bank.split(split)}
    assert {c["design"] for c in doc["categories"]} == set(designs)
    categories = {c["id"]: c for c in doc["categories"]}
    for c in categories.values():
        d = designs[c["design"]]
        assert c["source"] == {"font": d.font, "glyph": d.glyph}
        assert {"rotation": 0, "mirror": False} in c["symmetries"]
    images = {i["id"]: i for i in doc["images"]}
    ornaments = {o["id"]: o for o in doc["ornaments"]}
    assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"])
    for image in images.values():
        assert (tmp_path / image["file_name"]).is_file()
        with Image.open(tmp_path / image["file_name"]) as png:
            assert png.mode == "L" and png.size == (image["width"], image["height"])
        assert 300 * SMALL <= image["dpi"] <= 600 * SMALL
        kinds = [o["kind"] for o in ornaments.values() if o["image_id"] == image["id"]]
        assert 1 <= len(kinds) <= 4 and set(kinds) <= set(KINDS)
    for a in doc["annotations"]:
        image = images[a["image_id"]]
        x, y, w, h = a["bbox"]
        assert all(isinstance(v, int) for v in a["bbox"])
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= image["width"] and y + h <= image["height"]
        assert a["area"] == w * h and a["iscrowd"] == 0
        assert a["category_id"] in categories
        assert a["rotation"] in ROTATIONS and isinstance(a["mirror"], bool)
        ornament = ornaments[a["ornament_id"]]
        assert ornament["image_id"] == a["image_id"]
        ox, oy, ow, oh = ornament["bbox"]
        assert ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh
    used = {a["ornament_id"] for a in doc["annotations"]}
    assert used == set(ornaments)


def _tight(ink: np.ndarray, level: float = 0.3) -> np.ndarray:
    rows, cols = np.nonzero(ink > level)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _score(seen: np.ndarray, design: np.ndarray, o: Orientation) -> float:
    """Correlation of the ink ``seen`` in a box with the design in orientation ``o`` resized to
    the box, or -1 when the box's shape rules the orientation out."""
    h, w = seen.shape
    oriented = _tight(orient(design, o))
    if (oriented.shape[0] > 1.5 * oriented.shape[1]) != (h > 1.5 * w):
        return -1.0
    image = Image.fromarray(oriented, mode="F").resize((w, h), Image.Resampling.BOX)
    return float(np.corrcoef(seen.ravel(), np.asarray(image).ravel())[0, 1])


def _correlations(root: Path, doc: dict, bank: VignetteBank) -> list[tuple[float, float]]:
    """Per annotation: the correlation at the recorded orientation, and the best at any."""
    designs = {c["id"]: c["design"] for c in doc["categories"]}
    files = {i["id"]: i["file_name"] for i in doc["images"]}
    pages: dict[int, np.ndarray] = {}
    out = []
    for a in doc["annotations"]:
        if a["image_id"] not in pages:
            with Image.open(root / files[a["image_id"]]) as png:
                pages[a["image_id"]] = 1 - np.asarray(png, dtype=np.float32) / 255
        x, y, w, h = a["bbox"]
        if min(w, h) < 6:
            continue
        seen = pages[a["image_id"]][y : y + h, x : x + w]
        design = bank.ink(designs[a["category_id"]])
        recorded = _score(seen, design, Orientation(a["rotation"], a["mirror"]))
        out.append((recorded, max(_score(seen, design, o) for o in ALL_ORIENTATIONS)))
    return out


def test_boxes_and_orientations_match_the_printed_ink(tmp_path: Path, bank: VignetteBank) -> None:
    doc = _dataset(tmp_path, bank, pages=3, degraded=False, page_scale=0.6)
    results = _correlations(tmp_path, doc, bank)
    assert len(results) >= 10
    recorded = np.array([r for r, _ in results])
    assert np.median(recorded) > 0.9
    assert np.mean(recorded > 0.75) > 0.9
    # The recorded orientation is the best one, up to the design's own symmetry and resampling.
    assert np.mean([r >= best - 0.03 for r, best in results]) > 0.95


def test_degraded_pages_keep_boxes_on_their_ink(tmp_path: Path, bank: VignetteBank) -> None:
    """Wear, skew and scanning change the pixels, not where the blocks are."""
    doc = _dataset(tmp_path, bank, pages=3, page_scale=0.6)
    recorded = np.array([r for r, _ in _correlations(tmp_path, doc, bank)])
    assert np.median(recorded) > 0.7


def test_ornament_crops_keep_every_block_whole(bank: VignetteBank) -> None:
    """A crop holds one ornament and cuts no block: each block of the page is either wholly in
    the crop (and annotated there, moved) or wholly outside it."""
    designs, block_ink, typesetter = bank.split("seen"), BlockInk(bank), Typesetter()
    for index in range(4):
        rng = page_rng(7, "seen", "ornament", index)
        page, _ = make_page(rng, designs, block_ink, typesetter, page_scale=SMALL)
        crop, (cx, cy, cx1, cy1) = crop_ornament(page, rng)
        assert crop.pixels.shape == (cy1 - cy, cx1 - cx)
        assert crop.pixels.size < page.pixels.size
        assert 1 <= len(crop.ornaments) <= len(page.ornaments)
        inside = []
        for i in page.instances:
            x0, y0, x1, y1 = i.box
            whole = cx <= x0 and cy <= y0 and x1 <= cx1 and y1 <= cy1
            apart = x1 <= cx or cx1 <= x0 or y1 <= cy or cy1 <= y0
            assert whole or apart
            if whole:
                inside.append((i.design, i.orientation, (x0 - cx, y0 - cy, x1 - cx, y1 - cy)))
        assert inside == [(i.design, i.orientation, i.box) for i in crop.instances]


def test_ornament_layout_writes_crops(tmp_path: Path, bank: VignetteBank) -> None:
    doc = _dataset(tmp_path, bank, pages=2, layout="ornament")
    assert doc["info"]["layout"] == "ornament" and len(doc["images"]) == 2
    for image in doc["images"]:
        assert any(o["image_id"] == image["id"] for o in doc["ornaments"])
        for a in doc["annotations"]:
            if a["image_id"] == image["id"]:
                x, y, w, h = a["bbox"]
                assert 0 <= x and 0 <= y and x + w <= image["width"] and y + h <= image["height"]


def test_refuses_to_write_over_a_dataset(tmp_path: Path, bank: VignetteBank) -> None:
    _dataset(tmp_path, bank, pages=1)
    before = _files(tmp_path)
    with pytest.raises(FileExistsError, match="annotations.json"):
        _dataset(tmp_path, bank, pages=1, seed=9)
    assert _files(tmp_path) == before


def test_rejects_unknown_split_and_layout(tmp_path: Path, bank: VignetteBank) -> None:
    with pytest.raises(ValueError, match="split"):
        _dataset(tmp_path / "a", bank, split="train")
    with pytest.raises(ValueError, match="layout"):
        _dataset(tmp_path / "b", bank, layout="poster")
