"""The shipped vignette bank and the code that renders it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.dihedral import ALL_ORIENTATIONS, IDENTITY, orient
from training.bank import DEFAULT_BANK_DIR, load_bank, render_bank
from training.glyphs import render_glyph
from training.variants import VARIANT_AGREEMENT, agreement, best_orientation

# The fonts live in the shared folder beside the checkout (../shared/fonts), in CI too.
FONTS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "fonts"
needs_fonts = pytest.mark.skipif(
    not (FONTS_DIR / "FeFlow1.otf").is_file(), reason=f"ornament fonts not found in {FONTS_DIR}"
)


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_every_design_image_has_its_recorded_size_and_hash(bank):
    index = json.loads((DEFAULT_BANK_DIR / "vignettes.json").read_text())
    hashes = {entry["id"]: entry["sha256"] for entry in index["designs"]}
    assert len(bank.designs) == len(hashes) >= 50
    for design in bank.designs:
        path = bank.folder / design.image
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashes[design.id]
        with Image.open(path) as image:
            assert image.mode == "L"
            assert image.size == (design.width, design.height)
        ink = bank.ink(design.id)
        assert ink.dtype == np.float32 and ink.shape == (design.height, design.width)
        assert ink.max() == pytest.approx(1.0) and ink.min() == 0.0


def test_splits_are_disjoint_cover_the_bank_and_hold_out_every_font(bank):
    seen = {d.id for d in bank.split("seen")}
    unseen = {d.id for d in bank.split("unseen")}
    assert not seen & unseen
    assert seen | unseen == {d.id for d in bank.designs}
    assert len(unseen) >= 0.2 * len(bank.designs)
    fonts = {d.font for d in bank.designs}
    assert {d.font for d in bank.split("unseen")} == fonts
    assert "FeFlow1.otf" in fonts


def test_symmetries_include_identity_and_map_the_design_onto_itself(bank):
    for design in bank.designs:
        assert IDENTITY in design.symmetries
        ink = bank.ink(design.id)
        for orientation in design.symmetries:
            assert agreement(orient(ink, orientation), ink)[1] >= VARIANT_AGREEMENT


def test_best_orientation_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    blob = (rng.random((12, 9)) > 0.5).astype(np.float32)
    ink = np.kron(blob, np.ones((8, 8), dtype=np.float32))  # blocks survive the 3x3 opening
    for orientation in ALL_ORIENTATIONS:
        found, iou, structure = best_orientation(ink, orient(ink, orientation))
        assert found == orientation
        assert iou == structure == 1.0


def test_load_bank_refuses_a_tampered_or_incomplete_bank(tmp_path):
    folder = tmp_path / "bank"
    shutil.copytree(DEFAULT_BANK_DIR, folder)
    first = json.loads((folder / "vignettes.json").read_text())["designs"][0]
    image = folder / first["image"]
    image.write_bytes(image.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        load_bank(folder)
    image.unlink()
    with pytest.raises(ValueError, match="missing"):
        load_bank(folder)
    (folder / "vignettes.json").unlink()
    with pytest.raises(ValueError, match="no vignette bank"):
        load_bank(folder)


@needs_fonts
def test_variants_are_the_canonical_in_their_orientation(bank):
    checked = 0
    for design in bank.designs:
        canonical = bank.ink(design.id)
        for glyph, orientation in design.variants:
            variant = render_glyph(FONTS_DIR / design.font, glyph)
            assert agreement(orient(canonical, orientation), variant)[1] >= VARIANT_AGREEMENT
            checked += 1
    assert checked >= 20


@needs_fonts
def test_render_bank_is_deterministic(tmp_path):
    first = render_bank(FONTS_DIR, tmp_path / "a", seed=3, max_glyphs_per_font=4)
    second = render_bank(FONTS_DIR, tmp_path / "b", seed=3, max_glyphs_per_font=4)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.designs == second.designs
    assert {d.font for d in first.split("unseen")} == {d.font for d in first.designs}
