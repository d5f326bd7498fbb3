"""Collections posted to the job API are harvested: resumable, followed as one job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from service.harvest.driver import harvest, run_pending
from service.waiting import wait_for_url
from tests.conftest import IIIFSite, _free_port
from tests.service.test_harvest import QUIET, ROOT, book, collection, environment, placements


def test_a_posted_collection_is_harvested(app: Any, client: Any, iiif_site: IIIFSite) -> None:
    members = [book(iiif_site, "api-a", ["page1"]), book(iiif_site, "api-b", ["page2"])]
    url = collection(iiif_site, "api/collection.json", members)
    posted = client.post("/api/jobs", json={"collection": url})
    assert posted.status_code == 202
    assert posted.json["status"] == "queued" and posted.json["collection"] == url
    assert posted.headers["Location"].endswith(posted.json["id"])
    assert client.post("/api/jobs", json={"collection": url}).json["id"] == posted.json["id"]

    (summary,) = run_pending(QUIET, app.extensions["florilege"].config)  # the harvest thread
    assert summary["id"] == posted.json["id"]
    job = client.get(f"/api/jobs/{posted.json['id']}").json
    assert job["status"] == "done" and job["errors"] == []
    progress = job["progress"]
    assert progress["done"] == progress["total"] == 2 and progress["pages"] == 2
    # Each book was analysed by a manifest job of its own, listed with the others.
    kinds = {
        tuple(sorted(j.keys() & {"manifest", "collection"}))
        for j in client.get("/api/jobs").json["jobs"]
    }
    assert kinds == {("manifest",)}
    assert len(client.get("/motifs").json["motifs"]) >= 1


def test_a_collection_whose_root_is_unreadable_fails(
    app: Any, client: Any, iiif_site: IIIFSite
) -> None:
    posted = client.post("/api/jobs", json={"collection": iiif_site.static("none.json")}).json
    assert run_pending(QUIET, app.extensions["florilege"].config) == []
    job = client.get(f"/api/jobs/{posted['id']}").json
    assert job["status"] == "failed" and job["message"].startswith("upstream_not_found")


def test_a_cancelled_harvest_is_not_run(app: Any, client: Any, iiif_site: IIIFSite) -> None:
    url = collection(iiif_site, "x/collection.json", [book(iiif_site, "x-a", ["page1"])])
    posted = client.post("/api/jobs", json={"collection": url}).json
    assert client.delete(f"/api/jobs/{posted['id']}").json["status"] == "cancelled"
    assert run_pending(QUIET, app.extensions["florilege"].config) == []
    assert client.get(f"/api/jobs/{posted['id']}").json["status"] == "cancelled"
    assert client.get("/motifs").json["motifs"] == []


@contextmanager
def service(config: dict[str, Any]) -> Iterator[str]:
    """The service under gunicorn, one worker with its job and harvest threads; SIGKILLed (the
    whole process group, as a crash would) when the block ends."""
    port = _free_port()
    env = {
        **environment(config),
        "FLORILEGE_JOB_POLL_SECONDS": "0.1",
        "FLORILEGE_BIND": f"127.0.0.1:{port}",
        "FLORILEGE_WORKERS": "1",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "service/gunicorn.conf.py"]
    server = subprocess.Popen(
        [*command, "service.app:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_url(f"{base}/healthz", 60, server)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


def wait_for(base: str, job_id: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while not until(job := requests.get(f"{base}/api/jobs/{job_id}", timeout=5).json()):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def test_a_harvest_resumes_after_the_service_is_killed(
    app_config: dict[str, Any], iiif_site: IIIFSite, tmp_path: Path
) -> None:
    members = [
        book(iiif_site, f"r{i}", ["page1", "page2"][: 1 + i % 2], delay=0.3) for i in range(6)
    ]
    url = collection(iiif_site, "r/collection.json", members)
    reference = {**app_config, "DB": f"sqlite:///{tmp_path / 'reference.sqlite3'}"}
    assert harvest(url, QUIET, reference)["progress"]["by_status"] == {"done": 6}

    with service(app_config) as base:
        job_id = requests.post(f"{base}/api/jobs", json={"collection": url}, timeout=5).json()["id"]
        killed = wait_for(base, job_id, lambda job: job["progress"]["done"] >= 2)
    assert killed["status"] == "running" and killed["progress"]["done"] < 6, killed

    with service(app_config) as base:  # the same store: the harvest is taken over and finished
        job = wait_for(base, job_id, lambda job: job["status"] not in ("queued", "running"))
    assert job["status"] == "done" and job["progress"]["by_status"] == {"done": 6}, job
    assert placements(app_config) == placements(reference)
