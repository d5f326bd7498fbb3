"""The viewer end to end: Mirador served by us, in headless Chromium, draws our annotation boxes.

Every request the browser makes is checked: anything not on 127.0.0.1 is aborted and makes the
test fail (the viewer must work without a CDN). The canvases here are the size of their images:
Mirador 4.0.0 draws ``#xywh`` boxes in image pixels rather than canvas units (Mirador issue
#4533), so a canvas larger than its image would show shifted boxes in the viewer even though
our annotations are right (test_jobs_api checks the canvas scaling).
"""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image
from werkzeug.serving import make_server

from service.app import create_app
from tests.conftest import IIIFSite, manifest_v3

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def served(app_config: dict[str, Any], iiif_site: IIIFSite) -> Iterator[tuple[str, str]]:
    url = iiif_site.publish(
        "viewer/manifest.json", manifest_v3(iiif_site, "viewer", ["page1", "page2"], scale=1)
    )
    app = create_app({**app_config, "PUBLIC_URL": None})
    client = app.test_client()
    assert client.post("/api/jobs", json={"manifest": url}).status_code == 202
    app.extensions["florilege"].runner.run_pending()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", url
    server.shutdown()
    app.extensions["florilege"].store.close()


def test_viewer_without_manifest_is_a_json_error(client: Any) -> None:
    response = client.get("/viewer")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "missing_parameter"


def test_viewer_page_and_bundle_are_served(client: Any) -> None:
    page = client.get("/viewer", query_string={"manifest": "http://127.0.0.1:1/m.json"})
    assert page.status_code == 200
    html = page.data.decode()
    assert "/viewer/static/mirador.min.js" in html
    assert '"http://florilege.test/iiif/manifest?url=http://127.0.0.1:1/m.json"' in html
    assert "unpkg" not in html and "cdn" not in html.lower()
    bundle = client.get("/viewer/static/mirador.min.js")
    assert bundle.status_code == 200 and len(bundle.data) > 1_000_000
    bundle.close()
    hostile = client.get(
        "/viewer", query_string={"manifest": 'http://127.0.0.1:1/"</script><script>alert(1)//'}
    )
    assert hostile.status_code == 200 and "<script>alert" not in hostile.data.decode()


@pytest.mark.parametrize(
    ("manifest", "status", "code"),
    [
        ("javascript:alert(1)", 400, "bad_url"),
        ("ftp://127.0.0.1/m.json", 400, "bad_url"),
        ("http://10.0.0.1/m.json", 403, "host_not_allowed"),
    ],
)
def test_viewer_refuses_what_cannot_be_fetched(
    client: Any, manifest: str, status: int, code: str
) -> None:
    response = client.get("/viewer", query_string={"manifest": manifest})
    assert response.status_code == status and response.json["error"]["code"] == code


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_mirador_draws_the_annotation_boxes(served: tuple[str, str], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, manifest = served
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", only_loopback)
            page.goto(f"{base}/viewer?manifest={quote(manifest, safe='')}")
            page.wait_for_function(
                """() => Object.values(window.florilegeViewer.store.getState().annotations)
                    .some(c => Object.values(c).some(a => a.json && a.json.items
                                                     && a.json.items.length === 8))""",
                timeout=30_000,
            )
            page.wait_for_timeout(2_000)  # let OpenSeadragon finish drawing tiles and boxes
            viewer = page.locator(".openseadragon-canvas").first
            shot = np.asarray(Image.open(io.BytesIO(viewer.screenshot())).convert("RGB"))
            page.screenshot(path=str(tmp_path / "viewer.png"))
        finally:
            browser.close()
    assert outside == []
    red, green, blue = (shot[..., i].astype(int) for i in range(3))
    # Mirador strokes boxes in colour; the page itself is black on white.
    coloured = (np.abs(red - green) + np.abs(green - blue) + np.abs(red - blue)) > 120
    ink = (red + green + blue) < 150
    assert coloured.sum() > 8 * 40, "no annotation boxes drawn"
    rows = np.flatnonzero(coloured.any(axis=1))
    top_ink = np.flatnonzero(ink.any(axis=1))[0]  # the fleurons are the topmost ink
    assert rows[0] <= top_ink <= rows[-1], "boxes are not around the ornaments"
