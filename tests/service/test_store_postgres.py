"""The store on a real PostgreSQL server, started on 127.0.0.1 for this module.

Skipped where PostgreSQL (Debian's ``postgresql`` package) or the ``psycopg`` driver is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from tests.conftest import IIIFSite, _free_port, manifest_v3

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(not BINARIES, reason="needs Debian's postgresql package")


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, developers usually do not.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as the
    # postgres user.
    root = Path(tempfile.mkdtemp(prefix="florilege-pg-"))
    data, port = root / "data", _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    bin_dir = Path(BINARIES[-1])
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "florilege", "--auth=trust"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    control = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w"]
    subprocess.run(
        _as_postgres([*control, "-o", options, "start"]), check=True, capture_output=True
    )
    try:
        yield f"postgresql+psycopg://florilege@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([*control, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_jobs_and_results_on_postgres(
    postgres_url: str, app_config: dict[str, Any], iiif_site: IIIFSite
) -> None:
    url = iiif_site.publish("pg/manifest.json", manifest_v3(iiif_site, "pg", ["page1", "page2"]))
    config = {**app_config, "DB": postgres_url}
    app = create_app(config)
    client = app.test_client()
    store = app.extensions["florilege"].store
    assert store.engine.dialect.name == "postgresql"
    for _ in range(2):  # the second run replaces the first
        job = client.post("/api/jobs", json={"manifest": url}).json
        assert app.extensions["florilege"].runner.run_pending() == 1
        assert client.get(f"/api/jobs/{job['id']}").json["status"] == "done"
        assert store.counts()["instances"] == 18
    store.close()

    restarted = create_app(config)  # a restart finds everything
    again = restarted.test_client()
    motifs = again.get("/motifs").json["motifs"]
    assert max(m["instances"] for m in motifs) == 18
    png = again.get(f"/motifs/{motifs[0]['id']}/prototype.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    restarted.extensions["florilege"].store.close()


def test_a_collection_catalogue_on_postgres(
    postgres_url: str, app_config: dict[str, Any], iiif_site: IIIFSite
) -> None:
    from service.harvest.driver import harvest
    from service.results import corpus_key
    from service.store import Store
    from tests.service.test_harvest import QUIET, book, collection

    members = [book(iiif_site, "pgc-a", ["page1"]), book(iiif_site, "pgc-b", ["page2"])]
    url = collection(iiif_site, "pgc/collection.json", members)
    # Both books start at once: both attach to the new catalogue, then match one at a time.
    summary = harvest(url, QUIET, {**app_config, "DB": postgres_url})
    assert summary["progress"]["by_status"] == {"done": 2}
    store = Store(postgres_url)
    try:
        (fleuron,) = [m for m in store.motifs() if m.corpus == corpus_key(url)]
        assert fleuron.instances == 18
    finally:
        store.close()
