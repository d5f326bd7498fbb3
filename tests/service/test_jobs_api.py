"""End to end through the HTTP API: jobs against the real IIIF server, then what they stored."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from service.app import create_app
from service.harvest.driver import HarvestOptions, run_pending
from service.iiif.manifest import canvas_key
from tests.conftest import CANVAS_SCALE, PAGE_SIZE, IIIFSite, manifest_v2, manifest_v3


def run_job(app: Any, client: Any, body: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 202, response.json
    assert response.json["status"] == "queued"
    assert response.headers["Location"].endswith(response.json["id"])
    app.extensions["florilege"].runner.run_pending()
    run_pending(HarvestOptions(progress=False), app.extensions["florilege"].config)
    return client.get(f"/api/jobs/{response.json['id']}").json


@pytest.fixture
def book_v3(iiif_site: IIIFSite) -> str:
    return iiif_site.publish("v3/manifest.json", manifest_v3(iiif_site, "v3", ["page1", "page2"]))


def test_the_app_never_imports_torch(tmp_path: Path) -> None:
    # A fresh interpreter: in this one, training tests may already have imported torch.
    code = (
        "import sys\n"
        "from service.app import create_app\n"
        f"app = create_app({{'DB': 'sqlite:///{tmp_path}/t.sqlite3', 'JOB_WORKERS': 0}})\n"
        "app.test_client().get('/motifs')\n"
        "import service.decompose\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_v3_job_annotates_every_canvas(app: Any, client: Any, book_v3: str) -> None:
    job = run_job(app, client, {"manifest": book_v3})
    assert job["status"] == "done", job
    assert job["progress"] == {"done": 2, "total": 2}
    assert job["errors"] == []

    manifest = client.get("/iiif/manifest", query_string={"url": book_v3})
    assert manifest.status_code == 200
    assert "presentation/3/context.json" in manifest.headers["Content-Type"]
    assert manifest.headers["Access-Control-Allow-Origin"] == "*"
    canvases = manifest.json["items"]
    assert len(canvases) == 2
    for canvas in canvases:
        (ref,) = canvas["annotations"]
        assert ref["type"] == "AnnotationPage"
        path = ref["id"].removeprefix("http://florilege.test")
        assert path == f"/iiif/v3/annotations/{canvas_key(canvas['id'])}"
        page = client.get(path).json
        assert page["type"] == "AnnotationPage" and len(page["items"]) >= 8
        for anno in page["items"]:
            target = anno["target"]
            assert target.startswith(canvas["id"] + "#xywh=")
            x, y, w, h = (int(v) for v in target.split("=")[1].split(","))
            assert 0 <= x and 0 <= y and x + w <= canvas["width"] and y + h <= canvas["height"]


def test_boxes_are_scaled_from_image_pixels_to_the_canvas(
    app: Any, client: Any, book_v3: str
) -> None:
    run_job(app, client, {"manifest": book_v3})
    canvas_id = book_v3.rsplit("/", 1)[0] + "/canvas/1"
    page = client.get(f"/iiif/v3/annotations/{canvas_key(canvas_id)}").json
    boxes = sorted(
        tuple(int(v) for v in a["target"].split("=")[1].split(",")) for a in page["items"]
    )
    # ornament_page() pastes 40-pixel fleurons at x = 56 + 56 i, y = 80 in 600 x 800 pixels;
    # their ink starts 4 pixels in. The canvas is twice the image.
    assert len(boxes) == 8
    for i, (x, y, w, h) in enumerate(boxes):
        assert abs(x - CANVAS_SCALE * (56 + 56 * i + 4)) <= 6
        assert abs(y - CANVAS_SCALE * (80 + 4)) <= 6
        assert 56 <= w <= 72 and 56 <= h <= 72


def test_annotation_bodies_name_the_motif(app: Any, client: Any, book_v3: str) -> None:
    run_job(app, client, {"manifest": book_v3})
    canvas_id = book_v3.rsplit("/", 1)[0] + "/canvas/1"
    anno = client.get(f"/iiif/v3/annotations/{canvas_key(canvas_id)}").json["items"][0]
    assert anno["motivation"] == "commenting"
    comment, tag, description = anno["body"]
    assert tag["purpose"] == "tagging"
    motif = client.get(f"/motifs/{tag['value']}").json
    assert motif["id"] == tag["value"]
    assert motif["links"]["self"] in comment["value"]
    assert description["value"].startswith("score=")
    assert anno["generator"]["type"] == "Software"


def test_motif_endpoints(app: Any, client: Any, book_v3: str) -> None:
    run_job(app, client, {"manifest": book_v3})
    motifs = client.get("/motifs").json["motifs"]
    fleuron = max(motifs, key=lambda m: m["instances"])
    assert fleuron["instances"] == 18  # 8 on page 1, 10 on page 2
    detail = client.get(f"/motifs/{fleuron['id']}").json
    assert len(detail["instance_list"]) == 18
    assert {i["mirror"] for i in detail["instance_list"]} == {True, False}
    region = detail["instance_list"][0]["region"]
    assert re.fullmatch(
        r"http://127\.0\.0\.1:\d+/3\.0_pil/page\d/\d+,\d+,\d+,\d+/max/0/default\.jpg", region
    )

    png = client.get(f"/motifs/{fleuron['id']}/prototype.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    prototype = Image.open(io.BytesIO(png.data))
    assert 12 <= prototype.width <= 40 and 12 <= prototype.height <= 40

    manifest = client.get(f"/motifs/{fleuron['id']}/manifest")
    assert manifest.status_code == 200
    assert len(manifest.json["items"]) == 18
    body = manifest.json["items"][0]["items"][0]["items"][0]["body"]
    assert body["id"].endswith("/max/0/default.jpg")
    assert body["service"][0]["type"] == "ImageService3"


def test_motif_manifest_regions_are_served_by_the_image_server(
    app: Any, client: Any, book_v3: str
) -> None:
    import requests

    run_job(app, client, {"manifest": book_v3})
    fleuron = max(client.get("/motifs").json["motifs"], key=lambda m: m["instances"])
    canvas = client.get(f"/motifs/{fleuron['id']}/manifest").json["items"][0]
    body = canvas["items"][0]["items"][0]["body"]
    crop = Image.open(io.BytesIO(requests.get(body["id"], timeout=10).content))
    assert crop.size == (canvas["width"], canvas["height"])
    assert min(crop.convert("L").getdata()) < 64  # the crop holds ink, not blank paper


def test_rerun_replaces_instead_of_duplicating(app: Any, client: Any, book_v3: str) -> None:
    store = app.extensions["florilege"].store
    run_job(app, client, {"manifest": book_v3})
    first = store.counts()
    assert first == {"canvases": 2, "motifs": 1, "instances": 18}
    run_job(app, client, {"manifest": book_v3})
    assert store.counts() == first
    assert "florilege_instances 18" in client.get("/metrics").data.decode()


def test_v2_manifest_gets_v2_annotation_lists(app: Any, client: Any, iiif_site: IIIFSite) -> None:
    url = iiif_site.publish("v2/manifest.json", manifest_v2(iiif_site, "v2", ["page1"]))
    assert run_job(app, client, {"manifest": url})["status"] == "done"
    manifest = client.get("/iiif/manifest", query_string={"url": url})
    assert manifest.headers["Content-Type"] == "application/ld+json"
    canvas = manifest.json["sequences"][0]["canvases"][0]
    (ref,) = canvas["otherContent"]
    assert ref["@type"] == "sc:AnnotationList"
    annotations = client.get(ref["@id"].removeprefix("http://florilege.test")).json
    assert annotations["@type"] == "sc:AnnotationList"
    assert len(annotations["resources"]) == 8
    first = annotations["resources"][0]
    assert first["motivation"] == "oa:commenting"
    assert first["on"].startswith(canvas["@id"] + "#xywh=")
    assert first["resource"][1]["@type"] == "oa:Tag"


def test_collection_job_covers_every_manifest(app: Any, client: Any, iiif_site: IIIFSite) -> None:
    a = iiif_site.publish("ca/manifest.json", manifest_v3(iiif_site, "ca", ["page1"]))
    b = iiif_site.publish("cb/manifest.json", manifest_v2(iiif_site, "cb", ["page2"]))
    collection = iiif_site.publish(
        "collection.json",
        {
            "@context": "http://iiif.io/api/presentation/3/context.json",
            "id": iiif_site.static("collection.json"),
            "type": "Collection",
            "label": {"en": ["books"]},
            "items": [{"id": a, "type": "Manifest"}, {"id": b, "type": "Manifest"}],
        },
    )
    job = run_job(app, client, {"collection": collection})
    assert job["status"] == "done" and job["progress"]["by_status"] == {"done": 2}
    (fleuron,) = client.get("/motifs").json["motifs"]
    assert fleuron["instances"] == 18  # one motif found across both books, in its catalogue


def test_missing_image_is_a_per_canvas_error(app: Any, client: Any, iiif_site: IIIFSite) -> None:
    url = iiif_site.publish("gap/manifest.json", manifest_v3(iiif_site, "gap", ["page1", "nope"]))
    job = run_job(app, client, {"manifest": url})
    assert job["status"] == "done"
    (error,) = job["errors"]
    assert error["canvas"].endswith("/canvas/2") and error["code"] == "upstream_not_found"
    assert app.extensions["florilege"].store.counts()["instances"] == 8


def test_oversized_image_is_refused(app_config: dict[str, Any], iiif_site: IIIFSite) -> None:
    app = create_app({**app_config, "MAX_IMAGE_PIXELS": 10_000})
    url = iiif_site.publish("big/manifest.json", manifest_v3(iiif_site, "big", ["page1"]))
    job = run_job(app, app.test_client(), {"manifest": url})
    assert job["status"] == "failed"
    assert job["errors"][0]["code"] == "image_too_large"
    assert job["message"].startswith("invalid_manifest: no page image")


def test_broken_manifest_fails_the_job(app: Any, client: Any, iiif_site: IIIFSite) -> None:
    url = iiif_site.publish(
        "broken/manifest.json",
        {
            "@context": "http://iiif.io/api/presentation/3/context.json",
            "type": "Manifest",
            "id": "http://x/m",
            "items": [{"type": "Canvas", "id": "http://x/c"}],
        },
    )
    job = run_job(app, client, {"manifest": url})
    assert job["status"] == "failed" and job["message"].startswith("invalid_manifest")
    response = client.get("/iiif/manifest", query_string={"url": url})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_manifest"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "invalid_json"),
        ({"manifest": 3}, 400, "invalid_request"),
        ({"manifest": "a", "collection": "b"}, 400, "invalid_request"),
        ({"manifest": "ftp://127.0.0.1/m.json"}, 400, "bad_url"),
        ({"manifest": "http://127.0.0.2/m.json"}, 403, "host_not_allowed"),
    ],
)
def test_bad_job_requests(client: Any, body: Any, status: int, code: str) -> None:
    if isinstance(body, str):
        response = client.post("/api/jobs", data=body, content_type="application/json")
    else:
        response = client.post("/api/jobs", json=body)
    assert response.status_code == status
    assert response.json["error"]["code"] == code


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/motifs/nope", "unknown_motif"),
        ("/motifs/nope/manifest", "unknown_motif"),
        ("/motifs/nope/prototype.png", "unknown_motif"),
        ("/api/jobs/nope", "unknown_job"),
        ("/iiif/v3/annotations/nope", "unknown_canvas"),
        ("/iiif/v2/annotations/nope", "unknown_canvas"),
        ("/no/such/route", "not_found"),
    ],
)
def test_unknown_things_are_json_404s(client: Any, path: str, code: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["error"]["code"] == code


def test_upstream_404_manifest(client: Any, iiif_site: IIIFSite) -> None:
    response = client.get("/iiif/manifest", query_string={"url": iiif_site.static("none.json")})
    assert response.status_code == 502
    assert response.json["error"]["code"] == "upstream_not_found"
    assert client.get("/iiif/manifest").json["error"]["code"] == "missing_parameter"


def test_write_endpoints_need_the_token(app_config: dict[str, Any], book_v3: str) -> None:
    client = create_app({**app_config, "API_TOKEN": "s3cret"}).test_client()
    refused = client.post("/api/jobs", json={"manifest": book_v3})
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    wrong = client.post(
        "/api/jobs", json={"manifest": book_v3}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    accepted = client.post(
        "/api/jobs", json={"manifest": book_v3}, headers={"Authorization": "Bearer s3cret"}
    )
    assert accepted.status_code == 202
    assert client.delete(f"/api/jobs/{accepted.json['id']}").status_code == 401
    assert client.get(f"/api/jobs/{accepted.json['id']}").status_code == 200


def test_cancelled_job_is_not_run(app: Any, client: Any, book_v3: str) -> None:
    job = client.post("/api/jobs", json={"manifest": book_v3}).json
    assert client.delete(f"/api/jobs/{job['id']}").json["status"] == "cancelled"
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 200  # twice is harmless
    assert app.extensions["florilege"].runner.run_pending() == 0
    assert client.get(f"/api/jobs/{job['id']}").json["status"] == "cancelled"
    assert client.get("/motifs").json["motifs"] == []


def test_a_finished_job_cannot_be_cancelled(app: Any, client: Any, book_v3: str) -> None:
    job = run_job(app, client, {"manifest": book_v3})
    response = client.delete(f"/api/jobs/{job['id']}")
    assert response.status_code == 409 and response.json["error"]["code"] == "job_finished"
    assert client.get(f"/api/jobs/{job['id']}").json["status"] == "done"


def test_jobs_and_results_survive_a_restart(app_config: dict[str, Any], book_v3: str) -> None:
    first = create_app(app_config)
    job = first.test_client().post("/api/jobs", json={"manifest": book_v3}).json
    first.extensions["florilege"].store.close()

    second = create_app(app_config)  # the same database file
    assert second.test_client().get(f"/api/jobs/{job['id']}").json["status"] == "queued"
    second.extensions["florilege"].runner.run_pending()
    second.extensions["florilege"].store.close()

    third = create_app(app_config).test_client()
    assert third.get(f"/api/jobs/{job['id']}").json["status"] == "done"
    assert len(third.get("/motifs").json["motifs"]) >= 1


def test_a_job_abandoned_by_a_dead_worker_is_taken_over(
    app_config: dict[str, Any], book_v3: str
) -> None:
    app = create_app({**app_config, "JOB_STALE_SECONDS": 0.2})
    store = app.extensions["florilege"].store
    job = app.test_client().post("/api/jobs", json={"manifest": book_v3}).json
    assert store.claim_job("dead-worker", 0.2)["id"] == job["id"]
    assert app.extensions["florilege"].runner.run_pending() == 0  # still fresh
    time.sleep(0.3)
    assert app.extensions["florilege"].runner.run_pending() == 1
    assert store.job(job["id"])["status"] == "done"
    assert not store.progress(job["id"], "dead-worker", 1, 1, [])  # the old worker is out


def test_background_worker_runs_posted_jobs(app_config: dict[str, Any], book_v3: str) -> None:
    app = create_app({**app_config, "JOB_WORKERS": 1, "JOB_POLL_SECONDS": 0.05})
    client = app.test_client()
    job = client.post("/api/jobs", json={"manifest": book_v3}).json
    deadline = time.monotonic() + 30
    while client.get(f"/api/jobs/{job['id']}").json["status"] != "done":
        assert time.monotonic() < deadline, client.get(f"/api/jobs/{job['id']}").json
        time.sleep(0.05)
    app.extensions["florilege"].runner.stop()


def test_decompose_an_uploaded_image(client: Any) -> None:
    from tests.conftest import ornament_page

    buffer = io.BytesIO()
    ornament_page().save(buffer, format="PNG")
    response = client.post(
        "/api/decompose", data={"image": (io.BytesIO(buffer.getvalue()), "page.png")}
    )
    assert response.status_code == 200, response.json
    (page,) = response.json["pages"]
    assert (page["width"], page["height"]) == PAGE_SIZE  # the upload's frame, not the analysis'
    xs = sorted(i["bbox"][0] for i in page["instances"])
    assert len(xs) == 8 and abs(xs[0] - 60) <= 3
    bad = client.post("/api/decompose", data=b"not an image")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "not_an_image"
    assert client.post("/api/decompose").json["error"]["code"] == "missing_image"


def test_health_and_cors(client: Any) -> None:
    response = client.get("/healthz")
    assert response.json["status"] == "ok"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.post("/api/jobs", json={}).headers


def test_annotate_from_the_cli_shows_in_the_service(
    app_config: dict[str, Any], book_v3: str
) -> None:
    from service.jobs import annotate

    job = annotate(book_v3, "manifest", app_config)
    assert job["status"] == "done" and job["progress"] == {"done": 2, "total": 2}
    client = create_app(app_config).test_client()  # the service, on the same store
    assert client.get(f"/api/jobs/{job['id']}").json["status"] == "done"
    assert max(m["instances"] for m in client.get("/motifs").json["motifs"]) == 18
    with pytest.raises(ValueError):
        annotate(book_v3, "book", app_config)


def test_a_failed_rerun_keeps_the_stored_results(
    app: Any, client: Any, iiif_site: IIIFSite
) -> None:
    url = iiif_site.publish("flip/manifest.json", manifest_v3(iiif_site, "flip", ["page1"]))
    assert run_job(app, client, {"manifest": url})["status"] == "done"
    store = app.extensions["florilege"].store
    before = store.counts()
    iiif_site.publish("flip/manifest.json", {"broken": True})
    assert run_job(app, client, {"manifest": url})["status"] == "failed"
    assert store.counts() == before
    manifest = client.get("/iiif/manifest", query_string={"url": url})
    assert manifest.status_code == 200  # the stored copy, with its annotations
    page = manifest.json["items"][0]["annotations"][0]["id"]
    assert len(client.get(page.removeprefix("http://florilege.test")).json["items"]) == 8


def test_oversized_upload_is_refused(app_config: dict[str, Any]) -> None:
    client = create_app({**app_config, "MAX_UPLOAD_BYTES": 1000}).test_client()
    response = client.post("/api/decompose", data=b"x" * 5000)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_entity_too_large"


def test_the_decomposition_json_is_kept(app: Any, client: Any, book_v3: str) -> None:
    from service.decomposition import Decomposition

    job = client.post("/api/jobs", json={"manifest": book_v3}).json
    assert client.get(f"/api/jobs/{job['id']}/decomposition").json["error"]["code"] == "no_result"
    app.extensions["florilege"].runner.run_pending()
    doc = client.get(f"/api/jobs/{job['id']}/decomposition").json
    decomposition = Decomposition.from_json(doc)
    assert [p.image.split("/")[-5] for p in decomposition.pages] == ["page1", "page2"]
    assert sum(len(p.instances) for p in decomposition.pages) == 18
    assert (decomposition.pages[0].width, decomposition.pages[0].height) == (400, 533)
    assert doc["corpus"]["url"] == book_v3
