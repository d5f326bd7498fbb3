"""``florilege demo``: the sample books served on loopback, annotated, and shown in Mirador.

The README's main command. It starts the sample IIIF site (``manifests/serve.py``: the IIIF
reference image server on 127.0.0.1:8182 and the manifests on 127.0.0.1:8183), analyses the
sample collection into the store exactly as ``florilege annotate`` would, prints what was found
and, with ``--serve``, runs the service so the viewer can show it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.store.records import MotifRecord
from service.waiting import wait_for_url

SITE = "http://127.0.0.1:8183"
IMAGES = "http://127.0.0.1:8182"
COLLECTION = f"{SITE}/collection.json"
# The sample site is on loopback, which the service refuses unless told otherwise.
OVERRIDES = {"ALLOW_HOSTS": "127.0.0.1"}


def run_demo(manifests: Path, serve: bool = False, port: int = 8000) -> int:
    """Annotate the sample collection; returns a process exit status."""
    from service.config import load_config
    from service.jobs import annotate
    from service.store import Store

    with sample_site(manifests):
        job = annotate(COLLECTION, kind="collection", overrides=OVERRIDES)
        store = Store.from_config(load_config(OVERRIDES))
        try:
            print(summary(job, store.motifs()))
        finally:
            store.close()
        if serve and job.get("status") == "done":
            from service.app import create_app

            viewer = f"http://127.0.0.1:{port}/viewer?manifest={SITE}/sample-v3.json"
            print(f"viewer: {viewer}  (Ctrl-C to stop)")
            create_app(OVERRIDES).run(host="127.0.0.1", port=port, threaded=True)
    return 0 if job.get("status") == "done" else 1


def summary(job: dict[str, Any], motifs: list[MotifRecord]) -> str:
    """A few lines on a finished job: status, progress, motifs found, per-canvas errors."""
    progress = job.get("progress", {})
    lines = [
        f"job {job.get('id')}: {job.get('status')}, "
        f"{progress.get('done', 0)}/{progress.get('total', 0)} canvases, "
        f"{sum(m.instances for m in motifs)} vignette instances in {len(motifs)} motifs "
        "in the store"
    ]
    lines += [f"  {e.get('canvas')}: {e.get('code')} {e.get('message')}" for e in job["errors"]]
    return "\n".join(lines)


@contextmanager
def sample_site(manifests: Path, timeout: float = 60.0) -> Iterator[None]:
    """Run ``manifests/serve.py`` for the duration of the block."""
    script = manifests / "serve.py"
    if not script.is_file():
        raise FileNotFoundError(f"no sample site at {manifests}: run the demo from a checkout")
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for url in (COLLECTION, f"{IMAGES}/"):
            wait_for_url(url, timeout, process)
        yield
    finally:
        process.terminate()
        process.wait(10)
