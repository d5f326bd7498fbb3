"""The service as deployed: gunicorn with service/gunicorn.conf.py and the app factory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="needs gunicorn")
def test_gunicorn_workers_share_one_store(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "FLORILEGE_DATA": str(tmp_path),
        "FLORILEGE_BIND": f"127.0.0.1:{port}",
        "FLORILEGE_WORKERS": "2",
        "FLORILEGE_ALLOW_HOSTS": "127.0.0.1",
        "FLORILEGE_API_TOKEN": "t",
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "service/gunicorn.conf.py",
            "service.app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.2)
        # Two workers created the tables at once on a fresh database; all of them serve.
        session = requests.Session()
        created = session.post(
            f"{base}/api/jobs",
            json={"manifest": "http://127.0.0.2/m.json"},
            headers={"Authorization": "Bearer t"},
            timeout=5,
        )
        assert created.status_code == 403  # loopback outside the allow list, refused up front
        for _ in range(30):
            assert session.get(f"{base}/motifs", timeout=5).json() == {"motifs": []}
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(20)
        server.stderr.close()
