"""Shared fixtures: a real IIIF Image API server and a static web server on 127.0.0.1.

The image server is the reference implementation from the ``iiif`` package
(``iiif_testserver.py``, Image API 2.1 and 3.0, level 1), run as a subprocess. The static
server (``http.server`` in a thread) serves manifests, collections, plain images, a level-0
static tile tree made by ``iiif_static.py``, and a few misbehaving endpoints.
"""

from __future__ import annotations

import http.server
import json
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from manifests import build
from service.waiting import wait_for_url

PAGE_SIZE = (600, 800)  # image pixels; canvases are twice as large
CANVAS_SCALE = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _script(name: str) -> str:
    found = shutil.which(name) or str(Path(sysconfig.get_path("scripts")) / name)
    if not Path(found).is_file():
        raise RuntimeError(f"{name} not found: pip install iiif (the IIIF reference server)")
    return found


def fleuron(size: int = 40) -> Image.Image:
    """An asymmetric block, so that mirror and rotation are visible."""
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    draw.polygon([(4, 36), (20, 4), (24, 20), (36, 30)], fill=0)
    draw.ellipse((22, 4, 34, 14), fill=0)
    return image


def ornament_page(copies: int = 8, block: Image.Image | None = None) -> Image.Image:
    """A page with a head-piece band of fleurons, alternately mirrored, above lines of "text".

    The text (small letter-sized blocks) matters: the decomposition tells ornaments from text
    by size relative to the page's own x-height.
    """
    page = Image.new("L", PAGE_SIZE, 255)
    block = block or fleuron()
    # Ten 40-pixel blocks 56 apart end 4 pixels inside the page: a block cut by the edge of
    # the image is no whole impression, and the decomposition leaves it out.
    assert 56 + (copies - 1) * 56 + block.width <= PAGE_SIZE[0], "the band must fit the page"
    for i in range(copies):
        tile = block.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else block
        page.paste(tile, (56 + i * 56, 80))
    draw = ImageDraw.Draw(page)
    rng = random.Random(1)  # the same "text" on every run
    for row in range(12):
        y = 180 + row * 22
        for column in range(52):
            if rng.random() < 0.15:
                continue  # a space between words
            x = 60 + column * 9
            # Every letter a different small blob, as in real text: no two neighbours alike.
            points = [(x + rng.uniform(0, 6), y + rng.uniform(0, 9)) for _ in range(5)]
            draw.polygon(points, fill=0)
    return page


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files plus scripted answers (flaky, redirecting, oversized endpoints)."""

    server: _StaticServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.seen.append(self.path)
        script = self.server.scripts.get(self.path)
        if script is None:
            super().do_GET()
            return
        status, headers, body = script.pop(0) if len(script) > 1 else script[0]
        time.sleep(float(headers.get("X-Delay", 0)))  # a slow server
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            if value:  # an empty value leaves the header out
                self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _StaticServer(http.server.ThreadingHTTPServer):
    scripts: dict[str, list[tuple[int, dict[str, str], bytes]]]
    seen: list[str]


@dataclass
class IIIFSite:
    """URLs of everything the fixtures serve."""

    image_base: str  # the reference image server
    static_base: str  # the static server
    root: Path  # the static server's folder
    scripts: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    images: Path | None = None  # the image server's folder, where one runs
    seen: list[str] = field(default_factory=list)  # the paths the static server was asked for

    def image_service(self, version: int, name: str) -> str:
        return f"{self.image_base}/{'3.0' if version == 3 else '2.1'}_pil/{name}"

    def static(self, path: str) -> str:
        return f"{self.static_base}/{path}"

    def publish(self, path: str, doc: Any) -> str:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc))
        return self.static(path)

    def add_image(self, name: str, image: Image.Image) -> None:
        """Serve ``image`` from the image server as ``name`` (it reads the folder per request)."""
        assert self.images is not None, "no image server behind this site"
        image.save(self.images / f"{name}.png")

    def script(self, path: str, *answers: tuple[int, dict[str, str], bytes]) -> str:
        """Answer GET ``path`` with ``answers`` in turn (the last one repeats)."""
        self.scripts["/" + path] = list(answers)
        return self.static(path)


def manifest_v3(
    site: IIIFSite, name: str, images: list[str], scale: int = CANVAS_SCALE
) -> dict[str, Any]:
    """A v3 book of ``images`` (served by the image server), built as the samples are."""
    return _book(build.manifest_v3, 3, site, name, images, scale)


def manifest_v2(
    site: IIIFSite, name: str, images: list[str], scale: int = CANVAS_SCALE
) -> dict[str, Any]:
    return _book(build.manifest_v2, 2, site, name, images, scale)


def _book(
    builder: Callable[..., dict[str, Any]],
    version: int,
    site: IIIFSite,
    name: str,
    images: list[str],
    scale: int,
) -> dict[str, Any]:
    url = site.static(f"{name}/manifest.json")
    pages = [build.Page(site.image_service(version, image), PAGE_SIZE) for image in images]
    return builder(url, url.rsplit("/", 1)[0], f"Test book {name}", pages, scale)


@pytest.fixture(scope="session")
def iiif_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IIIFSite]:
    images = tmp_path_factory.mktemp("images")
    root = tmp_path_factory.mktemp("static")
    for index in (1, 2):
        ornament_page(copies=6 + 2 * index).save(images / f"page{index}.png")
    ornament_page().save(root / "plain.png")
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            _script("iiif_testserver.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--image-dir",
            str(images),
            "--api-versions",
            "2.1,3.0",
            "--quiet",
        ],
        cwd=images,  # it writes a pid file into its working directory
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    static = _StaticServer(("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(root)))
    site = IIIFSite(
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{static.server_port}", root, images=images
    )
    static.scripts, static.seen = site.scripts, site.seen
    thread = threading.Thread(target=static.serve_forever, daemon=True)
    thread.start()
    try:
        wait_for_url(f"{site.image_service(3, 'page1')}/info.json")
        yield site
    finally:
        static.shutdown()
        static.server_close()
        server.terminate()
        server.wait(10)


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATA": str(tmp_path),
        "DB": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "ALLOW_HOSTS": "127.0.0.1",
        "ANALYSIS_WIDTH": 400,
        "JOB_WORKERS": 0,
        "FETCH_RETRIES": 1,
        "FETCH_TIMEOUT": 10,
        "PUBLIC_URL": "http://florilege.test",
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    from service.app import create_app

    application = create_app(app_config)
    yield application
    application.extensions["florilege"].runner.stop()
    application.extensions["florilege"].store.close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
