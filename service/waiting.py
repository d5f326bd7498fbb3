"""Waiting for a local server that was just started to answer."""

from __future__ import annotations

import subprocess
import time
import urllib.request


def wait_for_url(
    url: str, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once ``url`` answers; raise RuntimeError after ``timeout`` seconds, or as soon as
    ``process`` (the server, when we started it) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} stopped (exit {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (local servers only)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)
