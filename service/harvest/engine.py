"""The scale-out engine: a harvest's manifest jobs run by Celery workers, fed through Redis.

The default engine is embedded: the jobs run in threads or processes of the harvesting process,
with nothing else to start. With ``FLORILEGE_CELERY_BROKER=redis://HOST:6379/0`` (or
``harvest --broker``) the driver sends each manifest job to the ``florilege`` queue instead and
waits for its end. ``florilege worker --gpu N`` runs the jobs one at a time on GPU N (it sets
``CUDA_VISIBLE_DEVICES`` before onnxruntime opens its session): one worker per GPU, so a
machine with four GPUs runs four workers, and each takes a job only when it has finished the
last (no prefetching), which keeps every GPU busy. Driver and workers share the store
(PostgreSQL across machines, or one SQLite file on one machine): a job is the same row whoever
runs it, so progress, cancelling and resuming after a kill work as with the embedded engine.
"""

from __future__ import annotations

import functools
import os
import threading

from celery import Celery

from service.harvest.workers import make_runner
from service.jobs import JobRunner

QUEUE = "florilege"
TASK = "florilege.run_job"


def celery_app(broker: str) -> Celery:
    """The Celery application of driver and workers alike. It has no result backend: the
    driver follows each job in the store (Celery's Redis result backend is not safe to wait on
    from several threads, and the driver has one per job in flight)."""
    app = Celery("florilege", broker=broker)
    app.conf.update(
        task_default_queue=QUEUE,
        # Acknowledged once run, so that a job a worker received but never claimed is not lost.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.task(name=TASK)(run_job)
    return app


def run_job(job_id: str, delay: float, contact: str | None) -> None:
    """In a worker: run the job to its end, unless it has ended or another worker holds it.
    (If that worker dies, the driver sees the job go stale and sends it again.)"""
    runner = _runner(delay, contact)
    runner.run_once(f"{runner.worker}:celery", job_id)


@functools.lru_cache(maxsize=8)
def _runner(delay: float, contact: str | None) -> JobRunner:
    # One per worker process and politeness setting: its store, fetcher and model session are
    # kept from job to job. Configured from the worker's own FLORILEGE_* environment.
    runner, _ = make_runner(None, delay, contact)
    return runner


class CeleryDispatch:
    """The driver's side: hands jobs to the workers. ``JobPool`` then follows each in the
    store, and sends it again if its worker dies (its heartbeat goes stale)."""

    def __init__(self, broker: str) -> None:
        self.app = celery_app(broker)
        self._publish = threading.Lock()  # the driver's threads publish one at a time

    def send(self, job_id: str, delay: float, contact: str | None) -> None:
        with self._publish:
            self.app.send_task(TASK, args=[job_id, delay, contact], queue=QUEUE)


def worker_main(broker: str, gpu: int | None, concurrency: int) -> None:
    """Run a worker until it is stopped: on GPU ``gpu`` when given, ``concurrency`` jobs at
    once (1, in this process, for a GPU; more, in child processes, for CPU-only machines)."""
    if gpu is not None:
        # Read by CUDA when onnxruntime opens its session: this worker sees its GPU only.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    name = "florilege" if gpu is None else f"florilege-gpu{gpu}"
    celery_app(broker).worker_main(
        [
            "worker",
            f"--queues={QUEUE}",
            f"--hostname={name}@%h",
            f"--concurrency={concurrency}",
            f"--pool={'solo' if concurrency == 1 else 'prefork'}",
            "--loglevel=INFO",
        ]
    )
