"""The sample manifests in manifests/ are valid and match their images."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from service.iiif.manifest import collection_members, parse_manifest
from tests.service.iiif3_schema import assert_valid_v3

SAMPLES = Path(__file__).resolve().parents[2] / "manifests"
IMAGE_BASE, MANIFEST_BASE = "http://127.0.0.1:8182", "http://127.0.0.1:8183"


def load(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def test_collection_lists_both_samples() -> None:
    manifests, collections = collection_members(load("collection.json"))
    assert manifests == [f"{MANIFEST_BASE}/sample-v3.json", f"{MANIFEST_BASE}/sample-v2.json"]
    assert collections == []


def test_samples_match_their_images() -> None:
    assert_valid_v3(load("sample-v3.json"), "manifest")
    for name, version in (("sample-v3.json", 3), ("sample-v2.json", 2)):
        manifest = parse_manifest(load(name))
        assert manifest.version == version and manifest.id == f"{MANIFEST_BASE}/{name}"
        assert len(manifest.canvases) == 3
        for canvas in manifest.canvases:
            (image,) = canvas.images
            assert image.service is not None and image.service.version == version
            assert image.service.id.startswith(IMAGE_BASE)
            stem = image.service.id.rsplit("/", 1)[1]
            with Image.open(SAMPLES / "images" / f"{stem}.jpg") as page:
                # Canvases are the size of their images (see manifests/build.py for why).
                assert page.size == (canvas.width, canvas.height) == (image.width, image.height)
