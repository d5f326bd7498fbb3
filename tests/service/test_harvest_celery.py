"""The scale-out engine for real: a redis-server and a Celery worker started on 127.0.0.1, a
harvest sent through them, compared with the same harvest on the embedded engine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service.harvest.driver import harvest
from tests.conftest import IIIFSite, _free_port
from tests.service.test_harvest import (
    QUIET,
    ROOT,
    book,
    collection,
    environment,
    opened,
    placements,
)

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="needs Debian's redis-server package")


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    redis = pytest.importorskip("redis")
    port = _free_port()
    command = [str(REDIS), "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "no redis-server"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        server.terminate()
        server.wait(10)


@contextmanager
def celery_workers(
    config: dict[str, Any], broker: str, gpus: list[int], logs: Path
) -> Iterator[Any]:
    """``florilege worker --gpu N`` for each of ``gpus``, on the store of ``config``, until the
    block ends; yields the ping replies that name them. (Without CUDA here, the GPU number only
    names the worker and sets CUDA_VISIBLE_DEVICES, which the CPU provider ignores.)"""
    from service.harvest.engine import celery_app

    env = {
        **environment(config),
        "FLORILEGE_CELERY_BROKER": broker,
        "FLORILEGE_JOB_STALE_SECONDS": str(config.get("JOB_STALE_SECONDS", 120)),
    }
    workers = []
    for gpu in gpus:
        with (logs / f"worker{gpu}.log").open("wb") as output:
            command = [sys.executable, "-m", "service.cli", "worker", "--gpu", str(gpu)]
            workers.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
                )
            )
    app = celery_app(broker)
    try:
        deadline = time.monotonic() + 60
        while len(replies := app.control.ping(timeout=0.5)) < len(gpus):
            assert all(w.poll() is None for w in workers), [
                (logs / f"worker{gpu}.log").read_text() for gpu in gpus
            ]
            assert time.monotonic() < deadline, replies
        yield replies
    finally:
        for worker in workers:
            worker.terminate()  # a warm shutdown
        for worker in workers:
            worker.wait(30)
        app.close()


def test_a_harvest_through_celery_equals_the_embedded_one(
    app_config: dict[str, Any], iiif_site: IIIFSite, broker: str, tmp_path: Path
) -> None:
    members = [book(iiif_site, "cel-a", ["page1"]), book(iiif_site, "cel-b", ["page2", "page1"])]
    url = collection(iiif_site, "cel/collection.json", members)
    embedded = {**app_config, "DB": f"sqlite:///{tmp_path / 'embedded.sqlite3'}"}
    assert harvest(url, QUIET, embedded)["progress"]["by_status"] == {"done": 2}

    with celery_workers(app_config, broker, [0, 1], tmp_path) as replies:
        names = sorted(name.split("@")[0] for reply in replies for name in reply)
        assert names == ["florilege-gpu0", "florilege-gpu1"]  # one worker per GPU
        options = {**app_config, "CELERY_BROKER": broker, "JOB_POLL_SECONDS": 0.1}
        summary = harvest(url, QUIET, options)
    assert summary["progress"]["by_status"] == {"done": 2}, summary
    assert placements(app_config) == placements(embedded)
    # Each job was run by a worker, not by the harvesting process.
    with opened(app_config) as (store, _), store.engine.connect() as conn:
        workers = conn.execute(sa.text("SELECT worker FROM jobs")).scalars().all()
    assert len(workers) == 2 and all(w.endswith(":celery") for w in workers), workers


def test_a_job_whose_worker_dies_is_run_by_another(
    app_config: dict[str, Any], iiif_site: IIIFSite, broker: str, tmp_path: Path
) -> None:
    url = collection(iiif_site, "celk/collection.json", [book(iiif_site, "celk-a", ["page1"], 2)])
    config = {**app_config, "JOB_STALE_SECONDS": 1.0}  # a dead worker's job is stale at once
    options = {**config, "CELERY_BROKER": broker, "JOB_POLL_SECONDS": 0.1}
    summaries: list[dict[str, Any]] = []
    with celery_workers(config, broker, [0, 1], tmp_path):
        driver = threading.Thread(target=lambda: summaries.append(harvest(url, QUIET, options)))
        driver.start()
        holder = None
        deadline = time.monotonic() + 60
        while holder is None:  # the worker that took the job, reading its slow manifest
            assert time.monotonic() < deadline, "no worker took the job"
            holder = job_workers(config).get("running")
            time.sleep(0.05)
        os.kill(int(holder.split(":")[1]), signal.SIGKILL)
        driver.join(120)
    (summary,) = summaries
    assert summary["progress"]["by_status"] == {"done": 1}, summary
    finisher = job_workers(config)["done"]
    assert finisher.endswith(":celery") and finisher != holder


def job_workers(config: dict[str, Any]) -> dict[str, str]:
    """Job status → the worker that holds or ran a job in that status."""
    with opened(config) as (store, _), store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, worker FROM jobs WHERE worker IS NOT NULL"))
        return {status: worker for status, worker in rows}
