"""The sprite model (issue 4's comparison family): rendering, views, training and decoding."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from service.decomposition import Decomposition
from service.dihedral import ALL_ORIENTATIONS, orient
from training.cli import main
from training.config import CONFIG_DIR, SpriteConfig, load_config
from training.sprite_fit import (
    DECOMPOSITION,
    METRICS,
    decompose_with_sprites,
    fit_sprites,
    working_image,
)
from training.sprites import Cells, SpriteModel

#: Small enough to train in seconds: 8-pixel cells, 16-pixel sprites, 64-pixel windows.
TINY = {
    "model": {"sprites": 2, "sprite_size": 16, "cell": 8, "channels": 8},
    "train": {"steps": 80, "batch_size": 8, "window": 64, "component_side": 12.0, "log_every": 10},
}


def tiny_config(**train: object) -> SpriteConfig:
    config = SpriteConfig()
    return dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, **TINY["model"]),
        train=dataclasses.replace(config.train, **{**TINY["train"], **train}),
    )


def block_page(path: Path, seed: int) -> None:
    """A page of one asymmetric block (an L of 12 px, one component) set in rows, some turned."""
    block = np.zeros((12, 12), bool)
    block[:, :4] = block[-4:, :] = True
    rng = np.random.default_rng(seed)
    page = np.ones((96, 96), np.float32)
    for top in range(8, 84, 20):
        for left in range(8, 84, 20):
            turned = np.rot90(block, int(rng.integers(4)))
            page[top : top + 12, left : left + 12][turned] = 0.1
    Image.fromarray((page * 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("blocks")
    for seed in range(3):
        block_page(folder / f"p{seed}.png", seed)
    return folder


def test_default_yaml_spells_out_the_defaults():
    assert load_config(CONFIG_DIR / "sprites.yaml", SpriteConfig) == SpriteConfig()


def test_views_follow_the_service_orientation_convention():
    model = SpriteModel(sprites=3, sprite_size=8, cell=8, channels=8)
    with torch.no_grad():
        model.sprite_logits.normal_()
    sprites = torch.sigmoid(model.sprite_logits)[:, 0].detach().numpy()
    views = model.alphas().detach().numpy().reshape(3, len(ALL_ORIENTATIONS), 8, 8)
    for sprite, sprite_views in zip(sprites, views, strict=True):
        for orientation, view in zip(ALL_ORIENTATIONS, sprite_views, strict=True):
            np.testing.assert_allclose(view, orient(sprite, orientation), atol=1e-6)


def test_render_places_the_chosen_sprite_at_its_centre_and_size():
    model = SpriteModel(sprites=2, sprite_size=16, cell=8, channels=8, max_scale=1.0)
    with torch.no_grad():
        model.sprite_logits[0] = -20  # blank
        model.sprite_logits[1] = 20  # a solid square
    rows = cols = 4
    count = rows * cols
    choice = torch.full((1, count, 16), -30.0)
    choice[0, :, 8] = 30.0  # sprite 1, upright
    presence = torch.zeros(1, count)
    presence[0, 5] = 1.0  # the cell at row 1, column 1: centre (12, 12)
    cells = Cells(
        presence=presence,
        choice=choice,
        centre=torch.tensor([[14.0, 11.0]]).repeat(1, count, 1),
        side=torch.full((1, count), 10.0),
        rows=rows,
        cols=cols,
    )
    with torch.no_grad():
        ink = model.render(cells)[0, 0].numpy()
    expected = np.zeros((32, 32))
    expected[6:16, 9:19] = 1  # a 10-pixel square centred on (x 14, y 11)
    # Its edges fall on pixel edges, so the render is exact: half a pixel off would show.
    assert np.abs(ink - expected).max() < 1e-3


def test_a_present_cell_decodes_to_its_box_and_view_in_image_pixels(tmp_path: Path):
    page = np.full((200, 300), 255, np.uint8)
    for left in range(10, 250, 60):
        page[50:90, left : left + 40] = 0  # 40 px squares: the working scale is 12 / 40
    Image.fromarray(page).save(tmp_path / "page.png")
    config = tiny_config()
    model = SpriteModel(**dataclasses.asdict(config.model))
    with torch.no_grad():
        model.sprite_logits[:] = 20  # solid squares: each view's ink fills the sprite
    rows, cols = 8, 12  # the 60 x 90 working image padded to whole 8 px cells
    presence, choice = torch.zeros(1, rows * cols), torch.full((1, rows * cols, 16), -30.0)
    presence[0, 0], choice[0, 0, 8 + 5] = 1.0, 30.0  # sprite 1 in view 5: 90 degrees, mirrored
    cells = Cells(
        presence=presence,
        choice=choice,
        centre=torch.tensor([[30.0, 21.0]]).repeat(1, rows * cols, 1),
        side=torch.full((1, rows * cols), 12.0),
        rows=rows,
        cols=cols,
    )
    model.forward = lambda ink: cells

    page_found = decompose_with_sprites(model, [tmp_path / "page.png"], tmp_path, config).pages[0]

    # The 12 px working square round (30, 21) is 40 px round (100, 70) in the image.
    assert [(i.bbox, i.motif, i.rotation, i.mirror) for i in page_found.instances] == [
        ((80, 50, 40, 40), "sprite-001", 90, True)
    ]


def test_working_scale_brings_ink_components_to_the_configured_side(tmp_path: Path):
    page = np.full((200, 300), 255, np.uint8)
    for left in range(10, 250, 60):
        page[50:90, left : left + 40] = 0  # four 40-pixel squares
    Image.fromarray(page).save(tmp_path / "squares.png")
    image = working_image(tmp_path / "squares.png", component_side=10.0)
    assert image.factor == pytest.approx(0.25)
    assert image.ink.shape == (50, 75) and (image.width, image.height) == (300, 200)
    assert image.ink.max() == pytest.approx(1.0)


def test_tiny_model_learns_to_reconstruct(pages: Path, tmp_path: Path):
    fit_sprites(sorted(pages.glob("*.png")), tmp_path / "run", tiny_config(), progress=False)
    lines = [json.loads(line) for line in (tmp_path / "run" / METRICS).read_text().splitlines()]
    first = np.mean([line["reconstruction"] for line in lines[:2]])
    last = np.mean([line["reconstruction"] for line in lines[-2:]])
    assert last < 0.7 * first


def test_decomposition_is_valid_and_inside_each_page(pages: Path, tmp_path: Path):
    config = tiny_config(steps=10)
    paths = sorted(pages.glob("*.png"))
    model = fit_sprites(paths, tmp_path / "run", config, progress=False)
    with torch.no_grad():
        model.heads.bias[0] = 10.0  # every cell present: the decoder must still give clean boxes
    decomposition = decompose_with_sprites(model, paths, pages, config)
    again = Decomposition.from_json(json.loads(json.dumps(decomposition.to_json())))
    assert again == decomposition
    assert [page.image for page in decomposition.pages] == ["p0.png", "p1.png", "p2.png"]
    found = [instance for page in decomposition.pages for instance in page.instances]
    assert found, "every cell was present, yet nothing was decoded"
    for page in decomposition.pages:
        for x, y, width, height in (instance.bbox for instance in page.instances):
            assert 0 <= x < x + width <= page.width and 0 <= y < y + height <= page.height
    motifs = {motif.id: motif.instances for motif in decomposition.motifs}
    assert sum(motifs.values()) == len(found)
    assert {instance.motif for instance in found} == set(motifs)


def tiny_yaml(folder: Path) -> Path:
    """The tiny configuration, 4 steps, as a file (JSON is YAML)."""
    path = folder / "tiny.yaml"
    path.write_text(json.dumps({**TINY, "train": {**TINY["train"], "steps": 4}}))
    return path


def test_command_fits_and_writes_a_decomposition(pages: Path, tmp_path: Path):
    config = tiny_yaml(tmp_path)
    assert (
        main(
            [
                "sprites",
                "--data",
                str(pages),
                "--out",
                str(tmp_path / "run"),
                "--config",
                str(config),
            ]
        )
        == 0
    )
    decomposition = Decomposition.read(tmp_path / "run" / DECOMPOSITION)
    assert decomposition.model == "florilege-sprites"
    assert (tmp_path / "run" / "sprites.png").is_file()


def test_a_finished_run_is_never_overwritten(pages: Path, tmp_path: Path, capsys):
    fit_sprites(sorted(pages.glob("*.png")), tmp_path / "run", tiny_config(steps=2), progress=False)
    weights = (tmp_path / "run" / "sprites.pt").read_bytes()
    args = ["sprites", "--data", str(pages), "--out", str(tmp_path / "run")]
    assert main([*args, "--config", str(tiny_yaml(tmp_path))]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "run" / "sprites.pt").read_bytes() == weights


def test_an_unreadable_image_is_a_clear_error(tmp_path: Path, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")
    args = ["sprites", "--data", str(tmp_path / "images"), "--out", str(tmp_path / "run")]

    assert main([*args, "--config", str(tiny_yaml(tmp_path))]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
