"""The motif catalogue folder: written by decompose, reused to keep motif ids across runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.cli import main as florilege
from service.decompose.catalogue import difference_map
from service.decomposition import Decomposition
from training.synth import generate


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pages")
    generate(folder, pages=3, split="seen", seed=5)
    return folder / "images"


@pytest.fixture(scope="module")
def catalogue(pages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalogue")
    out = root / "d.json"
    code = florilege(
        ["decompose", str(pages), "--out", str(out), "--save-catalogue", str(root / "cat")]
    )
    assert code == 0
    return root / "cat"


def test_catalogue_holds_prototypes_hierarchy_and_difference_maps(catalogue: Path) -> None:
    decomposition = Decomposition.read(catalogue.parent / "d.json")
    manifest = json.loads((catalogue / "catalogue.json").read_text())
    assert [m["id"] for m in manifest["motifs"]] == [m.id for m in decomposition.motifs]
    for motif in manifest["motifs"]:
        assert (catalogue / motif["prototype"]).is_file()
        assert len(motif["differences"]) == motif["instances"]
        assert all((catalogue / d["file"]).is_file() for d in motif["differences"])
        assert motif["id"] in manifest["groups"][motif["parent"]]
    views = np.load(catalogue / "views.npy")
    assert views.shape[:2] == (len(manifest["motifs"]), 8)


def test_reusing_the_catalogue_keeps_the_motif_ids(catalogue: Path, pages: Path, tmp_path: Path):
    out = tmp_path / "again.json"
    assert (
        florilege(["decompose", str(pages), "--out", str(out), "--catalogue", str(catalogue)]) == 0
    )
    first = Decomposition.read(catalogue.parent / "d.json")
    again = Decomposition.read(out)
    known = {m.id for m in first.motifs}
    # The same pages again: every instance found before goes to the motif it had.
    before = {(p.image, i.bbox): i.motif for p in first.pages for i in p.instances}
    after = {(p.image, i.bbox): i.motif for p in again.pages for i in p.instances}
    shared = before.keys() & after.keys()
    assert len(shared) >= 0.9 * len(before)
    assert all(after[key] == before[key] for key in shared)
    assert {after[key] for key in shared} <= known


def test_a_catalogue_is_never_overwritten(catalogue: Path, pages: Path, tmp_path: Path, capsys):
    before = (catalogue / "catalogue.json").read_text()
    code = florilege(
        [
            "decompose",
            str(pages),
            "--out",
            str(tmp_path / "d.json"),
            "--save-catalogue",
            str(catalogue),
        ]
    )
    assert code == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (catalogue / "catalogue.json").read_text() == before


def test_a_damaged_catalogue_is_refused(tmp_path: Path, pages: Path, capsys) -> None:
    damaged = tmp_path / "cat"
    damaged.mkdir()
    (damaged / "catalogue.json").write_text("{not json")
    out = tmp_path / "d.json"
    assert florilege(["decompose", str(pages), "--out", str(out), "--catalogue", str(damaged)]) == 2
    assert "catalogue" in capsys.readouterr().err
    assert not out.exists()


def test_difference_map_shows_worn_ink_red_and_extra_ink_blue() -> None:
    prototype = np.zeros((4, 4))
    prototype[:, :2] = 1.0  # the block prints the left half
    impression = prototype.copy()
    impression[0, 0] = 0.0  # worn away here
    impression[3, 3] = 1.0  # extra ink here
    rgb = difference_map(prototype, impression).astype(int)
    red, blue, shared, paper = rgb[0, 0], rgb[3, 3], rgb[1, 1], rgb[1, 3]
    assert red[0] > 200 and red[1] < 50 and red[2] < 50
    assert blue[2] > 200 and blue[0] < 50 and blue[1] < 50
    assert shared[0] == shared[1] == shared[2] < 100
    assert (paper == 255).all()
