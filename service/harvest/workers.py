"""Where a harvest's manifest jobs run: threads of this process, or worker processes.

The decomposition is mostly Python and holds the GIL, so threads overlap fetching with it but
keep it on one core; worker processes (spawned, so that no lock held by a thread of the parent
is inherited) put it on every core. Each process has its own store connection, fetcher and
``JobRunner``. A worker orphaned by a killed parent may finish its job, but the rerun will have
cancelled that job, so its results are refused (``Store.finish_job`` needs a running job).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from service.config import load_config
from service.harvest.polite import PoliteFetcher, with_contact
from service.harvest.state import new_worker
from service.iiif.fetch import FetchPolicy
from service.jobs import JobRunner
from service.store import Store

_runner: JobRunner | None = None
_worker = ""


def make_runner(
    overrides: Mapping[str, Any] | None, delay: float, contact: str | None
) -> tuple[JobRunner, Store]:
    config = load_config(overrides)
    store = Store.from_config(config)
    fetcher = PoliteFetcher(with_contact(FetchPolicy.from_config(config), contact), delay=delay)
    return JobRunner(store, fetcher, config), store


def _start(overrides: dict[str, Any], delay: float, contact: str | None) -> None:
    global _runner, _worker
    _runner, _ = make_runner(overrides, delay, contact)
    _worker = new_worker()


def _run(job_id: str) -> None:
    if _runner is None:
        raise RuntimeError("harvest worker process used before its initialiser ran")
    _runner.run_once(f"{_worker}:0", job_id)


class JobPool:
    """Runs a queued job to its end, here (``processes`` 0) or in one of ``processes``
    worker processes."""

    def __init__(
        self,
        runner: JobRunner,
        worker: str,
        processes: int,
        overrides: Mapping[str, Any] | None,
        delay: float,
        contact: str | None,
    ) -> None:
        self.runner, self.worker = runner, worker
        self._pool = (
            ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(dict(overrides or {}), delay, contact),
            )
            if processes
            else None
        )

    def run(self, job_id: str) -> None:
        if self._pool is None:
            self.runner.run_once(f"{self.worker}:{threading.get_ident()}", job_id)
        else:
            self._pool.submit(_run, job_id).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
