"""The service's harvest thread: runs the collections posted to the job API.

Each pass runs every harvest that no live process drives (``driver.run_pending``): the ones
just posted, and the ones a stopped or killed service left unfinished, which therefore resume
after a restart. Several gunicorn workers may each run this thread; a harvest is taken by one
of them only (``HarvestState.open``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from service.harvest.driver import HarvestOptions, run_pending

log = logging.getLogger(__name__)
OPTIONS = HarvestOptions(progress=False)


class HarvestLoop:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="florilege-harvest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to stop; a harvest in progress goes on to its end (a daemon thread, so
        the process may exit meanwhile: the next start resumes it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_pending(OPTIONS, self.config)
            except Exception:  # e.g. the database is briefly unavailable: retry later
                log.exception("harvest loop")
            self._stop.wait(self.config["JOB_POLL_SECONDS"])
