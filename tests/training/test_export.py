"""Export of a trained run into a model bundle: ONNX parity with torch, manifest, no overwrite."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from service.bundle import file_sha256, load_bundle
from training import train
from training.config import CONFIG_DIR, load_config
from training.export import _score_difference, decomposition_parity, export_run
from training.model import Encoder
from training.synth import generate


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pages")
    generate(folder, pages=3, split="seen", seed=5)
    return folder


@pytest.fixture(scope="module")
def run(pages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = load_config(CONFIG_DIR / "tiny.yaml")
    config = dataclasses.replace(
        config, train=dataclasses.replace(config.train, epochs=1, steps_per_epoch=3)
    )
    folder = tmp_path_factory.mktemp("runs") / "run"
    train.fit(pages, folder, config, progress=False)
    return folder


@pytest.fixture(scope="module")
def bundle(run: Path, pages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bundles") / "bundle"
    export_run(run, folder, pages=pages / "images")
    return folder


def test_onnx_matches_torch_on_real_crops(run, bundle):
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["parity"]["embed"]["max_abs_diff"] < 1e-4
    with np.load(run / "crops.npz") as saved:
        crops = saved["train"][:13, None]
    assert len(crops) == 13
    model = train.load_weights(run)[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(crops)).numpy()
    session = ort.InferenceSession(str(bundle / "embed.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 13):  # the batch axis is dynamic
        found = session.run(None, {"crops": crops[:batch]})[0]
        assert np.abs(found - expected[:batch]).max() < 1e-4


def test_torch_and_onnxruntime_decompose_the_pages_alike(run, pages, bundle):
    parity = json.loads((bundle / "bundle.json").read_text())["parity"]["decomposition"]
    assert parity["identical"] is True
    assert parity["pages"] == 3 and parity["instances"] > 0
    assert parity["source"] == str(pages / "images")


def testdecomposition_parity_sees_another_model(run, pages, bundle):
    """The check can fail: an untrained model of the same shape does not decompose the pages
    as the exported one does."""
    torch.manual_seed(1)
    other = Encoder(**train.load_weights(run)[0].kwargs).eval()
    parity = decomposition_parity(other, load_bundle(bundle), pages / "images")
    assert parity["identical"] is False


def test_a_second_instance_at_one_place_is_a_difference() -> None:
    # Instances are compared by place; a decomposition with one more at the same place is
    # not the same, however close its score.
    instance = {"bbox": [1, 2, 3, 4], "motif": "m0001", "score": 0.9, "rotation": 0}
    page = {"image": "p.png", "width": 10, "height": 10, "instances": [instance]}
    one = {"motifs": [], "pages": [page]}
    doubled = {"motifs": [], "pages": [{**page, "instances": [instance, {**instance}]}]}

    assert _score_difference(one, json.loads(json.dumps(one))) == 0.0
    assert _score_difference(one, doubled) is None


def test_export_needs_pages_where_it_is_told_to_look(run, tmp_path):
    with pytest.raises(FileNotFoundError, match="no page images"):
        export_run(run, tmp_path / "bundle", pages=tmp_path)
    assert not (tmp_path / "bundle").exists()
    assert not (tmp_path / "bundle.partial").exists()


def test_the_manifest_describes_and_hashes_the_bundle(run, bundle):
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["format"] == 1 and manifest["name"] == "florilege-encoder"
    assert manifest["files"] == {"embed.onnx": file_sha256(bundle / "embed.onnx")}
    stage = manifest["stages"]["embed"]
    assert {k: stage["input"][k] for k in ("size", "channels", "dtype", "range")} == {
        "size": 64,
        "channels": 1,
        "dtype": "float32",
        "range": [0.0, 1.0],
    }
    assert stage["output"]["dim"] == 16
    assert manifest["training"]["config"]["model"]["channels"] == 4
    assert manifest["training"]["metrics"]["epoch"] == 1
    opsets = {o.domain: o.version for o in onnx.load(str(bundle / "embed.onnx")).opset_import}
    assert opsets[""] >= 17


def test_export_refuses_to_overwrite(run, bundle):
    before = (bundle / "bundle.json").read_bytes()
    with pytest.raises(FileExistsError, match="never overwrites"):
        export_run(run, bundle)
    assert (bundle / "bundle.json").read_bytes() == before
    assert not bundle.with_name(bundle.name + ".partial").exists()


def test_export_refuses_a_model_that_does_not_match_its_onnx(run, tmp_path):
    with pytest.raises(ValueError, match="differ by"):
        export_run(run, tmp_path / "strict", tolerance=-1.0)
    assert not (tmp_path / "strict").exists()
    assert not (tmp_path / "strict.partial").exists()
