"""Image API size negotiation and page loading, against the reference server and a level-0 tree."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from service.iiif.fetch import Fetcher, FetchPolicy, UpstreamNotFound
from service.iiif.image import (
    ImageInfo,
    ImageTooLarge,
    NotAnImage,
    choose_size,
    decode,
    load_page,
    parse_info,
)
from service.iiif.manifest import ImageRef, ImageService
from tests.conftest import PAGE_SIZE, IIIFSite, _script, ornament_page

V2_LEVEL1 = "http://iiif.io/api/image/2/level1.json"
V2_LEVEL0 = "http://iiif.io/api/image/2/level0.json"


def info(version: int = 3, **doc: object) -> ImageInfo:
    base = {"width": 4000, "height": 6000, "profile": "level1" if version == 3 else [V2_LEVEL1]}
    return parse_info({**base, **doc}, ImageService("http://img.test/a", version))


@pytest.mark.parametrize(
    ("image", "target", "size"),
    [
        (info(3), 1000, "1000,"),
        (info(2), 1000, "1000,"),
        (info(3), 5000, "max"),  # never ask for more than the image
        (info(2), 4000, "full"),
        (info(3, maxWidth=800), 1000, "max"),  # the server's limit is the most we get
        (info(3, maxWidth=2000), 1000, "1000,"),
        (info(3, maxArea=1_500_000), 2000, "max"),  # sqrt(1.5e6 * 4/6) = 1000 wide at most
        (info(3, maxArea=1_500_000), 800, "800,"),
        # maxHeight defaults to maxWidth: 900 high is 600 wide, asked for by width ("full"
        # would exceed the limit, and Image API 2.0 has no "max").
        (info(2, profile=[V2_LEVEL1, {"maxWidth": 900}]), 1000, "600,"),
        (info(2, profile=[V2_LEVEL1, {"maxWidth": 900}]), 500, "500,"),
        (info(3, maxWidth=3000, maxHeight=3000), 2500, "max"),  # maxHeight 3000 -> 2000 wide
    ],
)
def test_scalable_servers(image: ImageInfo, target: int, size: str) -> None:
    assert choose_size(image, target) == size


def test_max_size_respects_every_limit() -> None:
    # maxHeight defaults to maxWidth: 2000 high limits a 4000 x 6000 image to 1333 wide.
    assert info(3, maxWidth=2000).max_size() == (1333, 2000)
    assert info(3, maxArea=1_500_000).max_size() == (1000, 1500)


SIZES = [
    {"width": 500, "height": 750},
    {"width": 1000, "height": 1500},
    {"width": 2000, "height": 3000},
]


@pytest.mark.parametrize(
    ("version", "profile", "target", "size"),
    [
        (3, "level0", 900, "1000,1500"),  # v3 level 0 sizes are asked for as w,h
        (2, [V2_LEVEL0], 900, "1000,"),  # v2 canonical form is w,
        (3, "level0", 1000, "1000,1500"),
        (3, "level0", 400, "500,750"),
        (3, "level0", 2500, "max"),  # nothing listed is wide enough: the full image
        (2, [V2_LEVEL0], 2500, "full"),
    ],
)
def test_level0_servers_get_a_listed_size(
    version: int, profile: object, target: int, size: str
) -> None:
    image = info(version, profile=profile, sizes=SIZES)
    assert not image.scalable
    assert choose_size(image, target) == size


def test_level0_extra_features_make_it_scalable() -> None:
    assert info(3, profile="level0", extraFeatures=["sizeByW"]).scalable
    assert choose_size(info(3, profile="level0"), 900) == "max"  # no sizes listed


def test_info_without_size_is_not_an_image() -> None:
    with pytest.raises(NotAnImage):
        parse_info({"profile": "level1"}, ImageService("http://img.test/a", 3))


@pytest.mark.parametrize("version", [2, 3])
def test_load_page_from_the_reference_server(iiif_site: IIIFSite, version: int) -> None:
    fetcher = Fetcher(FetchPolicy(allow_hosts=frozenset({"127.0.0.1"})))
    service = ImageService(iiif_site.image_service(version, "page1"), version)
    ref = ImageRef("unused", service, None, None, (0, 0, 1200, 1600))
    raster = load_page(fetcher, ref, 400, 10**8)
    assert raster.pixels.shape == (533, 400)  # asked for 400 wide, not the 600 there are
    assert (raster.full_width, raster.full_height) == PAGE_SIZE
    assert raster.pixels.min() < 50 and raster.pixels.max() > 200


@pytest.fixture(scope="module")
def level0_service(iiif_site: IIIFSite, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A static (level 0) Image API 2.1 tree made by the reference ``iiif_static.py``."""
    source = tmp_path_factory.mktemp("level0") / "p.png"
    ornament_page().save(source)
    base = iiif_site.static("level0")
    subprocess.run(
        [
            sys.executable,
            _script("iiif_static.py"),
            "-d",
            str(iiif_site.root / "level0"),
            "-p",
            base,
            "-i",
            "p1",
            "-t",
            "256",
            "-e",
            "/full/300,/0/default.jpg",
            "-e",
            "/full/full/0/default.jpg",
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    info_path = Path(iiif_site.root / "level0" / "p1" / "info.json")
    doc = json.loads(info_path.read_text())
    doc["sizes"].append({"width": 300, "height": 400})  # the extra size generated above
    info_path.write_text(json.dumps(doc))
    return f"{base}/p1"


@pytest.mark.parametrize(("target", "width"), [(250, 300), (120, 150), (500, 600)])
def test_load_page_from_a_level0_server(level0_service: str, target: int, width: int) -> None:
    fetcher = Fetcher(FetchPolicy(allow_hosts=frozenset({"127.0.0.1"})))
    ref = ImageRef("unused", ImageService(level0_service, 2), None, None, (0, 0, 600, 800))
    raster = load_page(fetcher, ref, target, 10**8)
    # The smallest listed size at least as wide as asked, reduced to the target on decode.
    assert raster.pixels.shape[1] == min(width, target)
    assert (raster.full_width, raster.full_height) == PAGE_SIZE


def test_load_plain_image_without_service(iiif_site: IIIFSite) -> None:
    fetcher = Fetcher(FetchPolicy(allow_hosts=frozenset({"127.0.0.1"})))
    ref = ImageRef(iiif_site.static("plain.png"), None, None, None, (0, 0, 600, 800))
    raster = load_page(fetcher, ref, 300, 10**8)
    assert raster.pixels.shape == (400, 300)
    assert (raster.full_width, raster.full_height) == PAGE_SIZE


def test_decode_guards() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, format="JPEG")
    pixels, size = decode(buffer.getvalue(), 100, 10**6)
    assert pixels.shape == (67, 100) and size == (300, 200)
    with pytest.raises(ImageTooLarge):
        decode(buffer.getvalue(), 100, 300 * 200 - 1)
    with pytest.raises(NotAnImage):
        decode(b"<html>not an image</html>", 100, 10**6)


def _scalable_info(site: IIIFSite, name: str) -> str:
    """A level-1 Image API 3 service of a 1200 x 1600 image, its requests scripted per test."""
    base = site.static(name)
    info = {
        "@context": "http://iiif.io/api/image/3/context.json",
        "id": base,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level1",
        "width": 1200,
        "height": 1600,
    }
    site.publish(f"{name}/info.json", info)
    return base


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    ornament_page().resize((width, height)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_failing_large_rendering_falls_back_to_a_smaller_one(iiif_site: IIIFSite) -> None:
    base = _scalable_info(iiif_site, "fallback")
    iiif_site.script("fallback/full/max/0/default.jpg", (500, {}, b"overloaded"))
    iiif_site.script(
        "fallback/full/600,/0/default.jpg", (200, {"Content-Type": "image/jpeg"}, _jpeg(600, 800))
    )
    fetcher = Fetcher(FetchPolicy(allow_hosts=frozenset({"127.0.0.1"}), retries=0))
    ref = ImageRef("unused", ImageService(base, 3), None, None, (0, 0, 1200, 1600))
    raster = load_page(fetcher, ref, 1200, 10**8)
    assert raster.pixels.shape == (800, 600)  # the half-size rendering...
    assert (raster.full_width, raster.full_height) == (1200, 1600)  # ...placed on the full image


def test_a_missing_image_does_not_fall_back(iiif_site: IIIFSite) -> None:
    base = _scalable_info(iiif_site, "gone")
    iiif_site.script("gone/full/max/0/default.jpg", (404, {}, b"no such image"))
    # A smaller rendering would succeed: the 404 surfacing proves it was not asked for.
    iiif_site.script("gone/full/600,/0/default.jpg", (200, {}, _jpeg(600, 800)))
    fetcher = Fetcher(FetchPolicy(allow_hosts=frozenset({"127.0.0.1"}), retries=0))
    ref = ImageRef("unused", ImageService(base, 3), None, None, (0, 0, 1200, 1600))
    with pytest.raises(UpstreamNotFound):
        load_page(fetcher, ref, 1200, 10**8)
