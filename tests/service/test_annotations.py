"""Annotations, augmented manifests and motif manifests: shape, schema and coordinates."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest

from service.decomposition import Instance
from service.iiif.annotations import annotation_list_v2, annotation_page_v3, augment_manifest
from service.iiif.manifest import CanvasRef, ImageRef, ImageService, canvas_key, parse_manifest
from service.iiif.motif_manifest import motif_manifest
from service.iiif.placement import Placement, integer_box, place
from tests.conftest import IIIFSite, manifest_v2, manifest_v3
from tests.service.iiif3_schema import assert_valid_v3

CANVAS = "http://books.test/b/canvas/1"
SERVICE = ImageService("http://img.test/3.0_pil/page1", 3)


def placement(box: tuple[int, int, int, int] = (10, 20, 30, 40), **kw: Any) -> Placement:
    values = {
        "canvas_key": canvas_key(CANVAS),
        "motif": "abcd1234-m0001",
        "box": box,
        "region": (5, 10, 15, 20),
        "image_url": "http://img.test/p.jpg",
        "service": SERVICE,
        "score": 0.91234,
        "rotation": 90,
        "mirror": True,
        "ornament": "o1",
        **kw,
    }
    return Placement(**values)


def link(motif: str) -> str:
    return f"http://florilege.test/motifs/{motif}"


def test_annotation_page_v3_is_valid_and_complete() -> None:
    page = annotation_page_v3(
        "http://florilege.test/iiif/v3/annotations/k",
        CANVAS,
        [placement(), placement((0, 0, 5, 5), rotation=0, mirror=False)],
        link,
        "http://florilege.test",
    )
    assert_valid_v3(page, "annotationPage")
    first = page["items"][0]
    assert first["target"] == f"{CANVAS}#xywh=10,20,30,40"
    assert first["motivation"] == "commenting"
    comment, tag, description = first["body"]
    assert comment["purpose"] == "commenting" and comment["format"] == "text/html"
    assert 'href="http://florilege.test/motifs/abcd1234-m0001"' in comment["value"]
    assert "rotated 90°" in comment["value"] and "mirrored" in comment["value"]
    assert tag == {"type": "TextualBody", "value": "abcd1234-m0001", "purpose": "tagging"}
    assert description["value"] == "score=0.912; rotation=90; mirror=true"
    assert first["generator"]["type"] == "Software" == first["creator"]["type"]
    assert len({a["id"] for a in page["items"]}) == 2


def test_validation_catches_mistakes() -> None:
    page = annotation_page_v3(
        "http://florilege.test/p", CANVAS, [placement()], link, "http://florilege.test"
    )
    assert_valid_v3(page, "annotationPage")
    fractional = copy.deepcopy(page)  # iiif-prezi3 takes any string as a target
    fractional["items"][0]["target"] = f"{CANVAS}#xywh=1.5,2,3,4"
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_v3(fractional, "annotationPage")
    untyped = copy.deepcopy(page)  # the official schema's models refuse an unknown type
    untyped["items"][0]["type"] = "Note"
    with pytest.raises(pydantic.ValidationError):
        assert_valid_v3(untyped, "annotationPage")
    plain = copy.deepcopy(page)  # iiif-prezi3 would turn a plain string into a language map
    plain["label"] = "ornaments"
    with pytest.raises(AssertionError, match="changed"):
        assert_valid_v3(plain, "annotationPage")


def test_annotation_list_v2() -> None:
    doc = annotation_list_v2(
        "http://florilege.test/iiif/v2/annotations/k",
        CANVAS,
        [placement()],
        link,
        "http://florilege.test",
    )
    assert doc["@type"] == "sc:AnnotationList"
    assert doc["@context"] == "http://iiif.io/api/presentation/2/context.json"
    (anno,) = doc["resources"]
    assert anno["on"] == f"{CANVAS}#xywh=10,20,30,40"
    assert anno["motivation"] == "oa:commenting"
    assert [r["@type"] for r in anno["resource"]] == ["dctypes:Text", "oa:Tag", "dctypes:Text"]
    assert anno["serializedBy"]["@type"] == "prov:SoftwareAgent"


def test_augmented_v3_manifest_is_valid(tmp_path: Path) -> None:
    site = IIIFSite("http://img.test", "http://books.test", tmp_path)
    original = manifest_v3(site, "b", ["page1", "page2"])
    original["items"][1]["annotations"] = [{"id": "http://other.test/p", "type": "AnnotationPage"}]
    doc = augment_manifest(original, 3, lambda cid: f"http://florilege.test/a/{canvas_key(cid)}")
    assert_valid_v3(doc, "manifest")
    assert doc["items"][0]["annotations"] == [
        {
            "id": f"http://florilege.test/a/{canvas_key(doc['items'][0]['id'])}",
            "type": "AnnotationPage",
        }
    ]
    assert len(doc["items"][1]["annotations"]) == 2  # theirs kept, ours added
    assert "annotations" not in original["items"][0]  # the original is not modified
    assert parse_manifest(doc) == parse_manifest(original)


def test_augmented_v2_manifest(tmp_path: Path) -> None:
    site = IIIFSite("http://img.test", "http://books.test", tmp_path)
    doc = augment_manifest(manifest_v2(site, "b", ["page1"]), 2, lambda cid: f"{cid}/list")
    (canvas,) = doc["sequences"][0]["canvases"]
    assert canvas["otherContent"] == [
        {"@id": f"{canvas['@id']}/list", "@type": "sc:AnnotationList"}
    ]


def test_motif_manifest_is_valid() -> None:
    v2 = ImageService("http://img.test/2.1_pil/page2", 2)
    placements = [
        placement(),
        placement(region=(1, 2, 30, 40), service=v2),
        placement(service=None),
    ]
    doc = motif_manifest(
        "http://florilege.test/motifs/m/manifest", "m", placements, {canvas_key(CANVAS): "page 1"}
    )
    assert_valid_v3(doc, "manifest")
    assert len(doc["items"]) == 2  # the instance without an Image API service is left out
    first, second = doc["items"]
    assert (first["width"], first["height"]) == (15, 20)
    body = second["items"][0]["items"][0]["body"]
    assert body["id"] == "http://img.test/2.1_pil/page2/1,2,30,40/full/0/default.jpg"
    assert body["service"][0]["@type"] == "ImageService2"
    assert first["label"]["none"][0].startswith("page 1")


def test_served_documents_are_valid(app: Any, client: Any, iiif_site: IIIFSite) -> None:
    url = iiif_site.publish("schema/manifest.json", manifest_v3(iiif_site, "schema", ["page2"]))
    client.post("/api/jobs", json={"manifest": url})
    app.extensions["florilege"].runner.run_pending()
    manifest = client.get("/iiif/manifest", query_string={"url": url}).json
    assert_valid_v3(manifest, "manifest")
    page_url = manifest["items"][0]["annotations"][0]["id"]
    page = client.get(page_url.removeprefix("http://florilege.test")).json
    assert_valid_v3(page, "annotationPage")
    assert len(page["items"]) == 10
    for motif in client.get("/motifs").json["motifs"]:
        assert_valid_v3(client.get(f"/motifs/{motif['id']}/manifest").json, "manifest")


def test_integer_boxes_contain_the_box_and_stay_inside() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        width, height = rng.randint(1, 3000), rng.randint(1, 3000)
        x, y = rng.uniform(-50, width + 50), rng.uniform(-50, height + 50)
        w, h = rng.uniform(0.1, 500), rng.uniform(0.1, 500)
        bx, by, bw, bh = integer_box(x, y, w, h, width, height)
        assert 0 <= bx and 0 <= by and bw >= 1 and bh >= 1
        assert bx + bw <= width and by + bh <= height
        if 0 <= x and 0 <= y and x + w <= width and y + h <= height:
            assert bx <= x + 1e-6 and by <= y + 1e-6
            assert bx + bw >= x + w - 1e-6 and by + bh >= y + h - 1e-6


def test_place_scales_into_the_images_target() -> None:
    image = ImageRef("http://img.test/p.jpg", SERVICE, 3000, 4000, (1000, 500, 1500, 2000))
    canvas = CanvasRef(CANVAS, "p", 3000, 3000, (image,))
    instance = Instance(bbox=(100, 40, 30, 20), motif="m0001", score=0.5, rotation=180)
    placed = place(instance, canvas, image, raster_size=(300, 400), full_size=(3000, 4000))
    # The raster is 300 wide for an image painted 1500 wide at x = 1000: 5 canvas units a pixel.
    assert placed.box == (1500, 700, 150, 100)
    assert placed.region == (1000, 400, 300, 200)  # 10 image pixels per raster pixel
    assert placed.rotation == 180 and placed.canvas_key == canvas_key(CANVAS)
