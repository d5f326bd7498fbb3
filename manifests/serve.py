"""Serve the sample manifests and their images on loopback, for demos and load runs.

    python3 manifests/serve.py

Images: the IIIF Image API reference server (``iiif_testserver.py`` from the ``iiif`` package)
on 127.0.0.1:8182, API 2.1 and 3.0. Manifests: this folder over plain HTTP on 127.0.0.1:8183,
with CORS so that a browser viewer may load them. Then, with the service running and
``FLORILEGE_ALLOW_HOSTS=127.0.0.1``:

    curl -X POST localhost:8000/api/jobs -H 'Content-Type: application/json' \\
         -d '{"collection": "http://127.0.0.1:8183/collection.json"}'
    open 'http://localhost:8000/viewer?manifest=http://127.0.0.1:8183/sample-v3.json'
"""

from __future__ import annotations

import http.server
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent


class CORSHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()


def image_server(workdir: str) -> subprocess.Popen[bytes]:
    script = shutil.which("iiif_testserver.py") or str(
        Path(sysconfig.get_path("scripts")) / "iiif_testserver.py"
    )
    return subprocess.Popen(
        [
            sys.executable,
            script,
            "--host",
            "127.0.0.1",
            "--port",
            "8182",
            "--image-dir",
            str(HERE / "images"),
            "--api-versions",
            "2.1,3.0",
            "--quiet",
        ],
        cwd=workdir,  # it writes a pid file into its working directory
    )


def main() -> None:
    # Stop cleanly (and stop the image server) on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with tempfile.TemporaryDirectory() as workdir:
        images = image_server(workdir)
        handler = partial(CORSHandler, directory=str(HERE))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 8183), handler)
        print("images on http://127.0.0.1:8182, manifests on http://127.0.0.1:8183")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            images.terminate()
            images.wait(10)


if __name__ == "__main__":
    main()
