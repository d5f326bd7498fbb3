"""A heartbeat thread for long steps, so that a live worker never looks dead to the others."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Heartbeat:
    """Calls ``beat`` every ``every`` seconds while the ``with`` block runs.

    ``beat`` returns False when the work was taken over by another worker: the heartbeat then
    sets ``lost`` (when given) and stops beating.
    """

    def __init__(
        self, beat: Callable[[], bool], every: float, lost: threading.Event | None = None
    ) -> None:
        self.beat, self.every, self.lost = beat, every, lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if not self.beat():
                if self.lost is not None:
                    self.lost.set()
                return
