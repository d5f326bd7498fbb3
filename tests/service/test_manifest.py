"""Reading Presentation 2.1 and 3 manifests and collections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.iiif.manifest import (
    InvalidManifest,
    collection_members,
    label_text,
    parse_manifest,
)
from tests.conftest import IIIFSite, manifest_v2, manifest_v3


@pytest.fixture
def site(tmp_path: Path) -> IIIFSite:
    return IIIFSite("http://img.test", "http://books.test", tmp_path)


def test_v3_manifest(site: IIIFSite) -> None:
    manifest = parse_manifest(manifest_v3(site, "b", ["page1", "page2"]))
    assert manifest.version == 3 and manifest.label == "Test book b"
    first, second = manifest.canvases
    assert (first.id, first.width, first.height, first.label) == (
        "http://books.test/b/canvas/1",
        1200,
        1600,
        "p. 1",
    )
    (image,) = first.images
    assert image.service is not None
    assert (image.service.id, image.service.version) == ("http://img.test/3.0_pil/page1", 3)
    assert image.target == (0, 0, 1200, 1600)
    assert first.key != second.key and len(first.key) == 20


def test_v2_manifest(site: IIIFSite) -> None:
    manifest = parse_manifest(manifest_v2(site, "b", ["page1"]))
    (canvas,) = manifest.canvases
    assert manifest.version == 2 and canvas.label == "p. 1"
    (image,) = canvas.images
    assert image.service is not None and image.service.version == 2
    assert (image.width, image.height) == (600, 800)


def test_every_painting_image_with_its_region(site: IIIFSite) -> None:
    doc = manifest_v3(site, "b", ["page1"])
    annotations = doc["items"][0]["items"][0]["items"]
    second = {
        **annotations[0],
        "id": "http://books.test/b/anno/2",
        "target": "http://books.test/b/canvas/1#xywh=600,0,600,800",
        "body": {
            "type": "Choice",
            "items": [
                {"id": "http://img.test/other.jpg", "type": "Image"},
                {"id": "http://img.test/other-ir.jpg", "type": "Image"},
            ],
        },
    }
    comment = {**annotations[0], "motivation": "commenting", "id": "http://books.test/b/c"}
    annotations.extend([second, comment])
    (canvas,) = parse_manifest(doc).canvases
    assert [i.url for i in canvas.images] == [
        "http://img.test/3.0_pil/page1/full/max/0/default.jpg",
        "http://img.test/other.jpg",
    ]
    assert canvas.images[1].target == (600, 0, 600, 800)
    assert canvas.images[1].service is None


def test_v2_choice_uses_the_default_image(site: IIIFSite) -> None:
    doc = manifest_v2(site, "b", ["page1"])
    image = doc["sequences"][0]["canvases"][0]["images"][0]
    image["resource"] = {"@type": "oa:Choice", "default": image["resource"], "item": []}
    image["on"] = "http://books.test/b/canvas/1#xywh=10,20,300,400"
    (canvas,) = parse_manifest(doc).canvases
    assert canvas.images[0].target == (10, 20, 300, 400)


def _broken(site: IIIFSite) -> list[Any]:
    v3 = manifest_v3(site, "b", ["page1"])
    no_size = manifest_v3(site, "b", ["page1"])
    del no_size["items"][0]["width"]
    empty = {**v3, "items": []}
    no_id = manifest_v3(site, "b", ["page1"])
    del no_id["items"][0]["items"][0]["items"][0]["body"]["id"]
    return [
        [],
        "text",
        {"type": "Manifest"},
        {**v3, "type": "Canvas"},
        no_size,
        empty,
        no_id,
        {**v3, "@context": "http://example.org/context.json"},
    ]


@pytest.mark.parametrize("index", range(8))
def test_broken_manifests_are_refused(site: IIIFSite, index: int) -> None:
    with pytest.raises(InvalidManifest):
        parse_manifest(_broken(site)[index])


def test_collections() -> None:
    v3 = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "type": "Collection",
        "id": "http://x/c",
        "items": [
            {"id": "http://x/m1", "type": "Manifest"},
            {"id": "http://x/c2", "type": "Collection"},
        ],
    }
    assert collection_members(v3) == (["http://x/m1"], ["http://x/c2"])
    v2 = {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@type": "sc:Collection",
        "@id": "http://x/c",
        "manifests": [{"@id": "http://x/m1", "@type": "sc:Manifest"}],
        "members": [{"@id": "http://x/c2", "@type": "sc:Collection"}],
    }
    assert collection_members(v2) == (["http://x/m1"], ["http://x/c2"])
    with pytest.raises(InvalidManifest):
        collection_members({**v3, "type": "Manifest"})


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("plain", "plain"),
        ({"en": ["Title"]}, "Title"),
        ({"@value": "v2"}, "v2"),
        ([{"@value": "first"}, "second"], "first"),
        (None, ""),
    ],
)
def test_labels(label: Any, text: str) -> None:
    assert label_text(label) == text
