"""Where a harvest's manifest jobs run: threads of this process, worker processes, or the
Celery workers of the scale-out engine (``service/harvest/engine.py``).

The decomposition is mostly Python and holds the GIL, so threads overlap fetching with it but
keep it on one core; worker processes (spawned, so that no lock held by a thread of the parent
is inherited) put it on every core. Each process has its own store connection, fetcher and
``JobRunner``. A worker orphaned by a killed parent may finish its job, but the rerun will have
cancelled that job, so its results are refused (``Store.finish_job`` needs a running job).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from service.config import load_config
from service.harvest.polite import PoliteFetcher, with_contact
from service.harvest.state import new_worker
from service.iiif.fetch import FetchPolicy
from service.jobs import JobRunner
from service.store import Store

if TYPE_CHECKING:
    from service.harvest.engine import CeleryDispatch

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
    """Runs a queued job to its end: on the Celery workers when the configuration names a
    broker, else here (``processes`` 0) or in one of ``processes`` worker processes."""

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
        self.delay, self.contact = delay, contact
        self._remote = _dispatch(runner.config["CELERY_BROKER"])
        self._pool = (
            ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(dict(overrides or {}), delay, contact),
            )
            if processes and self._remote is None
            else None
        )

    def run(self, job_id: str) -> None:
        if self._remote is not None:
            # Sent again when its worker died: queued first, so that it looks pending again.
            self.runner.store.requeue_stale(job_id, self.runner.config["JOB_STALE_SECONDS"])
            self._remote.send(job_id, self.delay, self.contact)
            self._wait(job_id)
        elif self._pool is None:
            self.runner.run_once(f"{self.worker}:{threading.get_ident()}", job_id)
        else:
            self._pool.submit(_run, job_id).result()

    def _wait(self, job_id: str) -> None:
        """Until a worker has ended the job, or has died holding it (its heartbeat is stale:
        the driver then sends the job again, and another worker takes it over)."""
        config = self.runner.config
        while self.runner.store.job_pending(job_id, config["JOB_STALE_SECONDS"]):
            time.sleep(config["JOB_POLL_SECONDS"])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _dispatch(broker: str | None) -> CeleryDispatch | None:
    if broker is None:
        return None
    try:  # an optional extra: imported only when a broker is configured
        from service.harvest.engine import CeleryDispatch
    except ImportError as err:
        raise RuntimeError(
            f"a Celery broker is configured but Celery is missing ({err}): "
            "pip install 'florilege[scale]'"
        ) from err
    return CeleryDispatch(broker)
