"""Harvest a whole source: walk it to manifests, then analyse each as its own manifest job.

The state lives in the store (``service/harvest/state.py``): a rerun after a crash, even a
SIGKILL, takes over the unfinished harvest of the same source, walks it again (adding nothing
twice), skips what is finished and runs again only what was not. Each manifest job saves its
results in one transaction that replaces earlier results for its canvases, so an item run twice
leaves one set of annotations. Several jobs are in flight at once, so that one manifest's
pages are fetched while another's are decomposed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from service.config import load_config
from service.harvest.changes import read_changes
from service.harvest.state import (
    ACTIVE,
    HarvestBusy,
    HarvestState,
    Item,
    new_worker,
    worker_is_dead,
)
from service.harvest.walk import WalkError, read_list, walk_collection
from service.harvest.workers import JobPool, make_runner
from service.heartbeat import Heartbeat
from service.iiif.fetch import Fetcher, FetchError
from service.iiif.manifest import InvalidManifest
from service.jobs import JobRunner
from service.results import corpus_key
from service.store import Store

log = logging.getLogger(__name__)
MODES = ("auto", "collection", "list", "changes")
BATCH = 200  # items written to the state per transaction while walking


@dataclass(frozen=True)
class HarvestOptions:
    mode: str = "auto"
    concurrency: int = 2  # manifest jobs in flight
    processes: int = 0  # worker processes for the jobs (0: threads of this process)
    delay: float = 0.0  # seconds between two requests to one host
    contact: str | None = None  # put in the user agent
    force: bool = False  # analyse again manifests the store already has
    progress: bool = True  # a progress bar on stderr


def detect_mode(fetcher: Fetcher, source: str) -> str:
    """``changes`` for an activity stream, ``collection`` for a IIIF collection, else
    ``list`` (a local file, a JSON array or a text list of URLs)."""
    if "://" not in source and Path(source).is_file():
        return "list"
    response = fetcher.get(source, accept="application/ld+json, application/json, text/plain")
    text = response.content.decode("utf-8", "replace").lstrip()
    if text.startswith("{"):
        if '"OrderedCollection"' in text[:4000]:
            return "changes"
        return "collection"
    return "list"


def harvest(
    source: str, options: HarvestOptions, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Run (or resume) the harvest of ``source`` to the end; return its summary."""
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {options.mode!r}")
    runner, store = make_runner(overrides, options.delay, options.contact)
    try:
        if "://" in source:
            runner.fetcher.check_url(source)
        fetcher = runner.fetcher
        mode = detect_mode(fetcher, source) if options.mode == "auto" else options.mode
        worker = new_worker()
        pool = JobPool(runner, worker, options.processes, overrides, options.delay, options.contact)
        try:
            return _Harvest(store, runner, pool, worker, options, source, mode).run()
        finally:
            pool.close()
    finally:
        store.close()


def submit(store: Store, fetcher: Fetcher, source: str, mode: str = "auto") -> str:
    """Queue a harvest for ``run_pending`` (the job API's entry); return its id."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    fetcher.check_url(source)
    resolved = detect_mode(fetcher, source) if mode == "auto" else mode
    return HarvestState(store.engine).submit(source, resolved)


def run_pending(
    options: HarvestOptions, overrides: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run every unfinished harvest that no live process drives: those submitted through the
    API, and those a crash left behind. Return their summaries."""
    config = load_config(overrides)
    store = Store.from_config(config)
    try:
        state = HarvestState(store.engine)
        stale = config["JOB_STALE_SECONDS"]
        waiting = [
            row
            for row in state.unfinished()
            if (row["heartbeat"] or 0) < time.time() - stale or worker_is_dead(row["worker"])
        ]
    finally:
        store.close()
    summaries = []
    for row in waiting:
        try:
            summaries.append(harvest(row["url"], replace(options, mode=row["mode"]), overrides))
        except HarvestBusy:
            log.info("harvest %s was taken by another process", row["id"])
        except (FetchError, InvalidManifest) as err:
            log.warning("harvest %s failed: %s", row["id"], err)
    return summaries


class _Harvest:
    def __init__(
        self,
        store: Store,
        runner: JobRunner,
        pool: JobPool,
        worker: str,
        options: HarvestOptions,
        source: str,
        mode: str,
    ) -> None:
        self.store, self.fetcher, self.config = store, runner.fetcher, runner.config
        self.pool, self.worker = pool, worker
        self.options, self.source, self.mode = options, source, mode
        self.state = HarvestState(store.engine)
        self.id = ""
        self.lost = threading.Event()  # set when another process took the harvest over

    def run(self) -> dict[str, Any]:
        stale = self.config["JOB_STALE_SECONDS"]
        self.id, resumed = self.state.open(self.source, self.mode, self.worker, stale)
        with Heartbeat(partial(self.state.beat, self.id, self.worker), stale / 4, self.lost):
            row = self.state.harvest(self.id) or {}
            if row.get("status") == "walking":
                self.state.set_status(self.id, "running", until=self._walk_or_fail())
            if resumed:
                self._cancel_orphans(row["created"])
            self._run_items()
            row = self.state.harvest(self.id) or {}
            if self.lost.is_set() and row.get("status") != "cancelled":
                raise RuntimeError(f"harvest {self.id} was taken over by another process")
            if self.mode == "changes" and row.get("until") and row["status"] == "running":
                self.state.save_checkpoint(self.source, row["until"])
            self.state.set_status(self.id, "done")
        return {**harvest_json(self.state, self.id), "resumed": resumed}

    def _walk_or_fail(self) -> str | None:
        """Walk the source; when the source itself cannot be read, the harvest has failed (and
        is not retried: posting or running it again starts a new one)."""
        try:
            return self._walk()
        except (FetchError, InvalidManifest) as err:
            self.state.set_status(self.id, "failed", message=f"{err.code}: {err}")
            raise

    # ---- walking ------------------------------------------------------------------------
    def _walk(self) -> str | None:
        """Add every item of the source to the state; return the Change Discovery checkpoint
        this harvest will set when it ends (None for other modes)."""
        if self.mode == "list":
            self._add(Item(url) for url in read_list(self.fetcher, self.source))
            return None
        if self.mode == "collection":
            self._add(Item(url) for url in walk_collection(self.fetcher, self.source, self._error))
            return None
        changes = read_changes(self.fetcher, self.source, self.state.checkpoint(self.source))
        for change in changes.changes:
            if change.action == "delete":
                # Forgetting twice is harmless: a run killed here reads the same changes again.
                self.store.forget_manifest(change.url, corpus_key(change.url))
                message = "deleted upstream; its stored results were removed"
                self._add([Item(change.url, "delete", "forget", message)], force=True)
            elif change.kind == "Collection":
                found = walk_collection(self.fetcher, change.url, self._error)
                self._add((Item(url) for url in found), force=True)
            else:
                self._add([Item(change.url)], force=True)
        return changes.newest

    def _add(self, items: Iterable[Item], force: bool = False) -> None:
        for batch in _batches(items, BATCH):
            if not (force or self.options.force):
                batch = [self._skip_if_known(item) for item in batch]
            self.state.add_items(self.id, batch)

    def _skip_if_known(self, item: Item) -> Item:
        if self.store.manifest(item.url) is None:
            return item
        return Item(item.url, item.action, "skipped", "already in the store (use --force)")

    def _error(self, error: WalkError) -> None:
        message = f"{error.code}: {error.message}"
        self.state.add_items(self.id, [Item(error.url, "walk", "failed", message)])

    # ---- running ------------------------------------------------------------------------
    def _run_items(self) -> None:
        pending = self.state.items(self.id, ["pending"])
        summary = self.state.summary(self.id)
        bar = tqdm(
            total=summary["total"],
            initial=summary["done"],
            unit="manifest",
            desc="harvest",
            disable=not self.options.progress,
            dynamic_ncols=True,
        )
        started, pages = time.monotonic(), 0
        with bar, ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            for future in as_completed([pool.submit(self._run_item, item) for item in pending]):
                pages += future.result()
                rate = pages / max(time.monotonic() - started, 1e-9)
                bar.set_postfix(pages=pages, pages_s=f"{rate:.2f}", refresh=False)
                bar.update(1)

    def _cancel_orphans(self, since: float) -> None:
        """Cancel the jobs an earlier driver created but was killed before recording (between
        ``create_job`` and ``update_item``), so that no service worker runs them later."""
        pending = {i["url"] for i in self.state.items(self.id, ["pending"])}
        recorded = {i["job"] for i in self.state.items(self.id) if i["job"]}
        for job in self.store.list_jobs(limit=len(pending) + 1000):
            if (
                job["created"] >= since
                and job.get("manifest") in pending
                and job["id"] not in recorded
                and job["status"] in ("queued", "running")
            ):
                self.store.cancel_job(job["id"])

    def _run_item(self, item: dict[str, Any]) -> int:
        """Run one manifest job (unless an earlier run finished it); return its page count."""
        # A beat per item, so that a cancelled harvest starts no new job.
        if self.lost.is_set() or not self.state.beat(self.id, self.worker):
            self.lost.set()
            return 0
        url, job = item["url"], self.store.job(item["job"]) if item["job"] else None
        if job is None or job["status"] not in ("done", "failed"):
            if job is not None:
                # Left queued or running by a dead process: cancelled, so that it can never
                # save results after ours.
                self.store.cancel_job(job["id"])
            # The books of one source share a motif catalogue, grown as each book ends.
            job = self.store.create_job("manifest", url, (corpus_key(self.source), self.source))
            self.state.update_item(self.id, url, job=job["id"])
            job = self._run_job(job["id"])
        return self._record(url, job)

    def _run_job(self, job_id: str) -> dict[str, Any]:
        """Run the job to its end and return it. In the service a job thread may claim it
        before we do: then we wait, and take it over if that thread's process dies."""
        while True:
            self.pool.run(job_id)
            job = self.store.job(job_id) or {}
            if job["status"] in ("done", "failed", "cancelled") or self.lost.is_set():
                return job
            time.sleep(self.config["JOB_POLL_SECONDS"])

    def _record(self, url: str, job: dict[str, Any]) -> int:
        pages = int(job["progress"]["total"])
        if job["status"] == "done":
            errors = job["errors"]
            message = f"{len(errors)} page errors: {errors[0]['code']}" if errors else None
            self.state.update_item(self.id, url, status="done", pages=pages, message=message)
            return pages
        if job["status"] == "failed":
            self.state.update_item(self.id, url, status="failed", message=job["message"])
        return 0


def harvest_json(state: HarvestState, harvest_id: str) -> dict[str, Any]:
    """A harvest's status, progress and errors in the shape of a job: the source under its
    mode's name (``"collection": url``), as a job names its URL under its kind."""
    row = state.harvest(harvest_id)
    if row is None:
        raise KeyError(harvest_id)
    failed = state.items(harvest_id, ["failed"])
    return {
        "id": harvest_id,
        row["mode"]: row["url"],
        "mode": row["mode"],
        "status": _job_status(row),
        "progress": state.summary(harvest_id),
        "errors": [{"url": i["url"], "message": i["message"]} for i in failed[:100]],
        "message": row["message"],
        "created": row["created"],
        "updated": row["updated"],
    }


def _job_status(row: Mapping[str, Any]) -> str:
    """A job's status for a harvest: queued until a process takes it, running while walked or
    run, then as it ended."""
    if row["status"] in ACTIVE:
        return "running" if row["worker"] else "queued"
    return str(row["status"])


def cancel(store: Store, harvest_id: str) -> None:
    """Cancel a harvest and the manifest jobs it has in flight (the job API's DELETE)."""
    for job_id in HarvestState(store.engine).cancel(harvest_id):
        store.cancel_job(job_id)


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
